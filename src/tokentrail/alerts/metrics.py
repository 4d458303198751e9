"""What a rule measures: each metric is one SQL aggregate over the calls in a window.

`series` runs one query per rule: the rule's ``where`` (the query language's filter syntax, compiled by
`tokentrail.query.compile_filter`, never formatted into SQL), grouped by the rule's ``by`` labels and by
window, for the windows that end at ``at``, ``at - window``, ``at - 2 * window``, ... Times are bound
parameters; label names come from a fixed list.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import sqlglot
from sqlglot import exp

from tokentrail.model import LABELS, ErrorClass
from tokentrail.query import compile_filter
from tokentrail.store import Store


@dataclasses.dataclass(frozen=True, slots=True)
class Metric:
    name: str
    sql: str  # a DuckDB aggregate over the calls of one window
    additive: bool  # a window without calls is 0 (counts, sums), else no data (rates, percentiles)
    unit: str = ""


def _sum(column: str) -> str:
    return f"sum(coalesce({column}, 0))"


def _error_rate(error_class: str | None) -> str:
    test = "status = 'error'" if error_class is None else f"error_class = '{error_class}'"
    return f"avg(CASE WHEN {test} THEN 1.0 ELSE 0.0 END)"


def _percentiles(prefix: str, column: str, unit: str) -> list[Metric]:
    return [
        Metric(f"{prefix}_p{p}{unit and '_' + unit}", f"quantile_cont({column}, {p / 100})", False, unit)
        for p in (50, 95, 99)
    ]


def _all_metrics() -> dict[str, Metric]:
    found = [
        Metric("calls", "count(*)", True, "calls"),
        Metric("tokens", "sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))", True, "tokens"),
        *(
            Metric(kind, _sum(kind), True, "tokens")
            for kind in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
        ),
        Metric("reasoning_tokens", _sum("reasoning_tokens"), True, "tokens"),
        Metric("cost_usd", _sum("cost_usd"), True, "usd"),
        Metric("budget_forecast_usd", _sum("cost_usd"), True, "usd"),
        Metric("errors", "sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END)", True, "calls"),
        Metric("error_rate", _error_rate(None), False, "ratio"),
        *(Metric(f"error_rate_{c.value}", _error_rate(c.value), False, "ratio") for c in ErrorClass),
        Metric("retries", "sum(greatest(coalesce(attempts, 1) - 1, 0))", True, "calls"),
        Metric("degraded", "sum(CASE WHEN degraded IS NOT NULL THEN 1 ELSE 0 END)", True, "calls"),
        *_percentiles("ttft", "ttft_ms", "ms"),
        *_percentiles("latency", "duration_ms", "ms"),
        *_percentiles("output_tokens_per_s", "output_tokens_per_s", ""),
    ]
    return {m.name: m for m in found}


METRICS = _all_metrics()
GROUP_LABELS = ("provider", "request_model", "response_model", "service", "status", "error_class", *LABELS)
"""Labels a rule may group by (`by`); ``model`` is accepted for request_model."""


def month_factor(end: dt.datetime, window: dt.timedelta) -> float:
    """budget_forecast_usd: the window's spend scaled to the whole calendar month that `end` falls in."""
    start = end.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (start + dt.timedelta(days=32)).replace(day=1)
    return (nxt - start) / window


@dataclasses.dataclass(slots=True)
class Series:
    """Per group: calls and value of windows k = 0, 1, ... (window k ends at ``at - k * window``)."""

    calls: np.ndarray[Any, np.dtype[np.float64]]
    values: np.ndarray[Any, np.dtype[np.float64]]


def label_column(name: str) -> str:
    return "request_model" if name == "model" else name


def series_sql(metric: Metric, where: str | None, by: tuple[str, ...]) -> str:
    """SELECT by..., k, n, v over the filtered calls, in DuckDB SQL (a ClickHouse store transpiles it);
    parameters: at, window in µs, start, at."""
    source: exp.Expr = exp.to_table("calls")
    if where:
        source = compile_filter(where, "duckdb").subquery("f")
    groups = [exp.column(label_column(b), quoted=True).as_(f"g{i}") for i, b in enumerate(by)]
    diff = "date_diff('microsecond', start_time, CAST(? AS TIMESTAMP))"
    bucket = sqlglot.parse_one(f"CAST(floor(({diff} - 1) / ?) AS BIGINT)", read="duckdb")
    select = exp.select(
        *groups,
        bucket.as_("k"),
        sqlglot.parse_one("count(*)", read="duckdb").as_("n"),
        sqlglot.parse_one(metric.sql, read="duckdb").as_("v"),
    ).from_(source)
    select = select.where("start_time >= CAST(? AS TIMESTAMP) AND start_time < CAST(? AS TIMESTAMP)")
    select = select.group_by(*(exp.Literal.number(i + 1) for i in range(len(by) + 1)))
    return select.sql(dialect="duckdb")


def series(
    store: Store,
    metric: Metric,
    where: str | None,
    by: tuple[str, ...],
    at: dt.datetime,
    window: dt.timedelta,
    count: int,
) -> dict[tuple[str | None, ...], Series]:
    """The last `count` windows ending at `at`, per group (groups seen in any of them)."""
    sql = series_sql(metric, where, by)
    window_us = int(window.total_seconds() * 1_000_000)
    params = [at, window_us, at - window * count, at]
    rows = store.query(sql, params).rows
    fill = 0.0 if metric.additive else np.nan
    out: dict[tuple[str | None, ...], Series] = {}
    for row in rows:
        key = tuple(None if v is None else str(v) for v in row[: len(by)])
        k, n, v = int(row[len(by)]), row[len(by) + 1], row[len(by) + 2]
        found = out.setdefault(key, Series(np.zeros(count), np.full(count, fill)))
        found.calls[k] = float(n)
        found.values[k] = fill if v is None else float(v)
    for found in out.values():  # before a group's first call there is no history, not zeros
        seen = np.flatnonzero(found.calls)
        found.values[seen.max() + 1 :] = np.nan
    if not by and not out:  # an ungrouped rule always has its one group: 0 calls, or no data
        out[()] = Series(np.zeros(count), np.full(count, fill))
    return out
