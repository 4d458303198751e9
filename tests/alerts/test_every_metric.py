"""Every metric a rule may name, computed over a real DuckDB store, equals the same figure computed in Python
from the calls written (sums, counts, rates by class, retries, degraded calls, and linear-interpolated
percentiles of TTFT, latency and tokens per second)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tokentrail.alerts.metrics import METRICS, series
from tokentrail.model import Call
from tokentrail.store.duckdb import DuckDBStore

T0 = dt.datetime(2026, 11, 2, 10, 0)
ROWS: list[dict[str, Any]] = [
    dict(
        input_tokens=100,
        output_tokens=50,
        cache_read_tokens=10,
        cache_write_tokens=0,
        reasoning_tokens=5,
        cost_usd=0.01,
        ttft_ms=100.0,
        duration_ms=1000.0,
        output_tokens_per_s=50.0,
        attempts=1,
    ),
    dict(
        input_tokens=200,
        output_tokens=0,
        cost_usd=0.02,
        duration_ms=2000.0,
        attempts=3,
        status="error",
        error_class="throttled",
        degraded="fallback",
    ),
    dict(
        input_tokens=300,
        output_tokens=150,
        cache_write_tokens=40,
        cost_usd=0.03,
        ttft_ms=300.0,
        duration_ms=3000.0,
        output_tokens_per_s=60.0,
        attempts=2,
        degraded="smaller model",
    ),
    dict(
        input_tokens=400,
        output_tokens=200,
        cost_usd=0.04,
        ttft_ms=200.0,
        duration_ms=4000.0,
        output_tokens_per_s=70.0,
        status="error",
        error_class="timeout",
    ),
]


def calls() -> list[Call]:
    return [
        Call(
            trace_id=f"{i + 1:032x}",
            span_id=f"{i + 1:016x}",
            kind="llm",
            start_time=T0 + dt.timedelta(minutes=i + 1),
            **{"status": "ok", **row},
        )
        for i, row in enumerate(ROWS)
    ]


def total(column: str) -> float:
    return float(sum(row.get(column) or 0 for row in ROWS))


def expected(name: str) -> float:
    n = len(ROWS)
    percentiles = {"ttft": "ttft_ms", "latency": "duration_ms", "output_tokens_per_s": "output_tokens_per_s"}
    for prefix, column in percentiles.items():
        if name.startswith(prefix + "_p"):
            values = [row[column] for row in ROWS if row.get(column) is not None]
            return float(np.percentile(values, int(name[len(prefix) + 2 :].split("_")[0])))
    if name.startswith("error_rate"):
        wanted = name.removeprefix("error_rate").removeprefix("_")
        hits = [r for r in ROWS if (r.get("error_class") == wanted if wanted else r.get("status") == "error")]
        return len(hits) / n
    special = {
        "calls": n,
        "tokens": total("input_tokens") + total("output_tokens"),
        "budget_forecast_usd": total("cost_usd"),  # the window's spend; rules scale it to the month
        "errors": sum(r.get("status") == "error" for r in ROWS),
        "retries": sum(max((r.get("attempts") or 1) - 1, 0) for r in ROWS),
        "degraded": sum(r.get("degraded") is not None for r in ROWS),
    }
    return float(special[name]) if name in special else total(name)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path: Path = tmp_path_factory.mktemp("metrics") / "m.duckdb"
    with DuckDBStore(path) as s:
        s.write(calls())
        yield s


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_metric_equals_the_figure_computed_from_the_calls(store: Any, name: str) -> None:
    found = series(store, METRICS[name], None, (), T0 + dt.timedelta(minutes=10), dt.timedelta(minutes=10), 1)
    assert found[()].calls[0] == len(ROWS)
    assert found[()].values[0] == pytest.approx(expected(name), rel=1e-9, abs=1e-12)
