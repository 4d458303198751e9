"""Rollups of LLM calls for long ranges: the one place their schema and SQL are defined (both stores take them
from here). Every statement is in the DuckDB dialect; ClickHouse's is transpiled.

Two tables:

- ``call_rollups``: per hour and per combination of the dimensions `DIMS` (provider, model, app, feature,
  tenant, team, cost centre, environment, prompt version, variant, error class), the sums `SUMS`: calls,
  errors, unpriced and degraded calls, attempts, tokens by kind, prompt characters, and costs in integer
  nano-dollars (so sums are exact in any order). A nullable column ``x`` is kept as ``x`` (nulls as 0) and
  ``x_n`` (how many calls had it), so a sum over no recorded values reads as NULL, as over the raw table.
- ``call_sketches``: per UTC day, per single dimension value (``dim`` one of `DIMS`, or ``''`` for the day's
  total; ``value`` the value as text, ``null_value`` for NULL), mergeable log-bucket sketches of `SKETCHED`
  (latency, TTFT, tokens per second, the per-call p95 inter-token gap): ``(metric, bucket) -> n`` with
  ``bucket = ceil(ln(x) / ln(GAMMA))``. A bucket's representative value is within (GAMMA-1)/(GAMMA+1), 1.98 %,
  of every value in it. Per day and per single dimension, not per hour and combination: the by-tenant view
  over 30 days then merges about three million bucket rows rather than tens of millions of calls. GAMMA is
  1.02 squared: files written with GAMMA 1.02 (to schema 14) had twice as many buckets, and their bucket b is
  exactly bucket ceil(b / 2) now, so migration 15 re-buckets them (`rebucket_select`) without the calls.

On DuckDB, ``call_sketch_weeks`` holds the same sketches summed per ISO week (from Monday, UTC) over the days
that are over and sealed (`SEALED`, moved to each new day's midnight by the first roll-up of the day): a
long view reads its weeks there, takes the days of them outside its range out again (read negated) and reads
the days they do not hold (today's) from ``call_sketches``; a month by tenant over 30 M calls then merges
0.69 M rows rather than 3.15 M. Every write of a sealed day writes its week in the same transaction
(`upserts`; retention takes the days it deletes out of their weeks, `WEEKS_LESS_DAYS`), so a week's rows
always equal the sum of its sealed days'.

Rows are deltas. DuckDB holds new calls and rolls them up a batch at a time, off the writer's commits
(`upserts`, store/held.py): the per-dimension rows are upserted, ``call_rollups``' rows appended (no key: an
upsert on its hash key took ~750 MB on a month's file); ClickHouse appends them to SummingMergeTrees
(`inserts`), which add up rows of equal keys when they merge. Readers always ``sum()`` per key, so every
answer is exact whatever has been merged. A reprice adds the stored versions
negated and then the new ones; a duplicate is never new, so it adds nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Final

import sqlglot

from tokentrail.model import ErrorClass

TABLE: Final = "call_rollups"
DIM_HOURS: Final = "call_dim_hours"
SKETCHES: Final = "call_sketches"
WEEKS: Final = "call_sketch_weeks"  # DuckDB: the sketches per ISO week (see the module docstring)
TABLES: Final = (TABLE, DIM_HOURS, SKETCHES)
GAMMA: Final = 1.0404  # 1.02 squared (see the module docstring)
# the DuckDB schema whose rollups reads know: a file opened read-only at an older one is scanned
SCHEMA: Final = 17
GAMMA_V13: Final = 1.02  # the buckets of DuckDB's migration 13 and ClickHouse's 14, which 15 re-buckets
ZERO_BUCKET: Final = -32768  # values <= 0 (read back as 0)
NANO: Final = 1_000_000_000

# dimension -> SQL over a calls row
DIMS: Final[dict[str, str]] = {
    "provider": "provider",
    "model": "coalesce(response_model, request_model)",
    "app": "app",
    "feature": "feature",
    "tenant": "tenant",
    "team": "team",
    "cost_center": "cost_center",
    "environment": "environment",
    "prompt_version": "prompt_version",
    "variant": "variant",
    "error_class": "error_class",
}
TOTAL: Final = ""  # the dim of a day's total sketch

_CLASS = "coalesce(error_class, 'other')"
_COUNTS = {
    "calls": "1",
    "errors": "CASE WHEN status = 'error' THEN 1 ELSE 0 END",
    **{  # an error without a class counts as 'other', as in analytics
        f"errors_{c}": f"CASE WHEN status = 'error' AND {_CLASS} = '{c}' THEN 1 ELSE 0 END"
        for c in ErrorClass
    },
    "unpriced_calls": "CASE WHEN cost_usd IS NULL AND status = 'ok' THEN 1 ELSE 0 END",
    "degraded_calls": "CASE WHEN degraded IS NOT NULL THEN 1 ELSE 0 END",
}
_NULLABLE = {
    "attempts": "attempts",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_tokens": "cache_read_tokens",
    "cache_write_tokens": "cache_write_tokens",
    "reasoning_tokens": "reasoning_tokens",
    "prompt_chars": "prompt_chars",
    **{
        f"{k}_nusd": f"CAST(round({k}_usd * {NANO}) AS BIGINT)"
        for k in ("cost", "input_cost", "cache_cost", "output_cost")
    },
}
# summed column -> its value in one calls row
SUMS: Final[dict[str, str]] = {
    **_COUNTS,
    **{k: f"coalesce({e}, 0)" for k, e in _NULLABLE.items()},
    **{f"{k}_n": f"CASE WHEN {e} IS NULL THEN 0 ELSE 1 END" for k, e in _NULLABLE.items()},
}
NULLABLE_SUMS: Final = tuple(_NULLABLE)
# sketched metric -> column
SKETCHED: Final[dict[str, str]] = {
    "latency": "duration_ms",
    "ttft": "ttft_ms",
    "throughput": "output_tokens_per_s",
    "itl": "itl_p95_ms",
}
DIM_HOUR_KEY: Final = ("hour", "dim", "value", "null_value")
SKETCH_KEY: Final = ("day", "dim", "value", "null_value", "metric", "bucket")
WEEK_KEY: Final = ("week", *SKETCH_KEY[1:])
ROLLUP_COLUMNS: Final = ("hour", *DIMS, *SUMS)  # call_rollups' columns in order (DuckDB to 16: after `k`)

# raw columns the sums and sketches read besides the dimensions; renamed c_<name> in the inner SELECT, since
# ClickHouse would resolve a raw name to an output alias of the same name
_RAW = (
    "status",
    "degraded",
    "error_class",
    *(f"{k}_usd" for k in ("cost", "input_cost", "cache_cost", "output_cost")),
    *(c for c in _NULLABLE.values() if c.isidentifier()),
    *SKETCHED.values(),
)
_RAW_NAME = re.compile(rf"\b({'|'.join(_RAW)})\b")
# DuckDB: new calls wait to be rolled up together (the rollup statements cost about 40 ms to plan whatever
# their input); reads add them in. They are the calls stored after the mark: the writer stamps each group's
# spans with a `received_at` later than any before, and rolling up moves the mark to the last stamp, in the
# same transaction (store/held.py). A view, so holding a call costs nothing beyond storing it.
PENDING: Final = "rollup_pending"
MARK: Final = "rollup_mark"
PENDING_VIEW: Final = (
    f"CREATE OR REPLACE VIEW {PENDING} AS SELECT * FROM spans "
    f"WHERE kind = 'llm' AND received_at > (SELECT mark FROM {MARK})"
)
PENDING_COLUMNS: Final = tuple(
    c
    for c in dict.fromkeys(("kind", "start_time", "response_model", "request_model", *DIMS, *_RAW))
    if c != "model"
)


def _raw(expr: str) -> str:
    return _RAW_NAME.sub(r"c_\1", expr)


_KEY = "{t} TIMESTAMP NOT NULL, dim VARCHAR NOT NULL, value VARCHAR NOT NULL, null_value BOOLEAN NOT NULL"
_CH_KEY = "{t} DateTime64(6, 'UTC'), dim LowCardinality(String), value String, null_value Bool"


def _primary(key: tuple[str, ...]) -> str:
    return f"PRIMARY KEY ({', '.join(key)})"


def _duckdb_sketches(name: str, key: tuple[str, ...] = SKETCH_KEY, create: str = "CREATE TABLE") -> str:
    """The metric an ENUM: a byte to scan and group by rather than a string (a tenth off a long view's
    merge); a new sketched metric needs a migration that adds it to the type."""
    metric = f"ENUM({', '.join(repr(m) for m in SKETCHED)})"
    return (
        f"{create} {name} ({_KEY.format(t=key[0])}, metric {metric} NOT NULL, bucket INTEGER NOT NULL, "
        f"n BIGINT NOT NULL, {_primary(key)})"
    )


# Days before `sealed` (a column of `MARK`) are also kept in their weeks in `WEEKS`: every roll-up adds its
# calls of those days to them (late calls: usually none), and the first roll-up of a new day seals the days
# before it, adding them to their weeks in one statement (`SEAL_DAYS`, held.seal_days).
SEALED: Final = f"(SELECT sealed FROM {MARK})"


def _weeks_select(source: str, where: str = "true", sign: int = 1) -> str:
    """`WEEKS`' rows (`WEEK_KEY`, then n) of the daily sketch rows of `source` matching `where`."""
    keys = ", ".join(SKETCH_KEY[1:])
    return (
        f"SELECT date_trunc('week', day) AS week, {keys}, CAST(sum(n) * {sign} AS BIGINT) AS n "
        f"FROM {source} WHERE {where} GROUP BY ALL"
    )


def _add_counts(table: str, key: tuple[str, ...], select: str) -> str:
    """Upsert `select`'s sketch rows (`key`, then n) into `table`, adding to the counts stored."""
    keys = ", ".join(key)
    return (
        f"INSERT INTO {table} ({keys}, n) {select} "
        f"ON CONFLICT ({keys}) DO UPDATE SET n = {table}.n + excluded.n"
    )


def duckdb_weeks() -> list[str]:
    """DuckDB migration 16: `WEEKS`, and the weeks before the current one (UTC) sealed from the daily
    sketches (made anew if a test runs the migration again)."""
    this_week = "date_trunc('week', CAST(current_timestamp AT TIME ZONE 'UTC' AS TIMESTAMP))"
    return [
        _duckdb_sketches(WEEKS, WEEK_KEY, "CREATE OR REPLACE TABLE"),
        f"ALTER TABLE {MARK} ADD COLUMN IF NOT EXISTS sealed TIMESTAMP",
        f"UPDATE {MARK} SET sealed = {this_week}",
        _add_counts(WEEKS, WEEK_KEY, _weeks_select(SKETCHES, f"day < {SEALED}")),
    ]


# Sealing the days before ? (a midnight, after `sealed`): added to their weeks, the mark moved to ?
SEAL_DAYS: Final = (
    _add_counts(WEEKS, WEEK_KEY, _weeks_select(SKETCHES, f"day >= {SEALED} AND day < ?")),
    f"UPDATE {MARK} SET sealed = ?",
)
# Retention, before it deletes the daily sketches of [?, ?): their counts out of their weeks, if sealed (? ?)
WEEKS_LESS_DAYS: Final = (
    _add_counts(WEEKS, WEEK_KEY, _weeks_select(SKETCHES, f"day >= ? AND day < ? AND day < {SEALED}", -1)),
    f"DELETE FROM {WEEKS} WHERE n = 0 AND week >= date_trunc('week', CAST(? AS TIMESTAMP)) AND week < ?",
)


def duckdb_ddl() -> list[str]:
    dims = ", ".join(f"{d} VARCHAR" for d in DIMS)
    sums = ", ".join(f"{name} BIGINT NOT NULL" for name in SUMS)
    return [
        f"CREATE TABLE {TABLE} (k UHUGEINT PRIMARY KEY, hour TIMESTAMP NOT NULL, {dims}, {sums})",
        f"CREATE TABLE {DIM_HOURS} ({_KEY.format(t='hour')}, {sums}, {_primary(DIM_HOUR_KEY)})",
        _duckdb_sketches(SKETCHES),
        f"CREATE TABLE IF NOT EXISTS {PENDING} AS SELECT {', '.join(PENDING_COLUMNS)} FROM spans LIMIT 0",
    ]


_REBUCKETED = f"{SKETCHES}_rebucketed"


def rebucket_select() -> str:
    """`SKETCHES`' rows written with GAMMA 1.02, in buckets of GAMMA = 1.02 squared: old bucket b covers
    (1.02^(b-1), 1.02^b], which lies inside new bucket ceil(b / 2); counts of equal keys added up."""
    bucket = f"CASE WHEN bucket = {ZERO_BUCKET} THEN bucket ELSE CAST(ceil(bucket / 2) AS INTEGER) END"
    keys = ", ".join(SKETCH_KEY).replace("bucket", "b")  # no alias named as a column (ClickHouse)
    return (
        f"SELECT {keys}, CAST(sum(n) AS BIGINT) AS total FROM (SELECT *, {bucket} AS b FROM {SKETCHES}) AS s "
        f"GROUP BY {keys}"
    )


def duckdb_rebucket() -> list[str]:
    """DuckDB migration 15: the sketches in the buckets of the current GAMMA (`rebucket_select`)."""
    return [
        _duckdb_sketches(_REBUCKETED),
        f"INSERT INTO {_REBUCKETED} {rebucket_select()}",
        f"DROP TABLE {SKETCHES}",
        f"ALTER TABLE {_REBUCKETED} RENAME TO {SKETCHES}",
    ]


def clickhouse_rebucket() -> list[str]:
    """ClickHouse migration 15: as `duckdb_rebucket` (the new table has no TTL: retention's next run sets it,
    as it compares every table's TTL with the policy on each run)."""
    insert = f"INSERT INTO {_REBUCKETED} {rebucket_select()}"
    return [
        f"DROP TABLE IF EXISTS {_REBUCKETED}",
        _clickhouse_sketches(_REBUCKETED),
        sqlglot.transpile(insert, read="duckdb", write="clickhouse")[0],
        f"DROP TABLE {SKETCHES}",
        f"RENAME TABLE {_REBUCKETED} TO {SKETCHES}",
    ]


def duckdb_pending_view() -> list[str]:
    """DuckDB migration 14: the calls held in migration 13's table rolled up, the table replaced by the view
    of the calls stored after the mark (every call stored so far is then rolled up)."""
    return [
        *upserts(PENDING, "true", schema=14),
        f"DROP TABLE {PENDING}",
        f"CREATE OR REPLACE TABLE {MARK} AS "
        "SELECT coalesce(max(received_at), TIMESTAMP '1970-01-01') AS mark FROM spans",
        PENDING_VIEW,
    ]


def clickhouse_ddl() -> list[str]:
    """SummingMergeTrees: merges add up rows of equal keys; reads sum() anyway: exact in any merge state."""
    dims = ", ".join(f"{d} Nullable(String)" for d in DIMS)
    sums = ", ".join(f"{name} Int64" for name in SUMS)
    order = ", ".join(f"ifNull({d}, '')" for d in DIMS)
    nulls = ", ".join(f"isNull({d})" for d in DIMS)
    return [
        f"CREATE TABLE IF NOT EXISTS {TABLE} (hour DateTime64(6, 'UTC'), {dims}, {sums}) "
        f"ENGINE = SummingMergeTree PARTITION BY toYYYYMM(hour) ORDER BY (hour, {order}, {nulls}) "
        "SETTINGS allow_nullable_key = 1",
        f"CREATE TABLE IF NOT EXISTS {DIM_HOURS} ({_CH_KEY.format(t='hour')}, {sums}) "
        "ENGINE = SummingMergeTree PARTITION BY toYYYYMM(hour) ORDER BY (dim, hour, value, null_value)",
        _clickhouse_sketches(SKETCHES),
    ]


def _clickhouse_sketches(name: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {name} ({_CH_KEY.format(t='day')}, metric LowCardinality(String), "
        "bucket Int32, n Int64) ENGINE = SummingMergeTree PARTITION BY toYYYYMM(day) "
        "ORDER BY (dim, metric, day, value, null_value, bucket)"
    )


def _inner(source: str, where: str, time_unit: str, names: Sequence[str] = tuple(DIMS)) -> str:
    """The calls of `source` matching `where`: their hour or day `t`, dimensions d_<name> (of `names`), raw
    c_<name>."""
    dims = (f"{DIMS[name]} AS d_{name}" for name in names)
    raw = (f"{c} AS c_{c}" for c in _RAW)
    return (
        f"SELECT date_trunc('{time_unit}', start_time) AS t, {', '.join([*dims, *raw])} "
        f"FROM {source} WHERE {where}"
    )


def sums_select(source: str, where: str, sign: int = 1, names: Sequence[str] = tuple(DIMS)) -> str:
    """call_rollups rows (columns in `ROLLUP_COLUMNS` order) of the calls in `source` matching `where`,
    times `sign`; given `names` (reads), grouped by hour and those dimensions only."""
    keys = ", ".join(["t", *(f"d_{d}" for d in names)])
    sums = ", ".join(f"CAST(sum({_raw(e)}) * {sign} AS BIGINT) AS s_{name}" for name, e in SUMS.items())
    return f"SELECT {keys}, {sums} FROM ({_inner(source, where, 'hour', names)}) AS r GROUP BY {keys}"


def bucket_sql(column: str, gamma: float = GAMMA) -> str:
    log_bucket = f"CAST(ceil(ln({column}) * {1 / math.log(gamma)!r}) AS INTEGER)"
    return f"CASE WHEN {column} > 0 THEN {log_bucket} ELSE {ZERO_BUCKET} END"


_DIM_NAMES = " UNION ALL ".join(f"SELECT '{d}' AS dim" for d in (TOTAL, *DIMS))
_PICKED = "CASE k.dim " + " ".join(f"WHEN '{d}' THEN CAST(d_{d} AS VARCHAR)" for d in DIMS) + " END"


def _per_dim(select: str, group: str) -> str:
    """`select` grouped per hour or day `t` and single dimension value (and the total), over the CTE `v`:
    each row is paired with every dimension name and the one value it picks, then grouped once."""
    null = f"CAST(k.dim != '' AND {_PICKED} IS NULL AS BOOLEAN)"
    return (
        f"SELECT t, k.dim, coalesce({_PICKED}, '') AS value, {null} AS null_value, {select} "
        f"FROM v CROSS JOIN ({_DIM_NAMES}) AS k GROUP BY t, k.dim, coalesce({_PICKED}, ''), {null}{group}"
    )


def dim_hours_select(source: str, where: str, sign: int = 1) -> str:
    """call_dim_hours rows (`DIM_HOUR_KEY`, then `SUMS`) of the calls in `source` matching `where`."""
    sums = ", ".join(f"CAST(sum({_raw(e)}) * {sign} AS BIGINT) AS s_{name}" for name, e in SUMS.items())
    return f"WITH v AS ({_inner(source, where, 'hour')}) {_per_dim(sums, '')}"


def sketches_select(source: str, where: str, sign: int = 1, gamma: float = GAMMA) -> str:
    """call_sketches rows (`SKETCH_KEY`, then n) of the calls in `source` matching `where`."""
    dims = ", ".join(f"d_{d}" for d in DIMS)
    values = " UNION ALL ".join(
        f"SELECT t, {dims}, '{metric}' AS metric, {bucket_sql('c_' + column, gamma)} AS bucket FROM r "
        f"WHERE c_{column} IS NOT NULL"
        for metric, column in SKETCHED.items()
    )
    counts = _per_dim(f"metric, bucket, CAST(count(*) * {sign} AS BIGINT) AS n", ", metric, bucket")
    return f"WITH r AS ({_inner(source, where, 'day')}), v AS ({values}) {counts}"


def pending_sketches(dim: str) -> str:
    """`call_sketches`' rows (day, value, null_value, metric, bucket, n) of one dimension (`TOTAL`: the day's
    total) over the calls waiting in `PENDING`, read once (a materialised CTE: four scans of them cost a
    30-day by-tenant report ~13 ms more with 700 held over 30 M calls)."""
    expr = DIMS.get(dim)
    value = "''" if expr is None else f"coalesce(CAST({expr} AS VARCHAR), '')"
    null = "false" if expr is None else f"{expr} IS NULL"
    held = (
        f"SELECT date_trunc('day', start_time) AS day, {value} AS value, {null} AS null_value, "
        f"{', '.join(SKETCHED.values())} FROM {PENDING}"
    )
    each = " UNION ALL ".join(
        f"SELECT day, value, null_value, '{metric}' AS metric, {bucket_sql(column)} AS bucket FROM held "
        f"WHERE {column} IS NOT NULL"
        for metric, column in SKETCHED.items()
    )
    return (
        f"WITH held AS MATERIALIZED ({held}) "
        f"SELECT day, value, null_value, metric, bucket, count(*) AS n FROM ({each}) AS m GROUP BY ALL"
    )


def _key() -> str:
    """DuckDB's 128-bit key of a rollup row: its hour and dimensions, each length-prefixed (NULL as '-')."""
    parts = " || '|' || ".join(f"coalesce(length({d}) || ':' || {d}, '-')" for d in DIMS)
    return f"md5_number(CAST(hour AS VARCHAR) || '|' || {parts})"


def upserts(source: str, where: str, sign: int = 1, gamma: float = GAMMA, schema: int = SCHEMA) -> list[str]:
    """DuckDB: add the rollups of `source`'s calls matching `where` (times `sign`) to the stored ones (in
    buckets of `gamma`), as the tables of `schema` keep them (migrations 13 and 14 run older statements):
    from 16 the sketches of calls of sealed days go to their weeks too; from 17 `TABLE` takes its rows
    appended, without a key (readers add rows up per group, as on ClickHouse): its upsert keyed by a 128-bit
    hash took ~100 MB per 50,000 calls, and ~750 MB at the first roll-up after opening a 30 M-call file."""
    named = ", ".join(f"{a} AS {b}" for a, b in zip(_sums_aliases(), ROLLUP_COLUMNS, strict=True))
    add_sums = ", ".join(f"{c} = {TABLE}.{c} + excluded.{c}" for c in SUMS)
    columns, day_keys = ", ".join(ROLLUP_COLUMNS), ", ".join(DIM_HOUR_KEY)
    sums = f"SELECT {named} FROM ({sums_select(source, where, sign)}) AS s"
    sealed = sketches_select(source, f"({where}) AND start_time < {SEALED}", sign, gamma)
    weeks = _add_counts(WEEKS, WEEK_KEY, _weeks_select(f"({sealed}) AS d({', '.join(SKETCH_KEY)}, n)"))
    return [
        f"INSERT INTO {TABLE} ({columns}) {sums}"
        if schema >= 17
        else f"INSERT INTO {TABLE} (k, {columns}) SELECT {_key()}, * FROM ({sums}) AS named "
        f"ON CONFLICT (k) DO UPDATE SET {add_sums}",
        f"INSERT INTO {DIM_HOURS} ({day_keys}, {', '.join(SUMS)}) {dim_hours_select(source, where, sign)} "
        f"ON CONFLICT ({day_keys}) DO UPDATE SET {add_sums.replace(TABLE, DIM_HOURS)}",
        _add_counts(SKETCHES, SKETCH_KEY, sketches_select(source, where, sign, gamma)),
        *([weeks] if schema >= 16 else []),
    ]


def duckdb_unkeyed() -> list[str]:
    """DuckDB migration 17: `TABLE` without its key column and primary key (see `upserts`)."""
    columns = ", ".join(ROLLUP_COLUMNS)
    return [
        f"CREATE TABLE {TABLE}_unkeyed AS SELECT {columns} FROM {TABLE}",
        f"DROP TABLE {TABLE}",
        f"ALTER TABLE {TABLE}_unkeyed RENAME TO {TABLE}",
    ]


def _sums_aliases() -> list[str]:
    return ["t", *(f"d_{d}" for d in DIMS), *(f"s_{name}" for name in SUMS)]


def inserts(source: str, where: str, sign: int = 1, gamma: float = GAMMA) -> list[str]:
    """ClickHouse (DuckDB dialect, to transpile): append the rollups of `source`'s calls matching `where`."""
    return [
        f"INSERT INTO {TABLE} {sums_select(source, where, sign)}",
        f"INSERT INTO {DIM_HOURS} {dim_hours_select(source, where, sign)}",
        f"INSERT INTO {SKETCHES} {sketches_select(source, where, sign, gamma)}",
    ]


def clickhouse_inserts(source: str, where: str, sign: int = 1, gamma: float = GAMMA) -> list[str]:
    """`inserts` in ClickHouse's dialect."""
    statements = inserts(source, where, sign, gamma)
    return [sqlglot.transpile(sql, read="duckdb", write="clickhouse")[0] for sql in statements]


def clickhouse_migration() -> list[str]:
    """ClickHouse migration 14: the tables, backfilled from the stored calls (buckets of `GAMMA_V13`, as
    when it was written: migration 15 re-buckets them)."""
    return [*clickhouse_ddl(), *clickhouse_inserts("spans", "kind = 'llm'", gamma=GAMMA_V13)]


def bucket_value(bucket: int) -> float:
    """The representative value of a bucket: within (GAMMA-1)/(GAMMA+1), 1.98 %, of every value in it."""
    return 0.0 if bucket == ZERO_BUCKET else 2 * GAMMA**bucket / (GAMMA + 1)


def interpolate(low: int | None, high: int | None, fraction: float) -> float | None:
    """quantile_cont's interpolation between the values at two adjacent ranks, read from their buckets."""
    if low is None or high is None:
        return None
    a, b = bucket_value(low), bucket_value(high)
    return a + (b - a) * fraction
