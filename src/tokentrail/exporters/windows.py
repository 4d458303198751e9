"""The stored calls summed per time window and dimension combination: what CloudWatch and EMF receive.

One query groups the calls with start <= start_time < end by window (``period`` long, from ``start``) and
by the dimensions; label names come from `aggregate.LABEL_COLUMNS`, values are bound parameters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from tokentrail.exporters.aggregate import LABEL_COLUMNS
from tokentrail.model import ErrorClass
from tokentrail.store import Store

COUNTS = {  # CloudWatch metric name: (SQL, unit)
    "Calls": ("count(*)", "Count"),
    "Errors": ("sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END)", "Count"),
    "Retries": ("sum(greatest(coalesce(attempts, 1) - 1, 0))", "Count"),
    "InputTokens": ("sum(coalesce(input_tokens, 0))", "Count"),
    "OutputTokens": ("sum(coalesce(output_tokens, 0))", "Count"),
    "CostUSD": ("sum(coalesce(cost_usd, 0))", "None"),
}
ERROR_COUNTS = {c.value: f"sum(CASE WHEN error_class = '{c.value}' THEN 1 ELSE 0 END)" for c in ErrorClass}
STATISTICS = {"TTFT": "ttft_ms", "Latency": "duration_ms"}  # milliseconds


@dataclasses.dataclass(slots=True)
class Stat:
    count: float
    total: float
    low: float
    high: float


@dataclasses.dataclass(slots=True)
class Window:
    start: dt.datetime
    dimensions: dict[str, str]  # CloudWatch dimension name: value
    counts: dict[str, float]
    errors: dict[str, float]  # per error class, only those above 0
    stats: dict[str, Stat]  # only those with samples


def dimension_label(name: str) -> str:
    """``Model`` → ``model``, ``CostCenter`` → ``cost_center``: the label a CloudWatch dimension names."""
    labels = {label.replace("_", ""): label for label in LABEL_COLUMNS}
    found = labels.get(name.lower().replace("_", ""))
    if found is None:
        names = ", ".join(label.title().replace("_", "") for label in LABEL_COLUMNS)
        raise ValueError(f"unknown dimension {name!r}; use: {names}")
    return found


def _select(labels: list[str]) -> str:
    parts = [f"coalesce(CAST({LABEL_COLUMNS[label]} AS VARCHAR), 'none')" for label in labels]
    parts.append("CAST(floor(date_diff('microsecond', CAST(? AS TIMESTAMP), start_time) / ?) AS BIGINT)")
    parts += [sql for sql, _ in COUNTS.values()] + list(ERROR_COUNTS.values())
    for column in STATISTICS.values():
        parts += [f"count({column})", f"sum({column})", f"min({column})", f"max({column})"]
    group = ", ".join(str(i + 1) for i in range(len(labels) + 1))
    return f"SELECT {', '.join(parts)} FROM calls WHERE start_time >= ? AND start_time < ? GROUP BY {group}"


def _window(row: tuple[object, ...], names: list[str], start: dt.datetime, period: dt.timedelta) -> Window:
    values = list(row[len(names) + 1 :])
    counts = {name: float(values.pop(0) or 0) for name in COUNTS}  # type: ignore[arg-type]
    errors = {c: float(values.pop(0) or 0) for c in ERROR_COUNTS}  # type: ignore[arg-type]
    stats = {}
    for name in STATISTICS:
        n, total, low, high = (values.pop(0) for _ in range(4))
        if n:
            stats[name] = Stat(float(n), float(total), float(low), float(high))  # type: ignore[arg-type]
    begin = start + period * int(row[len(names)])  # type: ignore[call-overload]
    dims = {name: str(value) for name, value in zip(names, row[: len(names)], strict=True)}
    return Window(begin, dims, counts, {k: v for k, v in errors.items() if v}, stats)


def windows(
    store: Store, dimensions: list[str], start: dt.datetime, end: dt.datetime, period: dt.timedelta
) -> list[Window]:
    """Non-empty windows of `period` from `start` to `end`, oldest first."""
    labels = [dimension_label(d) for d in dimensions]
    period_us = int(period.total_seconds() * 1_000_000)
    rows = store.query(_select(labels), [start, period_us, start, end]).rows
    found = [_window(row, dimensions, start, period) for row in rows]
    return sorted(found, key=lambda w: (w.start, sorted(w.dimensions.items())))
