"""The dashboard's overview: totals, a time series, top values per dimension and the values to pick from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from tokentrail.analytics.fields import dimension, where
from tokentrail.analytics.long_ranges import figures, most_expensive, rolled, serves, sketched
from tokentrail.analytics.metrics import ERROR_CLASSES, SUMMARY_EXPR, aliased, select
from tokentrail.analytics.percentiles import add_percentiles, percentile_columns
from tokentrail.analytics.ranges import TimeRange
from tokentrail.analytics.scan import Scan, add_errors
from tokentrail.exceptions import BadRequest
from tokentrail.store import Store, rollup_reads

# Bucket widths a time series may use, in seconds; the smallest giving at most `max_buckets` is chosen.
BUCKET_STEPS_S = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
TOTALS = (
    "calls",
    "errors",
    "error_rate",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "unpriced_calls",
)
TIMESERIES_SUMS = (
    "calls",
    "errors",
    *(f"errors_{cls}" for cls in ERROR_CLASSES),
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
)
_SERIES_PERCENTILES = ("ttft", "latency")
TIMESERIES_METRICS = (*TIMESERIES_SUMS, *percentile_columns(_SERIES_PERCENTILES))
BREAKDOWN_SELECT = (
    ("calls", "count(*)"),
    ("cost_usd", "sum(cost_usd)"),
    ("input_tokens", "sum(input_tokens)"),
    ("output_tokens", "sum(output_tokens)"),
    ("errors", SUMMARY_EXPR["errors"]),
)


def overview_totals(
    store: Store,
    time_range: TimeRange,
    filters: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Requests, tokens, cost, error rate, latency and TTFT percentiles (`add_percentiles`) over the range;
    over more than 24 h from the rollups (`long_ranges.rolled`)."""
    found = rolled(store, time_range, (), filters, _SERIES_PERCENTILES, timeout_s)
    if found is not None:
        keep = (*TOTALS, *percentile_columns(_SERIES_PERCENTILES), "percentile_calls", "percentiles_from")
        return {k: found[0][k] for k in keep}
    clause, params = where(time_range, filters)
    scan = Scan(store, (), clause, params, timeout_s)
    rows = scan.query(f"SELECT {select(TOTALS)} FROM calls WHERE {clause}")
    add_percentiles(scan, rows, _SERIES_PERCENTILES)
    return rows[0]


def bucket_step(time_range: TimeRange, max_buckets: int = 200) -> int:
    """The bucket width (seconds) of a time series over the range: the finest with <= max_buckets."""
    span = (time_range.end - time_range.start).total_seconds()
    for step in BUCKET_STEPS_S:
        if span / step <= max_buckets:
            return step
    return BUCKET_STEPS_S[-1]


def timeseries(
    store: Store,
    time_range: TimeRange,
    filters: Mapping[str, str] | None = None,
    step_s: int | None = None,
    timeout_s: float | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """Per-bucket aggregates; `bucket` is the bucket's index counted from the range start (gaps omitted).
    Over more than 24 h in buckets of whole hours, from the rollups (`_rolled_series`)."""
    step = step_s or bucket_step(time_range)
    if step % 3600 == 0 and serves(store, time_range, (), filters):
        return step, _rolled_series(store, time_range, filters, step, timeout_s)
    clause, params = where(time_range, filters)
    bucket = ("bucket", "date_diff('microsecond', ?, start_time) // ?")
    scan = Scan(store, [bucket], clause, params, timeout_s, [time_range.start, step * 1_000_000])
    sums = [name for name in TIMESERIES_SUMS if not name.startswith("errors")] + ["priced_calls"]
    columns = ", ".join([*scan.select(), select(sums)])
    rows = scan.query(f"SELECT {columns} FROM calls WHERE {clause} GROUP BY 1 ORDER BY 1")
    add_errors(scan, rows)
    add_percentiles(scan, rows, _SERIES_PERCENTILES)
    return step, rows


def _rolled_series(
    store: Store, time_range: TimeRange, filters: Mapping[str, str] | None, step: int, timeout_s: float | None
) -> list[dict[str, Any]]:
    """A time series from the rollups; each bucket's percentiles are those of the day it starts in (the daily
    sketches), or of its calls when the filters involve several dimensions."""
    start, end, origin = time_range.start, time_range.end, (time_range.start, step * 1_000_000)
    found = rollup_reads.sums(store, start, end, (), filters, timeout_s, origin)
    rows = [figures(f) | {"bucket": f["bucket"]} for f in found]
    rows.sort(key=lambda r: int(r["bucket"]))
    daily = rollup_reads.percentiles(store, start, end, (), filters, _SERIES_PERCENTILES, timeout_s, True)
    if daily is None:
        clause, params = where(time_range, filters)
        bucket = ("bucket", "date_diff('microsecond', ?, start_time) // ?")
        add_percentiles(Scan(store, [bucket], clause, params, timeout_s, origin), rows, _SERIES_PERCENTILES)
        return rows
    for row in rows:
        begins = start + dt.timedelta(seconds=step * int(row["bucket"]))
        day = dt.datetime.combine(begins.date(), dt.time())
        sketched(row, daily.get((day,), {}), _SERIES_PERCENTILES)
    return rows


def breakdowns(
    store: Store,
    time_range: TimeRange,
    dims: Sequence[str],
    filters: Mapping[str, str] | None = None,
    limit: int = 10,
    timeout_s: float | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The top `limit` values of each dimension by cost, in one scan (GROUPING SETS)."""
    if not dims or len(set(dims)) != len(dims):
        raise BadRequest("name one or more distinct dimensions")
    if all(serves(store, time_range, [d], filters) for d in dims):
        return {d: _rolled_breakdown(store, time_range, d, filters, limit, timeout_s) for d in dims}
    exprs = [dimension(d) for d in dims]
    grouping = f"GROUPING({', '.join(exprs)})"
    values = ", ".join(aliased(zip(dims, exprs, strict=True)))
    clause, params = where(time_range, filters)
    # Aggregates are ordered by expression, not alias: ClickHouse resolves `cost_usd` to the column.
    inner = (
        f"SELECT {grouping} AS grouping_id, {values}, {', '.join(aliased(BREAKDOWN_SELECT))}, "
        f"row_number() OVER (PARTITION BY {grouping} ORDER BY sum(cost_usd) DESC NULLS LAST, count(*) DESC) "
        f"AS place FROM calls WHERE {clause} GROUP BY GROUPING SETS ({', '.join(f'({e})' for e in exprs)})"
    )
    sql = f"SELECT * FROM ({inner}) AS ranked WHERE place <= ? ORDER BY grouping_id, place"
    return _by_dimension(dims, store.query(sql, [*params, limit], timeout_s=timeout_s).dicts())


def _rolled_breakdown(
    store: Store,
    time_range: TimeRange,
    dim: str,
    filters: Mapping[str, str] | None,
    limit: int,
    timeout_s: float | None,
) -> list[dict[str, Any]]:
    """The top `limit` values of one dimension by cost, from the rollups."""
    found = rollup_reads.sums(store, time_range.start, time_range.end, [dim], filters, timeout_s)
    rows = [{"value": f[dim], **figures(f)} for f in sorted(found, key=most_expensive)[:limit]]
    return [{"value": r["value"], **{alias: r[alias] for alias, _ in BREAKDOWN_SELECT}} for r in rows]


def _by_dimension(dims: Sequence[str], rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each GROUPING SETS row filed under the one dimension its set grouped by."""
    out: dict[str, list[dict[str, Any]]] = {d: [] for d in dims}
    n = len(dims)
    for row in rows:
        # GROUPING() sets bit (n - 1 - i) when dimension i is *not* grouped in this row's set.
        index = next(i for i in range(n) if not row["grouping_id"] >> (n - 1 - i) & 1)
        item = {"value": row[dims[index]], **{alias: row[alias] for alias, _ in BREAKDOWN_SELECT}}
        if item["value"] == "":  # ClickHouse fills a grouping set's other keys with '' rather than NULL
            item["value"] = None
        out[dims[index]].append(item)
    return out


def top_values(
    store: Store,
    time_range: TimeRange,
    dim: str,
    filters: Mapping[str, str] | None = None,
    limit: int = 20,
) -> list[tuple[str, int]]:
    """The most frequent non-null values of a dimension, with their call counts."""
    expr = dimension(dim)
    clause, params = where(time_range, filters)
    sql = (
        f"SELECT {expr} AS value, count(*) AS calls FROM calls WHERE {clause} AND {expr} IS NOT NULL "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"
    )
    return [(str(v), int(n)) for v, n in store.query(sql, [*params, limit]).rows]
