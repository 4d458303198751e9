"""Whether a rule's condition holds for one group's series: a `Verdict` per group and time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from tokentrail.alerts import anomaly
from tokentrail.alerts.metrics import METRICS, Series, month_factor
from tokentrail.alerts.rules import Rule

WEEK = dt.timedelta(days=7)
COUNT_UNITS = ("calls", "tokens")


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    holds: bool | None  # None: no data (fewer calls than min_calls, no value, or too little history)
    value: float | None
    expected_low: float | None = None
    expected_high: float | None = None
    explanation: str = ""


def windows_needed(rule: Rule) -> int:
    """How many windows (the current one first) a rule's condition reads."""
    if rule.condition.kind == "anomaly":
        return anomaly.history_windows(rule.window)
    if rule.condition.kind == "change":
        return (int(WEEK / rule.window) if rule.compare == "last_week" else 1) + 1
    return 1


def _compare(op: str, value: float, limit: float) -> bool:
    return value > limit if op == ">" else value < limit


def _threshold(rule: Rule, value: float) -> Verdict:
    limit = rule.condition.value
    holds = _compare(rule.condition.op, value, limit)
    low, high = (None, limit) if rule.condition.op == ">" else (limit, None)
    return Verdict(holds, value, low, high, f"{rule.metric} = {value:.6g} ({rule.condition.text()})")


def _change(rule: Rule, s: Series, index: int, value: float) -> Verdict:
    before = float(s.values[windows_needed(rule) - 1 + index])
    if math.isnan(before) or before == 0:
        return Verdict(None, value, explanation="no earlier value to compare with")
    pct = (value - before) / abs(before) * 100
    holds = _compare(rule.condition.op, pct, rule.condition.value)
    explanation = f"{rule.metric} = {value:.6g}, {pct:+.1f}% against {before:.6g} ({rule.compare} window)"
    return Verdict(holds, value, before, before, explanation)


def _anomaly(rule: Rule, s: Series, index: int, value: float) -> Verdict:
    base = anomaly.baseline(
        s.values[index:], rule.window, rule.min_history, METRICS[rule.metric].unit in COUNT_UNITS
    )
    if base is None:
        return Verdict(None, value, explanation="not enough history yet")
    low, high = base.bounds(rule.sensitivity)
    z = base.score(value)
    side = rule.condition.op
    holds = (z > rule.sensitivity and side != "below") or (z < -rule.sensitivity and side != "above")
    return Verdict(holds, value, low, high, anomaly.explain(value, base, rule.sensitivity))


def judge(rule: Rule, s: Series, end: dt.datetime, index: int = 0) -> Verdict:
    """The verdict for the window `index` windows before the newest one (which ends at `end`)."""
    value = float(s.values[index])
    if s.calls[index] < rule.min_calls or math.isnan(value):
        return Verdict(None, None if math.isnan(value) else value, explanation="no data")
    if rule.metric == "budget_forecast_usd":
        value *= month_factor(end, rule.window)
    if rule.condition.kind == "threshold":
        return _threshold(rule, value)
    if rule.condition.kind == "change":
        return _change(rule, s, index, value)
    return _anomaly(rule, s, index, value)
