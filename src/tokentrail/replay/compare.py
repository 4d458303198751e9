"""The replay's comparison: the archived calls (baseline) against the replayed ones (candidate).

Both variants' metrics are read from the collector, so cost, latency and TTFT are computed by the same
pipeline. The baseline rows are the original calls, read by id, never copied (a copy would count their spend
twice in reports and chargeback). Intervals come from the experiments statistics (tokentrail.experiments).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from tokentrail.experiments import stats
from tokentrail.replay.collector import Collector

METRICS = ("cost_usd", "duration_ms", "ttft_ms", "output_tokens")
FIELDS = ("trace_id", "span_id", "status", *METRICS)
BATCH = 200  # span ids per query
Rows = list[dict[str, Any]]


def fetch(collector: Collector, condition: str) -> Rows:
    return collector.query(f"filter {condition} | fields {', '.join(FIELDS)} | limit 10000")


def baseline_calls(collector: Collector, ids: list[tuple[str, str]]) -> Rows:
    wanted, out = set(ids), []
    for at in range(0, len(ids), BATCH):
        spans = ", ".join(f'"{span}"' for _, span in ids[at : at + BATCH])
        found = fetch(collector, f"span_id in [{spans}]")
        out += [r for r in found if (r["trace_id"], r["span_id"]) in wanted]
    return out


def candidate_calls(collector: Collector, experiment: str) -> Rows:
    return fetch(collector, f'experiment = "{experiment}" and variant = "candidate"')


def _values(rows: Rows, metric: str) -> Any:
    return np.array([float(r[metric]) for r in rows if r[metric] is not None], dtype=np.float64)


def _interval(i: stats.Interval) -> dict[str, float | None]:
    return {"mean": i.estimate, "low": i.low, "high": i.high}


def _diff(d: stats.Difference) -> dict[str, float | None]:
    return {"relative": d.diff_rel, "low": d.low, "high": d.high, "p_value": d.p_value}


def metric(base: Rows, cand: Rows, name: str) -> dict[str, Any]:
    a, b = _values(base, name), _values(cand, name)
    ones_a, ones_b = np.ones_like(a), np.ones_like(b)
    return {
        "baseline": _interval(stats.mean_interval(a, ones_a)),
        "candidate": _interval(stats.mean_interval(b, ones_b)),
        "difference": _diff(stats.mean_difference((a, ones_a), (b, ones_b), sequential=False)),
    }


def error_rate(base: Rows, cand: Rows) -> dict[str, Any]:
    a, b = (stats.Sample.of(np.array([float(r["status"] == "error") for r in rows])) for rows in (base, cand))
    return {
        "baseline": _interval(stats.wilson(a)),
        "candidate": _interval(stats.wilson(b)),
        "difference": _diff(stats.proportion_difference(a, b, sequential=False)),
    }


def compare(base: Rows, cand: Rows, similarities: Iterable[float | None]) -> dict[str, Any]:
    sims = np.array([s for s in similarities if s is not None], dtype=np.float64)
    result: dict[str, Any] = {"calls": {"baseline": len(base), "candidate": len(cand)}}
    result["metrics"] = {name: metric(base, cand, name) for name in METRICS}
    result["metrics"]["error_rate"] = error_rate(base, cand)
    similarity = stats.mean_interval(sims, np.ones_like(sims))
    result["output_similarity"] = _interval(similarity) | {"pairs": len(sims)}
    finite: dict[str, Any] = _finite(result)
    return finite


def _finite(value: Any) -> Any:
    """NaN and infinities become None, so the JSON is valid."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
