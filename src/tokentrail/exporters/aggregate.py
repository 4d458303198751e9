"""Totals of the stored calls per label combination, with histogram buckets: the one SQL the exporters share.

Labels come from `LABEL_COLUMNS` (a fixed list), times are bound parameters; no user text is formatted into
the SQL. When there are more label combinations than a cap, the smallest (by calls) are summed into one
row whose labels are all `OVERFLOW`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from tokentrail.model import LABELS, ErrorClass
from tokentrail.store import Store

OVERFLOW = "__overflow__"
LABEL_COLUMNS = {
    "provider": "provider",
    "model": "request_model",
    "service": "service",
    **{label: label for label in LABELS},
}
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")
HISTOGRAMS = {  # name: (column, upper bounds)
    "ttft_ms": ("ttft_ms", (50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)),
    "latency_ms": ("duration_ms", (100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000)),
    "output_tokens_per_s": ("output_tokens_per_s", (5, 10, 25, 50, 100, 200, 400, 800)),
}
SUMS = {
    "calls": "count(*)",
    "retries": "sum(greatest(coalesce(attempts, 1) - 1, 0))",
    "degraded": "sum(CASE WHEN degraded IS NOT NULL THEN 1 ELSE 0 END)",
    "cost_usd": "sum(coalesce(cost_usd, 0))",
    **{f"tokens_{k}": f"sum(coalesce({k}_tokens, 0))" for k in TOKEN_KINDS},
    **{
        f"errors_{c.value}": f"sum(CASE WHEN error_class = '{c.value}' THEN 1 ELSE 0 END)" for c in ErrorClass
    },
    "errors": "sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END)",
}


def _histogram_sql(column: str, bounds: tuple[int, ...]) -> list[str]:
    parts = [f"sum(CASE WHEN {column} <= {b} THEN 1 ELSE 0 END)" for b in bounds]
    return [*parts, f"count({column})", f"sum(coalesce({column}, 0))"]


def _value_sql() -> list[str]:
    out = list(SUMS.values())
    for column, bounds in HISTOGRAMS.values():
        out += _histogram_sql(column, bounds)
    return out


def check_labels(labels: tuple[str, ...]) -> None:
    unknown = [label for label in labels if label not in LABEL_COLUMNS]
    if unknown:
        raise ValueError(f"unknown metric labels {', '.join(unknown)}; use: {', '.join(LABEL_COLUMNS)}")


@dataclasses.dataclass(slots=True)
class Totals:
    """One label combination: each of `SUMS`, and per histogram its cumulative bucket counts, count, sum."""

    labels: tuple[str, ...]
    values: list[float]

    def sum(self, name: str) -> float:
        return self.values[list(SUMS).index(name)]

    def histogram(self, name: str) -> tuple[list[float], float, float]:
        offset = len(SUMS)
        for key, (_, bounds) in HISTOGRAMS.items():
            if key == name:
                part = self.values[offset : offset + len(bounds) + 2]
                return part[: len(bounds)], part[-2], part[-1]
            offset += len(bounds) + 2
        raise KeyError(name)


def totals(
    store: Store, labels: tuple[str, ...], start: dt.datetime | None = None, end: dt.datetime | None = None
) -> list[Totals]:
    """Totals per label combination over calls with start <= start_time < end (all calls without bounds)."""
    check_labels(labels)
    columns = [f"coalesce(CAST({LABEL_COLUMNS[label]} AS VARCHAR), '')" for label in labels]
    where, params = _where(start, end)
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(columns)))}" if columns else ""
    sql = f"SELECT {', '.join([*columns, *_value_sql()])} FROM calls{where}{group}"
    rows = store.query(sql, params).rows
    return [
        Totals(tuple(str(v) for v in row[: len(labels)]), [float(v or 0) for v in row[len(labels) :]])
        for row in rows
    ]


def _where(start: dt.datetime | None, end: dt.datetime | None) -> tuple[str, list[Any]]:
    conditions, params = [], []
    if start is not None:
        conditions.append("start_time >= ?")
        params.append(start)
    if end is not None:
        conditions.append("start_time < ?")
        params.append(end)
    return (" WHERE " + " AND ".join(conditions), params) if conditions else ("", [])


def capped(found: list[Totals], cap: int) -> list[Totals]:
    """At most `cap` rows: the largest by calls, plus one OVERFLOW row summing the rest."""
    if len(found) <= cap:
        return found
    ranked = sorted(found, key=lambda t: (-t.sum("calls"), t.labels))
    kept, rest = ranked[: max(cap - 1, 0)], ranked[max(cap - 1, 0) :]
    merged = [sum(values) for values in zip(*(t.values for t in rest), strict=True)]
    return [*kept, Totals(tuple(OVERFLOW for _ in rest[0].labels), merged)]
