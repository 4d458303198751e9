"""Typed read queries shared by the API, the CLI report and the dashboard.

Identifiers come only from fixed tables below (never from user text); values are always bound
parameters. The SQL is written once in the DuckDB dialect and transpiled for ClickHouse by the store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tokentrail.exceptions import BadRequest as BadRequest  # re-exported: callers import it from here
from tokentrail.model import (
    COLUMN_NAMES,
    DAILY_COST_COLUMNS,
    DAILY_COST_DIMENSIONS,
    DAILY_COST_MEASURES,
    LABELS,
    Call,
    ErrorClass,
    StreamTimeline,
)
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
    "prompt": "prompt_name || ' v' || prompt_version",  # a prompt version, e.g. "support-triage v3"
    "day": "date_trunc('day', start_time)",
    "hour": "date_trunc('hour', start_time)",
}

# Columns a filter may test for equality.
FILTERABLE = frozenset({*DIMENSIONS} - {"day", "hour"} | {"trace_id", "span_id", "parent_span_id", "name"})
SORTABLE = frozenset(COLUMN_NAMES) - {"attributes", "metadata", "tool_names", "source_record"}

ERROR_CLASSES = [e.value for e in ErrorClass]

SUMMARY_SELECT = [
    ("calls", "count(*)"),
    ("errors", "sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END)"),
    ("error_rate", "avg(CASE WHEN status = 'error' THEN 1.0 ELSE 0.0 END)"),
    ("retries", "sum(attempts) - count(attempts)"),  # attempts >= 1 where recorded; null means one
    ("degraded_calls", "count(degraded)"),
    ("input_tokens", "sum(input_tokens)"),
    ("output_tokens", "sum(output_tokens)"),
    ("cache_read_tokens", "sum(cache_read_tokens)"),
    ("cache_write_tokens", "sum(cache_write_tokens)"),
    ("reasoning_tokens", "sum(reasoning_tokens)"),
    ("cost_usd", "sum(cost_usd)"),
    ("cost_per_call_usd", "sum(cost_usd) / nullif(count(cost_usd), 0)"),
    ("unpriced_calls", "sum(CASE WHEN cost_usd IS NULL AND status = 'ok' THEN 1 ELSE 0 END)"),
    ("avg_prompt_chars", "avg(prompt_chars)"),
]
# Errors by class: counted in a second query over error rows only (a few percent of calls), which costs far
# less than one CASE per class over every row.
ERROR_CLASS_SELECT = [
    (f"errors_{cls}", f"sum(CASE WHEN error_class = '{cls}' THEN 1 ELSE 0 END)") for cls in ERROR_CLASSES
]

# Percentiles of one column come from one sort: quantile_cont(col, [q, ...]) in DuckDB, exact and interpolated
# (ClickHouse: quantiles(q, ...)(col), which interpolates over a reservoir of 8192 values per group).
# DuckDB's reservoir_quantile was 2-3x faster over millions of rows but returns a sampled value without
# interpolation, so small groups disagree with the exact answer; exactness won.
# name -> (column, ((alias, fraction), ...))
PERCENTILES: dict[str, tuple[str, tuple[tuple[str, float], ...]]] = {
    "latency": ("duration_ms", (("latency_p50_ms", 0.5), ("latency_p95_ms", 0.95), ("latency_p99_ms", 0.99))),
    "ttft": ("ttft_ms", (("ttft_p50_ms", 0.5), ("ttft_p95_ms", 0.95))),
    "throughput": ("output_tokens_per_s", (("output_tokens_per_s", 0.5),)),
    "itl": ("itl_p95_ms", (("itl_p95_ms", 0.5),)),  # the median call's own p95 gap
}
SUMMARY_PERCENTILES = ("ttft", "latency", "itl", "throughput")
# Above this many calls in a range, DuckDB summaries compute percentiles over a per-group sample whose total
# stays near this budget, each group keeping at least PERCENTILE_FLOOR calls (see `_percentiles`).
PERCENTILE_BUDGET = 1_000_000
PERCENTILE_FLOOR = 2048
SAMPLE_RANGE = 1 << 20  # a call is sampled when hash(start_time) % SAMPLE_RANGE falls under its group's share
# Summary columns derived from the scan of error rows rather than computed over every call.
DERIVED = ("errors", "error_rate", "unpriced_calls")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


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
        try:
            stop = parse_time(end) if end else now
            begin = parse_time(start) if start else stop - parse_duration(since or "24h")
        except OverflowError:
            raise BadRequest("the time range is out of range: use times between years 1 and 9999") from None
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
    """Aggregates per group (or one overall row), most expensive group first.

    Three scans: sums over every call; errors by class over error rows only (a few percent of calls), from
    which errors, error_rate and unpriced_calls are derived; and percentiles (`_percentiles`), where
    `percentile_calls` says how many calls of the group they were computed from.
    """
    aliases = [alias for alias, _ in SUMMARY_SELECT]
    sums = [alias for alias in aliases if alias not in DERIVED] + ["priced_calls"]
    clause, params = where(time_range, filters)
    scan = _Scan(store, [(name, dimension(name)) for name in by], table, clause, params, timeout_s)
    sql = f"SELECT {', '.join([*scan.select(), _select(sums)])} FROM {table} WHERE {clause}"
    if by:
        keys = ", ".join(str(i + 1) for i in range(len(by)))
        # ORDER BY positions, not aliases: aliases that shadow column names resolve differently in ClickHouse.
        cost, calls = (len(by) + 1 + sums.index(name) for name in ("cost_usd", "calls"))
        sql += f" GROUP BY {keys} ORDER BY {cost} DESC NULLS LAST, {calls} DESC"
    result = store.query(sql, params, timeout_s=timeout_s)
    rows = result.dicts()
    _add_errors(scan, rows)
    _percentiles(scan, rows)
    pct = [a for n in SUMMARY_PERCENTILES for a, _ in PERCENTILES[n][1]]
    columns = [
        *by,
        *aliases[:3],
        *(alias for alias, _ in ERROR_CLASS_SELECT),
        *aliases[3:],
        *pct,
        "percentile_calls",
    ]
    types = dict(zip(result.columns, result.types, strict=True))
    types.update({name: "float" for name in [*pct, "error_rate"]})
    return QueryResult(
        columns, [types.get(c, "integer") for c in columns], [tuple(r.get(c) for c in columns) for r in rows]
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Scan:
    """The groups and rows one summary reads, shared by its follow-up scans."""

    store: Store
    groups: Sequence[tuple[str, str]]  # (alias, SQL expression)
    table: str
    clause: str
    params: list[Any]
    timeout_s: float | None
    group_params: Sequence[Any] = ()  # values bound by the group expressions, in order

    @property
    def by(self) -> list[str]:
        return [alias for alias, _ in self.groups]

    def select(self) -> list[str]:
        return [f"{expr} AS {alias}" for alias, expr in self.groups]

    def query(self, sql: str, args: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        args = [*self.group_params, *self.params] if args is None else args
        return self.store.query(sql, args, timeout_s=self.timeout_s).dicts()


def _add_errors(scan: _Scan, rows: list[dict[str, Any]]) -> None:
    """Errors by class, errors, error_rate and unpriced_calls (ok calls with no cost), from error rows."""
    keys = ", ".join(str(i + 1) for i in range(len(scan.by) + 1))
    sql = (
        f"SELECT {', '.join([*scan.select(), 'error_class'])}, count(*) AS n, count(cost_usd) AS priced "
        f"FROM {scan.table} WHERE {scan.clause} AND status = 'error' GROUP BY {keys}"
    )
    empty = {"errors": 0, "priced": 0}
    counts: dict[tuple[Any, ...], dict[str, int]] = {}
    for r in scan.query(sql):
        group = counts.setdefault(tuple(r[name] for name in scan.by), dict(empty))
        cls = r["error_class"] or "other"
        group[cls] = group.get(cls, 0) + int(r["n"])
        group["errors"] += int(r["n"])  # every error row, whatever its class
        group["priced"] += int(r["priced"])
    for row in rows:
        group = counts.get(tuple(row[name] for name in scan.by), empty)
        for cls in ERROR_CLASSES:
            row[f"errors_{cls}"] = group.get(cls, 0)
        calls, errors = int(row["calls"]), group["errors"]
        row["errors"], row["error_rate"] = errors, errors / calls if calls else None
        row["unpriced_calls"] = calls - errors - (int(row.pop("priced_calls")) - group["priced"])


def sample_cap(sizes: Sequence[int], budget: int, floor: int) -> int:
    """The largest per-group cap S with sum(min(n, S)) <= budget (water-filling), but at least `floor`."""
    left, ordered = budget, sorted(sizes)
    for i, n in enumerate(ordered):
        share = left // (len(ordered) - i)
        if n > share:
            return max(share, floor)
        left -= n
    return max(ordered[-1] if ordered else floor, floor)


def _percentiles(scan: _Scan, rows: list[dict[str, Any]], names: Sequence[str] = SUMMARY_PERCENTILES) -> None:
    """Percentiles per group: exact up to PERCENTILE_BUDGET calls in the range, then sampled (DuckDB).

    Exact percentiles cost DuckDB about 40 ms per million values and column on 2 cores, so over long ranges
    they would dwarf every other aggregate. Past the budget, every group keeps all its calls up to a common
    cap S, and a group above S keeps the calls whose start-time hash falls in the first S/n of the hash range
    (uniform, and the same calls on every run). S is the largest cap that keeps the total within the budget,
    but never below PERCENTILE_FLOOR. ClickHouse's `quantiles` samples on its own (a reservoir of 8,192 values
    per group), so it gets no cap.
    """
    by, sizes = scan.by, [int(r["calls"]) for r in rows]
    duck = scan.store.dialect == "duckdb"
    cap = sample_cap(sizes, PERCENTILE_BUDGET, PERCENTILE_FLOOR) if duck else sum(sizes)
    large = [r for r in rows if r["calls"] > cap]
    select = [*scan.select(), "count(*) AS percentile_calls", _select((), names)]
    sql = f"SELECT {', '.join(select)} FROM {scan.table}"
    keep = f"hash(start_time) % {SAMPLE_RANGE}"
    args: list[Any] = [*scan.group_params, *scan.params]
    if large and not by:
        sql += f" WHERE {scan.clause} AND {keep} < ?"
        args.append(SAMPLE_RANGE * cap // sizes[0])
    elif large:
        values = ", ".join([f"({', '.join(['?'] * (len(by) + 1))})"] * len(large))
        on = " AND ".join(f"{e} IS NOT DISTINCT FROM rates.g{i}" for i, (_, e) in enumerate(scan.groups))
        sql = (
            f"WITH rates({', '.join([*(f'g{i}' for i in range(len(by))), 'keep'])}) AS (VALUES {values}) "
            f"{sql} LEFT JOIN rates ON {on} "
            f"WHERE {scan.clause} AND (rates.keep IS NULL OR {keep} < rates.keep)"
        )
        rates = [v for r in large for v in (*(r[n] for n in by), SAMPLE_RANGE * cap // r["calls"])]
        args = [*rates, *scan.group_params, *scan.group_params, *scan.params]
    else:
        sql += f" WHERE {scan.clause}"
    if by:
        sql += f" GROUP BY {', '.join(str(i + 1) for i in range(len(by)))}"
    found = {tuple(r[n] for n in by): r for r in _unpack(scan.query(sql, args))}
    for row in rows:
        row.update({k: v for k, v in found.get(tuple(row[n] for n in by), {}).items() if k not in by})


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


# ---- dashboard queries (appended; the functions above are shared and stay as they are) -------------

# Bucket widths a time series may use, in seconds; the smallest giving at most `max_buckets` is chosen.
BUCKET_STEPS_S = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
_SUMMARY_EXPR = dict(SUMMARY_SELECT + ERROR_CLASS_SELECT)
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
TIMESERIES_METRICS = (*TIMESERIES_SUMS, *(a for n in ("ttft", "latency") for a, _ in PERCENTILES[n][1]))
COMPARE_AGGREGATES = (
    "calls",
    "error_rate",
    "cost_per_call_usd",
    "avg_input_tokens",
    "avg_output_tokens",
    "retries",
)
COMPARE_METRICS = (*COMPARE_AGGREGATES, *(a for _, points in PERCENTILES.values() for a, _ in points))
_EXTRA_EXPR = {
    "avg_input_tokens": "avg(input_tokens)",
    "avg_output_tokens": "avg(output_tokens)",
    "priced_calls": "count(cost_usd)",
}
BREAKDOWN_SELECT = (
    ("calls", "count(*)"),
    ("cost_usd", "sum(cost_usd)"),
    ("input_tokens", "sum(input_tokens)"),
    ("output_tokens", "sum(output_tokens)"),
    ("errors", _SUMMARY_EXPR["errors"]),
)


def _select(aliases: Sequence[str], percentiles: Sequence[str] = ()) -> str:
    parts = [f"{_EXTRA_EXPR.get(a) or _SUMMARY_EXPR[a]} AS {a}" for a in aliases]
    for name in percentiles:
        column, points = PERCENTILES[name]
        parts.append(f"quantile_cont({column}, [{', '.join(str(q) for _, q in points)}]) AS pct_{name}")
    return ", ".join(parts)


def _unpack(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spread each percentile list into its named keys (null where there was nothing to rank)."""
    for row in rows:
        for name, (_, points) in PERCENTILES.items():
            if f"pct_{name}" not in row:
                continue
            values = row.pop(f"pct_{name}") or []
            for i, (alias, _) in enumerate(points):
                value = values[i] if i < len(values) else None
                row[alias] = None if value is None or value != value else float(value)
    return rows


def overview_totals(
    store: Store,
    time_range: TimeRange,
    filters: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Requests, tokens, cost, error rate, latency and TTFT percentiles (`_percentiles`) over the range."""
    clause, params = where(time_range, filters)
    scan = _Scan(store, (), "calls", clause, params, timeout_s)
    rows = scan.query(f"SELECT {_select(TOTALS)} FROM calls WHERE {clause}")
    _percentiles(scan, rows, ("latency", "ttft"))
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
    """Per-bucket aggregates; `bucket` is the bucket's index counted from the range start (gaps omitted)."""
    step = step_s or bucket_step(time_range)
    clause, params = where(time_range, filters)
    bucket = [time_range.start, step * 1_000_000]
    scan = _Scan(
        store,
        [("bucket", "date_diff('microsecond', ?, start_time) // ?")],
        "calls",
        clause,
        params,
        timeout_s,
        bucket,
    )
    sums = [name for name in TIMESERIES_SUMS if not name.startswith("errors")] + ["priced_calls"]
    select = ", ".join([*scan.select(), _select(sums)])
    rows = scan.query(f"SELECT {select} FROM calls WHERE {clause} GROUP BY 1 ORDER BY 1")
    _add_errors(scan, rows)
    _percentiles(scan, rows, ("ttft", "latency"))
    return step, rows


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
    exprs = [dimension(d) for d in dims]
    grouping = f"GROUPING({', '.join(exprs)})"
    values = ", ".join(f"{e} AS {d}" for e, d in zip(exprs, dims, strict=True))
    metrics = ", ".join(f"{expr} AS {alias}" for alias, expr in BREAKDOWN_SELECT)
    clause, params = where(time_range, filters)
    # Aggregates are ordered by expression, not alias: ClickHouse resolves `cost_usd` to the column.
    inner = (
        f"SELECT {grouping} AS grouping_id, {values}, {metrics}, row_number() OVER (PARTITION BY {grouping} "
        "ORDER BY sum(cost_usd) DESC NULLS LAST, count(*) DESC) AS place "
        f"FROM calls WHERE {clause} GROUP BY GROUPING SETS ({', '.join(f'({e})' for e in exprs)})"
    )
    sql = f"SELECT * FROM ({inner}) AS ranked WHERE place <= ? ORDER BY grouping_id, place"
    result = store.query(sql, [*params, limit], timeout_s=timeout_s)
    out: dict[str, list[dict[str, Any]]] = {d: [] for d in dims}
    n = len(dims)
    for row in result.dicts():
        # GROUPING() sets bit (n - 1 - i) when dimension i is *not* grouped in this row's set.
        index = next(i for i in range(n) if not row["grouping_id"] >> (n - 1 - i) & 1)
        item = {"value": row[dims[index]], **{alias: row[alias] for alias, _ in BREAKDOWN_SELECT}}
        if item["value"] == "":  # ClickHouse fills a grouping set's other keys with '' rather than NULL
            item["value"] = None
        out[dims[index]].append(item)
    return out


def previous_range(time_range: TimeRange) -> TimeRange:
    """The period of equal length just before the range."""
    return TimeRange(time_range.start - (time_range.end - time_range.start), time_range.start)


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
    cur, old = "start_time >= ?", "start_time < ?"
    metrics = [
        ("cost_usd", f"sum(CASE WHEN {cur} THEN cost_usd END)"),
        ("prev_cost_usd", f"sum(CASE WHEN {old} THEN cost_usd END)"),
        ("calls", f"coalesce(sum(CASE WHEN {cur} THEN 1 ELSE 0 END), 0)"),
        ("prev_calls", f"coalesce(sum(CASE WHEN {old} THEN 1 ELSE 0 END), 0)"),
        ("input_tokens", f"sum(CASE WHEN {cur} THEN input_tokens END)"),
        ("output_tokens", f"sum(CASE WHEN {cur} THEN output_tokens END)"),
        ("errors", f"coalesce(sum(CASE WHEN {cur} AND status = 'error' THEN 1 ELSE 0 END), 0)"),
        (
            "retries",
            f"coalesce(sum(CASE WHEN {cur} THEN greatest(coalesce(attempts, 1) - 1, 0) ELSE 0 END), 0)",
        ),
        (
            "unpriced_calls",
            f"coalesce(sum(CASE WHEN {cur} AND cost_usd IS NULL AND status = 'ok' THEN 1 ELSE 0 END), 0)",
        ),
    ]
    groups = [f"{dimension(name)} AS {name}" for name in by]
    select = ", ".join([*groups, *(f"{expr} AS {alias}" for alias, expr in metrics)])
    sql = f"SELECT {select} FROM calls WHERE {clause}"
    select_params = [time_range.start] * len(metrics)  # each CASE compares with the range start
    tail: list[Any] = []
    if by:
        keys = ", ".join(str(i + 1) for i in range(len(by)))
        order = ", ".join(f"{metrics[i][1]} DESC NULLS LAST" for i in (0, 2, 1))  # by expression, as above
        sql += f" GROUP BY {keys} ORDER BY {order} LIMIT ?"
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
    scan = _Scan(store, [("value", expr)], "calls", clause, [*params, *picks], timeout_s)
    select = ", ".join([*scan.select(), _select(COMPARE_AGGREGATES)])
    rows = scan.query(f"SELECT {select} FROM calls WHERE {clause} GROUP BY 1 ORDER BY 1")
    _percentiles(scan, rows, tuple(PERCENTILES))
    return rows


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


def get_span(store: Store, trace_id: str, span_id: str) -> dict[str, Any] | None:
    """One stored span by its ids, or None."""
    sql = "SELECT * FROM spans WHERE trace_id = ? AND span_id = ? LIMIT 1"
    rows = store.query(sql, [trace_id, span_id]).dicts()
    return rows[0] if rows else None


def stream_timelines(store: Store, trace_id: str, span_id: str | None = None) -> dict[str, StreamTimeline]:
    """The arrival timelines of a trace's streamed calls (or of one call), by span id."""
    sql = "SELECT span_id, chunks, offsets_ms FROM stream_timelines WHERE trace_id = ?"
    params = [trace_id]
    if span_id is not None:
        sql += " AND span_id = ?"
        params.append(span_id)
    return {s: StreamTimeline(list(c), list(o)) for s, c, o in store.query(sql, params).rows}


# --- chargeback -----------------------------------------------------------------------------------------

CHARGEBACK_BY = (
    "tenant",
    "cost_center",
    "team",
    "app",
    "feature",
    "user_id",
    "environment",
    "provider",
    "model",
)
NANO = 1_000_000_000


def _nano(column: str) -> str:
    """Cost summed as integer nano-dollars, so group totals add up exactly to the grand total."""
    return f"sum(CAST(round({column} * {NANO}) AS BIGINT))"


CHARGEBACK_SELECT = [
    ("calls", "count(*)"),
    ("input_tokens", "sum(input_tokens)"),
    ("output_tokens", "sum(output_tokens)"),
    ("cache_read_tokens", "sum(cache_read_tokens)"),
    ("cache_write_tokens", "sum(cache_write_tokens)"),
    ("reasoning_tokens", "sum(reasoning_tokens)"),
    ("input_cost_nusd", _nano("input_cost_usd")),
    ("cache_cost_nusd", _nano("cache_cost_usd")),
    ("output_cost_nusd", _nano("output_cost_usd")),
    ("cost_nusd", _nano("cost_usd")),
    ("priced_calls", "count(cost_usd)"),
    ("unpriced_calls", "sum(CASE WHEN cost_usd IS NULL AND status = 'ok' THEN 1 ELSE 0 END)"),
]


def parse_period(period: str) -> TimeRange:
    """'2026-10' (a month) or '2026-10-05' (a day), UTC."""
    try:
        if len(period) == 7:
            start = dt.datetime.strptime(period, "%Y-%m")
            end = (start + dt.timedelta(days=32)).replace(day=1)
        else:
            start = dt.datetime.strptime(period, "%Y-%m-%d")
            end = start + dt.timedelta(days=1)
    except ValueError:
        raise BadRequest(f"bad period {period!r}: use YYYY-MM for a month or YYYY-MM-DD for a day") from None
    return TimeRange(start, end)


@dataclasses.dataclass(slots=True)
class Chargeback:
    by: str
    period: TimeRange
    rows: list[dict[str, Any]]
    total: dict[str, Any]


def _money_fields(row: dict[str, Any], total_nusd: int) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if not k.endswith("_nusd")}
    for key in ("input_cost", "cache_cost", "output_cost", "cost"):
        nano = int(row[f"{key}_nusd"] or 0)
        out[f"{key}_usd"] = nano / NANO
    cost = int(row["cost_nusd"] or 0)
    out["cost_per_query_usd"] = cost / NANO / row["priced_calls"] if row["priced_calls"] else None
    out["share"] = cost / total_nusd if total_nusd else None
    out["cost_nusd"] = cost
    return out


def chargeback(
    store: Store, period: TimeRange, by: str, filters: Mapping[str, str] | None = None
) -> Chargeback:
    """Chargeback over the kept calls, plus the daily rollups of calls that retention has deleted."""
    if by not in CHARGEBACK_BY:
        raise BadRequest(f"cannot charge back by {by!r}; choose one of: {', '.join(CHARGEBACK_BY)}")
    if _has_rollups(store, period):
        source, params = _ledger(period, by, filters)
        aggregates, key = [(alias, f"sum({alias})") for alias, _ in CHARGEBACK_SELECT], by
    else:
        clause, params = where(period, filters)
        source, aggregates, key = f"calls WHERE {clause}", CHARGEBACK_SELECT, dimension(by)
    select = ", ".join(f"{expr} AS {alias}" for alias, expr in aggregates)
    cost_position = 2 + [alias for alias, _ in aggregates].index("cost_nusd")
    grouped = store.query(
        f"SELECT {key} AS {by}, {select} FROM {source} GROUP BY 1 ORDER BY {cost_position} DESC, 1", params
    ).dicts()
    total = store.query(f"SELECT {select} FROM {source}", params).dicts()[0]
    total_nusd = int(total["cost_nusd"] or 0)
    return Chargeback(
        by, period, [_money_fields(r, total_nusd) for r in grouped], _money_fields(total, total_nusd)
    )


# --- the daily rollup that outlives deleted calls (written by retention, read by chargeback) --------------

ROLLUP_MEASURES = {**dict(CHARGEBACK_SELECT), "errors": _SUMMARY_EXPR["errors"]}
ROLLUP_COLUMNS = ", ".join(name for name, _, _ in DAILY_COST_COLUMNS)


def _rollup_select(clause: str) -> str:
    """Per day and chargeback label set, the sums chargeback needs, over the calls matching `clause`."""
    dims = ", ".join(f"{dimension(d)} AS {d}" for d in DAILY_COST_DIMENSIONS)
    measures = ", ".join(f"CAST({ROLLUP_MEASURES[m]} AS BIGINT) AS {m}" for m in DAILY_COST_MEASURES)
    groups = ", ".join(str(i) for i in range(1, len(DAILY_COST_DIMENSIONS) + 2))
    return (
        f"SELECT {DIMENSIONS['day']} AS day, {dims}, {measures} FROM calls WHERE {clause} GROUP BY {groups}"
    )


def rollup_insert_sql() -> str:
    """INSERT the daily rollup of the calls in [?, ?) (run by retention just before it deletes them)."""
    return (
        f"INSERT INTO daily_costs ({ROLLUP_COLUMNS}) {_rollup_select('start_time >= ? AND start_time < ?')}"
    )


def _has_rollups(store: Store, period: TimeRange) -> bool:
    sql = "SELECT count(*) FROM daily_costs WHERE day >= ? AND day < ?"
    return bool(store.query(sql, [period.start, period.end]).rows[0][0])


def _ledger(period: TimeRange, by: str, filters: Mapping[str, str] | None) -> tuple[str, list[Any]]:
    """The kept calls rolled up by day, and the stored rollups of deleted ones, as one subquery."""
    clause, params = where(period, filters)
    kept_clause = ["day >= ?", "day < ?"]
    kept_params: list[Any] = [period.start, period.end]
    for key in (by, *(filters or {})):
        if key not in DAILY_COST_DIMENSIONS:
            raise BadRequest(
                f"cannot group or filter by {key!r} over days whose calls retention has deleted; "
                f"their daily rollup keeps: {', '.join(DAILY_COST_DIMENSIONS)}"
            )
    for key, value in (filters or {}).items():
        kept_clause.append(f"{key} = ?")
        kept_params.append(value)
    rolled = f"SELECT {ROLLUP_COLUMNS} FROM daily_costs WHERE {' AND '.join(kept_clause)}"
    return f"({_rollup_select(clause)} UNION ALL {rolled}) AS ledger", [*params, *kept_params]


def fetch_calls(store: Store, time_range: TimeRange, table: str = "calls") -> list[Call]:
    """Whole Call records in a time range (JSON columns decoded)."""
    clause, params = where(time_range, None)
    rows = store.query(f"SELECT * FROM {table} WHERE {clause} ORDER BY start_time", params).dicts()
    for row in rows:
        for key in ("metadata", "attributes"):
            if isinstance(row.get(key), str):
                row[key] = json.loads(row[key])
        row["tool_names"] = list(row.get("tool_names") or [])
    return [Call.from_mapping(row) for row in rows]


def models_seen(store: Store, time_range: TimeRange) -> list[tuple[str | None, str, int]]:
    """(provider, model, calls) for every model in the range."""
    clause, params = where(time_range, None)
    sql = (
        f"SELECT provider, {MODEL_SQL} AS model, count(*) FROM calls WHERE {clause} "
        "GROUP BY 1, 2 ORDER BY 3 DESC"
    )
    return [(p, str(m), int(n)) for p, m, n in store.query(sql, params).rows if m is not None]
