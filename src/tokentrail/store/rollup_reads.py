"""Reading the rollups (`rollups`) over a time range longer than `MIN_RANGE`: what the long views of
analytics/ and budgets' spend read.

Sums. A range splits into its whole hours and the part-hours at its edges. Grouped or filtered on at most one
dimension, whole hours come from ``call_dim_hours`` (a few hundred rows an hour); otherwise from
``call_rollups`` (a row per hour and combination of dimensions). The part-hours come from the raw calls,
rolled up by the same SQL as ingest (grouped by the view's dimensions only), in the same query; so every sum
equals the raw table's.

Percentiles. Grouped or filtered on at most one dimension, they are merged from the sketches of every day
the range touches (so up to a day more at each end than the range itself), on DuckDB mostly from their weeks'
(`weeks_to_read`), and read in SQL; each comes within 1.98 % of the value it stands for (`rollups.GAMMA`).
Callers mark them ``"sketch"``.

DuckDB's held calls (store/held.py) are added in: to the sums always (a few milliseconds), to the percentiles
only when a one-row query finds any held (their sketches are bucketed at read time and merged apart: ~40 ms
for 50,000 held on a month by tenant, ~14 ms even for none), so a call stored between that query and the
read is left out, as if the view had been read a moment earlier.

A tenant-scoped reader sees only its tenants' rows (store/scope.py): of the per-dimension tables, only the
rows of ``dim = 'tenant'``. So for it the per-dimension tables serve the by-tenant views and, merged, the
totals; every other view reads ``call_rollups``, whose rows carry their tenant.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tokentrail.store import rollups
from tokentrail.store.base import Store

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)
MIN_RANGE = dt.timedelta(hours=24)  # views over longer ranges read the rollups
QUANTILES = (0.5, 0.95, 0.99)
Interval = tuple[dt.datetime, dt.datetime]


def _floor(t: dt.datetime, unit: dt.timedelta) -> dt.datetime:
    return (
        t.replace(minute=0, second=0, microsecond=0)
        if unit == HOUR
        else dt.datetime.combine(t.date(), dt.time())
    )


def _ceil(t: dt.datetime, unit: dt.timedelta) -> dt.datetime:
    low = _floor(t, unit)
    return low if low == t else low + unit


def whole_hours(start: dt.datetime, end: dt.datetime) -> Interval | None:
    """The whole hours inside [start, end), or None."""
    h0, h1 = _ceil(start, HOUR), _floor(end, HOUR)
    return (h0, h1) if h0 < h1 else None


def raw_edges(start: dt.datetime, end: dt.datetime) -> list[Interval]:
    """The part-hours of [start, end) outside its whole hours (all of it when it holds none)."""
    hours = whole_hours(start, end)
    if hours is None:
        return [(start, end)]
    return [(a, b) for a, b in ((start, hours[0]), (hours[1], end)) if a < b]


def weeks_to_read(first: dt.datetime, end: dt.datetime, sealed: dt.datetime) -> Interval | None:
    """The ISO weeks [w0, w1) (Mondays) whose rows in `rollups.WEEKS` a view over the days [first, end)
    (`touched_days`) reads. A week's rows hold its days before `sealed`; they are read when they hold more of
    the view's days than one more than those outside it, which are then read again negated (`_stored`): a
    week's rows are about as many as a day's."""
    picked, week = [], first - first.weekday() * DAY
    while week < min(end, sealed):
        held = min(week + WEEK, sealed) - week
        inside = min(week + held, end) - max(week, first)
        if inside > held - inside + DAY:
            picked.append(week)
        week += WEEK
    return (picked[0], picked[-1] + WEEK) if picked else None


def touched_days(start: dt.datetime, end: dt.datetime) -> Interval:
    """The UTC days [start, end) touches: what the sketches of a view over it cover."""
    return _floor(start, DAY), _ceil(end, DAY)


def usable(store: Store, start: dt.datetime, end: dt.datetime, names: set[str]) -> bool:
    """Whether a view over [start, end) grouping and filtering on `names` reads the rollups (a store on a
    ClickHouse cluster keeps none, nor does a file opened read-only before its migration: `has_rollups`)."""
    wide = end - start > MIN_RANGE and names <= set(rollups.DIMS)
    return wide and bool(getattr(store, "has_rollups", False))


def per_dim(store: Store, names: set[str]) -> str | None:
    """The dimension whose per-dimension rows serve a view on `names` ('' for the total), or None."""
    if len(names) > 1:
        return None
    dim = next(iter(names), rollups.TOTAL)
    if getattr(store, "tenants", None) is not None and dim != "tenant":
        return "tenant" if dim == rollups.TOTAL else None  # a scoped reader's total: its tenants merged
    return dim


def _value(column: str = "value") -> str:
    return f"CASE WHEN null_value THEN NULL ELSE {column} END"


def _filter_sql(filters: Mapping[str, str], rows: str) -> tuple[str, list[Any]]:
    """The filters as ` AND ...` over `rows`: "dim" (per-dimension rows), "tuple" (call_rollups) or "raw"."""
    clauses = [
        "value = ? AND NOT null_value" if rows == "dim" else f"{rollups.DIMS[k] if rows == 'raw' else k} = ?"
        for k in filters
    ]
    return "".join(f" AND {c}" for c in clauses), list(filters.values())


Bucket = tuple[dt.datetime, int]  # a time series' origin and step in microseconds


def sums(
    store: Store,
    start: dt.datetime,
    end: dt.datetime,
    by: Sequence[str],
    filters: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
    bucket: Bucket | None = None,
) -> list[dict[str, Any]]:
    """One row per group of `by` (and per time bucket, as `bucket`, from `bucket`'s origin) or one row: the
    group's values under their names and every rollup sum; a nullable column's sum is None where no call
    had it. An hour's calls fall in the bucket where the hour (or the range) starts."""
    filters = dict(filters or {})
    dim = per_dim(store, {*by, *filters})
    hours = whole_hours(start, end)
    parts: list[tuple[str, list[Any]]] = []
    if hours is not None:
        parts.append(_hours_part(dim, by, filters, hours))
    held = hours if store.dialect == "duckdb" else None  # DuckDB's held calls (store/held.py)
    parts.append(_raw_part(raw_edges(start, end), held, by, filters))
    lead = ["bucket"] if bucket else []
    time_params = [bucket[0], bucket[0], bucket[1]] if bucket else []
    select = ", ".join([*(_bucket_sql("t") for _ in lead), "*"])
    union = " UNION ALL ".join(f"SELECT {select} FROM ({sql}) AS p{i}" for i, (sql, _) in enumerate(parts))
    params = [p for _, values in parts for p in [*time_params, *values]]
    keys = [*lead, *by]
    columns = ", ".join([*keys, *(f"sum({s}) AS {s}" for s in rollups.SUMS)])
    sql = f"SELECT {columns} FROM ({union}) AS parts" + (f" GROUP BY {', '.join(keys)}" if keys else "")
    rows = store.query(sql, params, timeout_s=timeout_s).dicts()
    for row in rows:
        for name in rollups.NULLABLE_SUMS:
            row[name] = int(row[name]) if row[name] is not None and row[f"{name}_n"] else None
    return [r for r in rows if r["calls"]] if keys else rows


def _bucket_sql(column: str) -> str:
    return f"date_diff('microsecond', ?, greatest({column}, ?)) // ? AS bucket"


def _hours_part(
    dim: str | None, by: Sequence[str], filters: Mapping[str, str], hours: Interval
) -> tuple[str, list[Any]]:
    """The rollup rows of the whole hours: per dimension when `dim` serves the view, else per combination."""
    where, more = _filter_sql(filters, "tuple" if dim is None else "dim")
    if dim is None:
        select = ", ".join(["hour AS t", *by, *rollups.SUMS])
        return f"SELECT {select} FROM {rollups.TABLE} WHERE hour >= ? AND hour < ?{where}", [*hours, *more]
    select = ", ".join(["hour AS t", *(f"{_value()} AS {b}" for b in by), *rollups.SUMS])
    sql = f"SELECT {select} FROM {rollups.DIM_HOURS} WHERE dim = ? AND hour >= ? AND hour < ?{where}"
    return sql, [dim, *hours, *more]


def _held_and_sealed(store: Store, timeout_s: float | None) -> tuple[bool, dt.datetime | None]:
    """Whether calls wait in `rollups.PENDING` (DuckDB holds new calls, store/held.py; ClickHouse rolls them
    up as it stores them), so a read must add them in, and where DuckDB's sealed days end (`rollups.SEALED`;
    ClickHouse keeps no weeks: None). Asked in a query of its own (2 to 3 ms on 30 M calls): a call stored
    after it is left out, as if the view had been read a moment earlier. The weeks' rows hold the days
    before the mark (each write of a sealed day writes its week in the same transaction), and the mark only
    moves on: a read of the weeks checks it in its own snapshot and is made again, with the new mark, when a
    day was sealed in between. As literals the bounds let the scan skip the weeks' days."""
    if store.dialect != "duckdb":
        return False, None
    held = f"SELECT count(*) FROM (SELECT 1 FROM {rollups.PENDING} LIMIT 1) AS held"
    row = store.query(f"SELECT ({held}) AS held, {rollups.SEALED} AS sealed", timeout_s=timeout_s).rows[0]
    return bool(row[0]), row[1]


def _raw_part(
    edges: list[Interval], held: Interval | None, by: Sequence[str], filters: Mapping[str, str]
) -> tuple[str, list[Any]]:
    """The part-hours, and the held calls of the whole hours `held` (None: none wait), rolled up by ingest's
    SQL."""
    where, more = _filter_sql(filters, "raw")
    within = " OR ".join("(start_time >= ? AND start_time < ?)" for _ in edges) or "false"
    columns = ", ".join(rollups.PENDING_COLUMNS)
    source, params = (
        f"SELECT {columns} FROM calls WHERE ({within}){where}",
        [*(t for e in edges for t in e), *more],
    )
    if held is not None:
        waiting = f"SELECT {columns} FROM {rollups.PENDING} WHERE start_time >= ? AND start_time < ?{where}"
        source += f" UNION ALL {waiting}"
        params += [*held, *more]
    named = ", ".join(["t", *(f"d_{b} AS {b}" for b in by), *(f"s_{s} AS {s}" for s in rollups.SUMS)])
    sql = f"SELECT {named} FROM ({rollups.sums_select(f'({source}) AS c', 'true', names=by)}) AS edges"
    return sql, params


def percentiles(
    store: Store,
    start: dt.datetime,
    end: dt.datetime,
    by: Sequence[str],
    filters: Mapping[str, str] | None,
    metrics: Sequence[str],
    timeout_s: float | None = None,
    per_day: bool = False,
) -> dict[tuple[Any, ...], dict[str, tuple[int, list[float | None]]]] | None:
    """group (or day, `per_day`) -> metric -> (values sketched, the value at each of `QUANTILES`), merged
    from the daily sketches of the days the range touches; None when the view groups or filters on more than
    one dimension. `metrics` are keys of rollups.SKETCHED."""
    filters = dict(filters or {})
    dim = per_dim(store, {*by, *filters})
    if dim is None:
        return None
    where, more = _filter_sql(filters, "dim")
    picked = [] if set(metrics) >= set(rollups.SKETCHED) else list(metrics)  # all: no filter to run
    group = "day" if per_day else _value() if by else ""
    held, sealed = _held_and_sealed(store, timeout_s)
    days, tail = touched_days(start, end), [*more, *picked]
    for _ in range(3):  # again if a day was sealed between the two queries (once a day, after midnight)
        weeks = None if sealed is None or per_day else weeks_to_read(*days, sealed)
        stored, head = _stored(dim, days, weeks, sealed)
        sql = _percentiles_sql(stored, held, dim, group, where + _metrics_sql(picked))
        if weeks is not None:  # the mark as the query's snapshot has it, which its weeks' rows agree with
            sql = f"SELECT *, {rollups.SEALED} AS sealed_now FROM ({sql}) AS q"
        params = [*head, *tail, *([*days, *tail] if held else [])]
        rows = store.query(sql, params, timeout_s=timeout_s).dicts()
        if weeks is None or not rows or rows[0]["sealed_now"] == sealed:
            break
        sealed = rows[0]["sealed_now"]
    out: dict[tuple[Any, ...], dict[str, tuple[int, list[float | None]]]] = {}
    for row in rows:
        out.setdefault((row["g"],) if group else (), {})[row["metric"]] = (int(row["total"]), _quantiles(row))
    return out


def _metrics_sql(metrics: Sequence[str]) -> str:
    return f" AND metric IN ({', '.join('?' for _ in metrics)})" if metrics else ""


def _stored(
    dim: str, days: Interval, weeks: Interval | None, sealed: dt.datetime | None
) -> tuple[str, list[Any]]:
    """The stored sketch rows (day, value, null_value, metric, bucket, n) of `dim` over `days`, and their
    parameters. With `weeks` (`weeks_to_read`): their rows in `rollups.WEEKS` (each row's day its week's
    Monday), which hold their days before `sealed`; those of these days outside `days` negated, so they add
    up to nothing; and the days of `days` the weeks do not hold. Counts stay exact: a week's count in a
    bucket is the sum of its days'."""
    columns = "value, null_value, metric, bucket"
    daily = f"SELECT day, {columns}, {{n}} FROM {rollups.SKETCHES} WHERE dim = ? AND day >= ? AND day < ?"
    if weeks is None:
        return daily.format(n="n"), [dim, *days]
    assert sealed is not None
    held = (weeks[0], min(weeks[1], sealed))
    outside = " AND (day < ? OR day >= ?)"
    in_weeks = f"SELECT week, {columns}, n FROM {rollups.WEEKS} WHERE dim = ? AND week >= ? AND week < ?"
    sql = f"{daily.format(n='n')}{outside} UNION ALL {daily.format(n='-n')}{outside} UNION ALL {in_weeks}"
    return sql, [dim, *days, *held, dim, *held, *days, dim, *weeks]


def _percentiles_sql(stored: str, held: bool, dim: str, group: str, where: str) -> str:
    """Per group `g` (`group`, or none) and metric: the values sketched and the buckets at the ranks each
    quantile falls between, from the sketches of `dim` (and, `held`, those of the calls waiting to be
    rolled up, merged apart: a bucket may then come twice, which the running count does not mind)."""
    g = "g, " if group else ""
    part = f"PARTITION BY {g}metric"
    bounds = ", ".join(
        f"min(CASE WHEN cum > floor({q} * (total - 1)) THEN bucket END) AS lo{i}, "
        f"min(CASE WHEN cum > ceil({q} * (total - 1)) THEN bucket END) AS hi{i}"
        for i, q in enumerate(QUANTILES)
    )
    merged = _merged(stored, group, where)
    if held:
        pending = f"SELECT * FROM ({rollups.pending_sketches(dim)}) AS p WHERE day >= ? AND day < ?"
        merged += f" UNION ALL {_merged(pending, group, where)}"
    return (
        f"WITH s AS ({merged}), "
        f"c AS (SELECT {g}metric, bucket, sum(n) OVER ({part} ORDER BY bucket "
        f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum, sum(n) OVER ({part}) AS total FROM s) "
        f"SELECT {g}metric, max(total) AS total, {bounds} FROM c GROUP BY {g}metric"
    )


def _merged(sketches: str, group: str, where: str) -> str:
    """The `sketches` rows matching `where`, counts added up per group `g` (`group`, or none), metric and
    bucket; buckets left empty (their rows negated, `_stored`) left out. Counts add up as DOUBLE: a third
    cheaper than DuckDB's 128-bit sums, and exact below 2^53."""
    g = f"{group} AS g, " if group else ""
    keys = "g, metric, bucket" if group else "metric, bucket"
    return (
        f"SELECT {g}metric, bucket, sum(CAST(n AS DOUBLE)) AS n FROM ({sketches}) AS sk "
        f"WHERE true{where} GROUP BY {keys} HAVING sum(CAST(n AS DOUBLE)) > 0"
    )


def _quantiles(row: Mapping[str, Any]) -> list[float | None]:
    total, out = int(row["total"]), []
    for i, q in enumerate(QUANTILES):
        rank = q * (total - 1)
        out.append(rollups.interpolate(row[f"lo{i}"], row[f"hi{i}"], rank - math.floor(rank)))
    return out
