"""Comparisons: each group in a range against the previous period, and picked values side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tokentrail.analytics.fields import dimension, groups, where
from tokentrail.analytics.metrics import aliased, positions, select
from tokentrail.analytics.percentiles import PERCENTILES, add_percentiles, percentile_columns
from tokentrail.analytics.ranges import TimeRange, previous_range
from tokentrail.analytics.scan import Scan
from tokentrail.exceptions import BadRequest
from tokentrail.store import QueryResult, Store

COMPARE_AGGREGATES = (
    "calls",
    "error_rate",
    "cost_per_call_usd",
    "avg_input_tokens",
    "avg_output_tokens",
    "retries",
)
COMPARE_METRICS = (*COMPARE_AGGREGATES, *percentile_columns(tuple(PERCENTILES)))

# Each CASE tells the range (CUR) from the previous period (OLD) by comparing with the range start.
_CUR, _OLD = "start_time >= ?", "start_time < ?"
PERIOD_METRICS = (
    ("cost_usd", f"sum(CASE WHEN {_CUR} THEN cost_usd END)"),
    ("prev_cost_usd", f"sum(CASE WHEN {_OLD} THEN cost_usd END)"),
    ("calls", f"coalesce(sum(CASE WHEN {_CUR} THEN 1 ELSE 0 END), 0)"),
    ("prev_calls", f"coalesce(sum(CASE WHEN {_OLD} THEN 1 ELSE 0 END), 0)"),
    ("input_tokens", f"sum(CASE WHEN {_CUR} THEN input_tokens END)"),
    ("output_tokens", f"sum(CASE WHEN {_CUR} THEN output_tokens END)"),
    ("errors", f"coalesce(sum(CASE WHEN {_CUR} AND status = 'error' THEN 1 ELSE 0 END), 0)"),
    ("retries", f"coalesce(sum(CASE WHEN {_CUR} THEN greatest(coalesce(attempts, 1) - 1, 0) ELSE 0 END), 0)"),
    (
        "unpriced_calls",
        f"coalesce(sum(CASE WHEN {_CUR} AND cost_usd IS NULL AND status = 'ok' THEN 1 ELSE 0 END), 0)",
    ),
)


def period_compare(
    store: Store,
    time_range: TimeRange,
    by: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
    limit: int = 50,
    timeout_s: float | None = None,
) -> QueryResult:
    """Cost, calls and tokens per group in the range and in the previous period of equal length."""
    prev = previous_range(time_range)
    clause, params = where(TimeRange(prev.start, time_range.end), filters)
    select_list = ", ".join(aliased([*groups(by), *PERIOD_METRICS]))
    sql = f"SELECT {select_list} FROM calls WHERE {clause}"
    select_params = [time_range.start] * len(PERIOD_METRICS)
    tail: list[Any] = []
    if by:
        # Ordered by expression, not alias: ClickHouse resolves an alias like `cost_usd` to the column.
        order = ", ".join(f"{PERIOD_METRICS[i][1]} DESC NULLS LAST" for i in (0, 2, 1))
        sql += f" GROUP BY {positions(len(by))} ORDER BY {order} LIMIT ?"
        tail = [*select_params[:3], limit]
    return store.query(sql, [*select_params, *params, *tail], timeout_s=timeout_s)


def compare(
    store: Store,
    time_range: TimeRange,
    by: str,
    picks: Sequence[str],
    filters: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
) -> list[dict[str, Any]]:
    """Latency, TTFT, cost per call, error rate and throughput side by side for the picked values."""
    if not 1 <= len(picks) <= 12:
        raise BadRequest("pick 1 to 12 values to compare")
    expr = dimension(by)
    clause, params = where(time_range, filters)
    clause += f" AND {expr} IN ({', '.join('?' for _ in picks)})"
    scan = Scan(store, [("value", expr)], clause, [*params, *picks], timeout_s)
    columns = ", ".join([*scan.select(), select(COMPARE_AGGREGATES)])
    rows = scan.query(f"SELECT {columns} FROM calls WHERE {clause} GROUP BY 1 ORDER BY 1")
    add_percentiles(scan, rows, tuple(PERCENTILES))
    return rows
