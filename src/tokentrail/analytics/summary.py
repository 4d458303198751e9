"""Aggregates per group of any dimensions (or one overall row), most expensive group first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tokentrail.analytics.fields import groups, where
from tokentrail.analytics.long_ranges import FLOAT_FIGURES, rolled
from tokentrail.analytics.metrics import ERROR_CLASS_SELECT, SUMMARY_SELECT, positions, select
from tokentrail.analytics.percentiles import SUMMARY_PERCENTILES, add_percentiles, percentile_columns
from tokentrail.analytics.ranges import TimeRange
from tokentrail.analytics.scan import Scan, add_errors
from tokentrail.store import QueryResult, Store

# Summary columns derived from the scan of error rows rather than computed over every call.
DERIVED = ("errors", "error_rate", "unpriced_calls")
_ALIASES = [alias for alias, _ in SUMMARY_SELECT]
_SUMS = [alias for alias in _ALIASES if alias not in DERIVED] + ["priced_calls"]
_PERCENTILE_COLUMNS = percentile_columns(SUMMARY_PERCENTILES)
# The columns after the group keys, in order.
COLUMNS = (
    *_ALIASES[:3],
    *(alias for alias, _ in ERROR_CLASS_SELECT),
    *_ALIASES[3:],
    *_PERCENTILE_COLUMNS,
    "percentile_calls",
    "percentiles_from",
)


def summary(
    store: Store,
    time_range: TimeRange,
    by: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
) -> QueryResult:
    """Aggregates per group (or one overall row), most expensive group first.

    Over more than 24 h, grouped and filtered on rollup dimensions only, from the rollups
    (`long_ranges.rolled`). Otherwise three scans: sums over every call; errors by class over error rows only
    (a few percent of calls), from which errors, error_rate and unpriced_calls are derived; and percentiles
    (`add_percentiles`). `percentile_calls` says how many values the percentiles come from (the calls with a
    latency, TTFT, ... recorded: the most of any) and `percentiles_from` how they were computed: "exact",
    "sample" (a uniform sample of the group's calls) or "sketch" (the rollups' log-bucket sketches of the
    days the range touches, each value within 1.98 %).
    """
    rows = rolled(store, time_range, by, filters, SUMMARY_PERCENTILES, timeout_s)
    types = {b: "string" for b in by} | {c: "float" for c in FLOAT_FIGURES}
    if rows is None:
        rows, types = _scanned(store, time_range, by, filters, timeout_s)
    types["percentiles_from"] = "string"
    columns = [*by, *COLUMNS]
    return QueryResult(
        columns, [types.get(c, "integer") for c in columns], [tuple(r.get(c) for c in columns) for r in rows]
    )


def _scanned(
    store: Store,
    time_range: TimeRange,
    by: Sequence[str],
    filters: Mapping[str, str] | None,
    timeout_s: float | None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Summary rows from the three scans of the calls, and the types of their columns."""
    clause, params = where(time_range, filters)
    scan = Scan(store, groups(by), clause, params, timeout_s)
    result = store.query(_sums_sql(scan), params, timeout_s=timeout_s)
    rows = result.dicts()
    add_errors(scan, rows)
    add_percentiles(scan, rows)
    types = dict(zip(result.columns, result.types, strict=True))
    return rows, types | {name: "float" for name in [*_PERCENTILE_COLUMNS, "error_rate"]}


def _sums_sql(scan: Scan) -> str:
    """The first scan: every sum over every call, per group, most expensive group first."""
    sql = f"SELECT {', '.join([*scan.select(), select(_SUMS)])} FROM calls WHERE {scan.clause}"
    if not scan.by:
        return sql
    n = len(scan.by)
    # ORDER BY positions, not aliases: aliases that shadow column names resolve differently in ClickHouse.
    cost, calls = (n + 1 + _SUMS.index(name) for name in ("cost_usd", "calls"))
    return f"{sql} GROUP BY {positions(n)} ORDER BY {cost} DESC NULLS LAST, {calls} DESC"
