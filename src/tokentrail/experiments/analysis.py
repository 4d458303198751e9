"""One experiment, one metric: estimates per variant, comparisons against the control, sample ratio, power.

`analyse` returns the JSON shape of ``GET /api/experiments/{name}``; the CLI and the dashboard show the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zlib
from typing import Any

import numpy as np

from tokentrail.analytics.metrics import ERROR_CLASSES
from tokentrail.exceptions import BadRequest
from tokentrail.experiments import stats
from tokentrail.experiments.data import Calls, check_unit
from tokentrail.experiments.stats import Difference, Floats, Interval, Sample

# metric -> statistics it supports, the default first
METRICS: dict[str, tuple[str, ...]] = {
    "latency_ms": ("median", "p95", "mean"),
    "ttft_ms": ("median", "p95", "mean"),
    "output_tokens_per_s": ("median", "p95", "mean"),
    "cost_usd": ("mean", "per_success", "median", "p95"),
    "input_tokens": ("mean", "per_success", "median", "p95"),
    "output_tokens": ("mean", "per_success", "median", "p95"),
    "error_rate": ("rate",),
    "degraded_rate": ("rate",),
}
QUANTILES = {"median": 0.5, "p95": 0.95}
MODES = ("sequential", "fixed")
CONTROL_NAMES = ("control", "baseline", "a")  # compared case-insensitively


@dataclasses.dataclass(frozen=True, slots=True)
class Spec:
    """What to analyse. `split` maps variant -> intended share (equal when None); `effect` is a relative
    difference to plan for (adds `calls_needed`); `error_class` narrows error_rate to one class."""

    metric: str = "latency_ms"
    stat: str | None = None
    unit: str = "call"
    mode: str = "sequential"
    control: str | None = None
    error_class: str | None = None
    split: dict[str, float] | None = None
    effect: float | None = None

    def checked(self) -> Spec:
        if self.metric not in METRICS:
            raise BadRequest(f"metric must be one of: {', '.join(METRICS)}; not {self.metric!r}")
        stat = self.stat or METRICS[self.metric][0]
        if stat not in METRICS[self.metric]:
            raise BadRequest(f"{self.metric} takes stat {' or '.join(METRICS[self.metric])}; not {stat!r}")
        if self.mode not in MODES:
            raise BadRequest(f"mode must be sequential or fixed; not {self.mode!r}")
        if self.error_class is not None and (
            self.metric != "error_rate" or self.error_class not in ERROR_CLASSES
        ):
            raise BadRequest(
                f"error_class goes with metric error_rate and is one of: {', '.join(ERROR_CLASSES)}"
            )
        if self.effect is not None and not 0 < abs(self.effect) < 10:
            raise BadRequest("effect is a relative difference such as 0.05 (5 %), not 0")
        check_unit(self.unit)
        return dataclasses.replace(self, stat=stat)

    @property
    def sequential(self) -> bool:
        return self.mode == "sequential"


def parse_split(text: str | None) -> dict[str, float] | None:
    """'A=50,B=50' (any positive weights) -> {'A': 50.0, 'B': 50.0}; empty means an equal split."""
    if not text:
        return None
    split: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not sep or not name.strip() or not value > 0:
            raise BadRequest(f"split is VARIANT=WEIGHT pairs such as A=50,B=50; {part!r} is not one")
        split[name.strip()] = value
    return split


def choose_control(variants: list[str], chosen: str | None) -> str:
    if chosen is not None:
        if chosen not in variants:
            raise BadRequest(f"control {chosen!r} is not a variant; variants: {', '.join(variants)}")
        return chosen
    named = [v for v in variants if v.lower() in CONTROL_NAMES]
    return min(named, key=lambda v: CONTROL_NAMES.index(v.lower())) if named else variants[0]


# --- per-variant data of one metric -----------------------------------------------------------------------


def _values(calls: Calls, spec: Spec) -> Floats:
    """The metric's value per call (NaN where the call has none)."""
    cols = calls.columns
    if spec.metric == "error_rate" and spec.error_class is not None:
        return np.asarray(cols["error_class"] == spec.error_class, dtype=np.float64)
    if spec.metric == "error_rate":
        return np.asarray(1.0 - cols["ok"], dtype=np.float64)
    values = np.asarray(cols["degraded" if spec.metric == "degraded_rate" else spec.metric], dtype=np.float64)
    return np.nan_to_num(values) if spec.stat == "per_success" else values


def _unit_totals(keys: Any, num: Floats, den: Floats) -> tuple[Floats, Floats]:
    _, codes = np.unique(keys, return_inverse=True)
    totals = (np.bincount(codes, weights=num), np.bincount(codes, weights=den))
    return totals[0].astype(np.float64), totals[1].astype(np.float64)


def variant_data(calls: Calls, spec: Spec, variant: str) -> tuple[Any, int, int]:
    """(the data the statistic needs, calls counted, units counted) for one variant."""
    values = _values(calls, spec)
    mask = (calls.columns["variant"] == variant) & np.isfinite(values)
    keys = calls.columns["unit"][mask]
    units = len(np.unique(keys))
    if spec.stat == "per_success":
        data: Any = _unit_totals(keys, values[mask], calls.columns["ok"][mask])
    elif spec.stat == "mean":
        data = _unit_totals(keys, values[mask], np.ones(int(mask.sum())))
    else:
        data = Sample.of(values[mask], None if spec.unit == "call" else keys)
        if spec.stat in QUANTILES:
            data = stats.bootstrap_quantile(data, QUANTILES[spec.stat], zlib.crc32(variant.encode()))
    return data, int(mask.sum()), units


def interval(spec: Spec, data: Any) -> Interval:
    if spec.stat in QUANTILES:
        return stats.quantile_interval(data)
    if spec.stat == "rate":
        return stats.wilson(data)
    return stats.mean_interval(*data)


def difference(spec: Spec, control: Any, variant: Any) -> Difference:
    if spec.stat in QUANTILES:
        return stats.quantile_difference(control, variant, spec.sequential)
    if spec.stat == "rate":
        return stats.proportion_difference(control, variant, spec.sequential)
    return stats.mean_difference(control, variant, spec.sequential)


# --- the answer -------------------------------------------------------------------------------------------


def analyse(calls: Calls, spec: Spec) -> dict[str, Any]:
    """The API's answer for one metric of one experiment (see docs/experiments.md)."""
    spec = spec.checked()
    control = choose_control(calls.variants(), spec.control)
    variants = [control, *(v for v in calls.variants() if v != control)]
    per_variant = {v: variant_data(calls, spec, v) for v in variants}
    rows, comparisons, power = [], [], []
    for v in variants:
        data, n, units = per_variant[v]
        est = interval(spec, data)
        rows.append({"variant": v, "n": n, "estimate": est.estimate, "ci_low": est.low, "ci_high": est.high})
        if v != control:
            diff = difference(spec, per_variant[control][0], data)
            comparisons.append(_comparison(v, control, diff))
            power.append(_power(spec, diff, per_variant[control][1:], (n, units)))
    answer: dict[str, Any] = {
        "experiment": calls.experiment,
        "metric": spec.metric,
        "stat": spec.stat,
        "unit": spec.unit,
        "mode": spec.mode,
        "control": control,
        "variants": rows,
        "comparisons": comparisons,
        "srm": srm(calls, variants, spec.split),
        "mde_rel": _worst([mde for mde, _ in power]),
    }
    if spec.error_class is not None:
        answer["error_class"] = spec.error_class
    if spec.effect is not None:
        answer["calls_needed"] = _worst([needed for _, needed in power])
    return answer


def _comparison(variant: str, control: str, diff: Difference) -> dict[str, Any]:
    return {
        "variant": variant,
        "control": control,
        "diff_rel": diff.diff_rel,
        "ci_low": diff.low,
        "ci_high": diff.high,
        "p_value": diff.p_value,
        "significant": diff.significant,
    }


def _power(
    spec: Spec, diff: Difference, control: tuple[int, int], variant: tuple[int, int]
) -> tuple[float | None, float | None]:
    """(MDE now, calls still needed for spec.effect) of one comparison."""
    if diff.variance is None or min(control[1], variant[1]) < 2:
        return None, None
    (calls_a, units_a), (calls_b, units_b) = control, variant
    mde = stats.mde(diff.variance, units_a, units_b, spec.sequential)
    if spec.effect is None:
        return mde, None
    units = stats.units_needed(diff.variance, units_a, units_b, spec.effect, spec.sequential)
    if units is None:
        return mde, None
    calls_per_unit = (calls_a + calls_b) / (units_a + units_b)
    return mde, float(max(0, round(units * calls_per_unit) - (calls_a + calls_b)))


def _worst(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def srm(calls: Calls, variants: list[str], split: dict[str, float] | None) -> dict[str, Any]:
    """Units per variant against the intended split (equal by default)."""
    if split is not None and set(split) != set(variants):
        raise BadRequest(f"split must give a weight to each variant: {', '.join(variants)}")
    cols = calls.columns
    observed = [len(np.unique(cols["unit"][cols["variant"] == v])) for v in variants]
    p, mismatch = stats.sample_ratio(observed, [split[v] if split else 1.0 for v in variants])
    return {"p_value": p, "mismatch": mismatch}


# --- over time --------------------------------------------------------------------------------------------


def timeline(calls: Calls, spec: Spec) -> dict[str, Any]:
    """The metric per variant per hour (experiments up to three days long) or per day, without intervals."""
    spec = spec.checked()
    times = calls.columns["start_time"]
    span = (times.max() - times.min()).astype("timedelta64[s]").astype(int)
    step = np.timedelta64(1, "h") if span <= 3 * 86400 else np.timedelta64(1, "D")
    buckets = times.astype(f"datetime64[{'h' if step == np.timedelta64(1, 'h') else 'D'}]")
    starts = np.unique(buckets)
    values = _values(calls, spec)
    series = {}
    for v in calls.variants():
        mine = calls.columns["variant"] == v
        series[v] = [
            _point(spec, values[mine & (buckets == b)], calls.columns["ok"][mine & (buckets == b)])
            for b in starts
        ]
    labels = [dt.datetime.fromisoformat(str(b.astype("datetime64[s]"))) for b in starts]
    return {
        "experiment": calls.experiment,
        "metric": spec.metric,
        "stat": spec.stat,
        "t": labels,
        "series": series,
    }


def _point(spec: Spec, values: Floats, ok: Floats) -> float | None:
    if spec.stat == "per_success":
        return float(values.sum() / ok.sum()) if ok.sum() else None
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    if spec.stat in QUANTILES:
        return float(np.quantile(values, QUANTILES[spec.stat]))
    return float(values.mean())
