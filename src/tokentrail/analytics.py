"""Typed read queries shared by the API, the CLI report and the dashboard.

Identifiers come only from fixed tables below (never from user text); values are always bound
parameters. The SQL is written once in the DuckDB dialect and transpiled for ClickHouse by the store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tokentrail.model import COLUMN_NAMES, LABELS, ErrorClass
from tokentrail.store import QueryResult, Store

MODEL_SQL = "coalesce(response_model, request_model)"

# Dimensions a report or summary may group by: name -> SQL expression.
DIMENSIONS: dict[str, str] = {
    **{label: label for label in LABELS},
    "provider": "provider",
    "model": MODEL_SQL,
    "request_model": "request_model",
    "response_model": "response_model",
    "operation": "operation",
    "service": "service",
    "status": "status",
    "error_class": "error_class",
    "stop_reason": "stop_reason",
    "kind": "kind",
    "source": "source",
    "degraded": "degraded",
    "day": "date_trunc('day', start_time)",
    "hour": "date_trunc('hour', start_time)",
}

# Columns a filter may test for equality.
FILTERABLE = frozenset({*DIMENSIONS} - {"day", "hour"} | {"trace_id", "span_id", "parent_span_id", "name"})
SORTABLE = frozenset(COLUMN_NAMES) - {"attributes", "metadata", "tool_names"}

ERROR_CLASSES = [e.value for e in ErrorClass]

SUMMARY_SELECT = [
    ("calls", "count(*)"),
    ("errors", "sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END)"),
    ("error_rate", "avg(CASE WHEN status = 'error' THEN 1.0 ELSE 0.0 END)"),
    *((f"errors_{cls}", f"sum(CASE WHEN error_class = '{cls}' THEN 1 ELSE 0 END)") for cls in ERROR_CLASSES),
    ("retries", "sum(greatest(coalesce(attempts, 1) - 1, 0))"),
    ("degraded_calls", "sum(CASE WHEN degraded IS NOT NULL THEN 1 ELSE 0 END)"),
    ("input_tokens", "sum(input_tokens)"),
    ("output_tokens", "sum(output_tokens)"),
    ("cache_read_tokens", "sum(cache_read_tokens)"),
    ("cache_write_tokens", "sum(cache_write_tokens)"),
    ("reasoning_tokens", "sum(reasoning_tokens)"),
    ("cost_usd", "sum(cost_usd)"),
    ("cost_per_call_usd", "sum(cost_usd) / nullif(count(cost_usd), 0)"),
    ("unpriced_calls", "sum(CASE WHEN cost_usd IS NULL AND status = 'ok' THEN 1 ELSE 0 END)"),
    ("avg_prompt_chars", "avg(prompt_chars)"),
    ("ttft_p50_ms", "quantile_cont(ttft_ms, 0.5)"),
    ("ttft_p95_ms", "quantile_cont(ttft_ms, 0.95)"),
    ("latency_p50_ms", "quantile_cont(duration_ms, 0.5)"),
    ("latency_p95_ms", "quantile_cont(duration_ms, 0.95)"),
    ("latency_p99_ms", "quantile_cont(duration_ms, 0.99)"),
    ("itl_p95_ms", "quantile_cont(itl_p95_ms, 0.5)"),
    ("output_tokens_per_s", "quantile_cont(output_tokens_per_s, 0.5)"),
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class BadRequest(ValueError):
    """A request names an unknown dimension, column or a malformed time."""


def parse_duration(text: str) -> dt.timedelta:
    """'90s', '15m', '24h', '7d', '2w' → timedelta."""
    match = _DURATION.match(text or "")
    if not match:
        raise BadRequest(f"bad duration {text!r}: use a number and a unit s, m, h, d or w (e.g. 24h)")
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_time(text: str) -> dt.datetime:
    """ISO-8601 (naive means UTC) or epoch milliseconds → naive UTC datetime."""
    try:
        if text.isdigit():
            return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=int(text))
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"bad time {text!r}: use ISO-8601 (2026-11-21T00:00:00Z) or epoch milliseconds"
        ) from None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


@dataclasses.dataclass(frozen=True, slots=True)
class TimeRange:
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def resolve(cls, since: str | None = None, start: str | None = None, end: str | None = None) -> TimeRange:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        stop = parse_time(end) if end else now
        begin = parse_time(start) if start else stop - parse_duration(since or "24h")
        if begin >= stop:
            raise BadRequest(f"start {begin.isoformat()} is not before end {stop.isoformat()}")
        return cls(begin, stop)


def where(time_range: TimeRange, filters: Mapping[str, str] | None) -> tuple[str, list[Any]]:
    clauses = ["start_time >= ?", "start_time < ?"]
    params: list[Any] = [time_range.start, time_range.end]
    for key, value in (filters or {}).items():
        if key not in FILTERABLE:
            raise BadRequest(f"cannot filter on {key!r}; filterable fields: {', '.join(sorted(FILTERABLE))}")
        clauses.append(f"{DIMENSIONS.get(key, key)} = ?")
        params.append(value)
    return " AND ".join(clauses), params


def dimension(name: str) -> str:
    if name not in DIMENSIONS:
        raise BadRequest(f"cannot group by {name!r}; choose one of: {', '.join(DIMENSIONS)}")
    return DIMENSIONS[name]


def summary(
    store: Store,
    time_range: TimeRange,
    by: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
    table: str = "calls",
    timeout_s: float | None = None,
) -> QueryResult:
    """Aggregates per group (or one overall row), most expensive group first."""
    groups = [f"{dimension(name)} AS {name}" for name in by]
    select = ", ".join([*groups, *(f"{expr} AS {alias}" for alias, expr in SUMMARY_SELECT)])
    clause, params = where(time_range, filters)
    sql = f"SELECT {select} FROM {table} WHERE {clause}"
    if by:
        keys = ", ".join(str(i + 1) for i in range(len(by)))
        sql += f" GROUP BY {keys} ORDER BY cost_usd DESC NULLS LAST, calls DESC"
    return store.query(sql, params, timeout_s=timeout_s)


def list_calls(
    store: Store,
    time_range: TimeRange,
    filters: Mapping[str, str] | None = None,
    sort: str = "start_time",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
    table: str = "calls",
) -> QueryResult:
    if sort not in SORTABLE:
        raise BadRequest(f"cannot sort by {sort!r}; sortable columns: {', '.join(sorted(SORTABLE))}")
    if not 1 <= limit <= 1000 or offset < 0:
        raise BadRequest("limit must be 1..1000 and offset >= 0")
    clause, params = where(time_range, filters)
    order = "DESC" if descending else "ASC"
    sql = f"SELECT * FROM {table} WHERE {clause} ORDER BY {sort} {order} NULLS LAST, span_id LIMIT ? OFFSET ?"
    return store.query(sql, [*params, limit, offset])


def count_calls(store: Store, time_range: TimeRange, filters: Mapping[str, str] | None = None) -> int:
    clause, params = where(time_range, filters)
    return int(store.query(f"SELECT count(*) FROM calls WHERE {clause}", params).rows[0][0])


def trace_spans(store: Store, trace_id: str) -> QueryResult:
    return store.query("SELECT * FROM spans WHERE trace_id = ? ORDER BY start_time, span_id", [trace_id])


def unpriced_models(store: Store, time_range: TimeRange) -> list[tuple[str, int]]:
    clause, params = where(time_range, None)
    sql = (
        f"SELECT {MODEL_SQL} AS model, count(*) FROM calls WHERE {clause} AND cost_usd IS NULL "
        "AND status = 'ok' GROUP BY 1 ORDER BY 2 DESC"
    )
    return [(str(m), int(n)) for m, n in store.query(sql, params).rows]
