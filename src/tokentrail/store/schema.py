"""One logical schema (model.COLUMNS), versioned migrations, and the SQL types of each dialect.

A migration is a version number and the columns or statements it adds. Migration 1 creates every column
that no later migration adds, so a fresh database and an upgraded one end with the same table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Final

from tokentrail.model import (
    BOOL,
    COLUMNS,
    DAILY_COST_COLUMNS,
    FLOAT,
    FLOAT_LIST,
    INT,
    INT_LIST,
    JSON,
    LOG_RECORD_COLUMNS,
    METRIC_COLUMNS,
    SAMPLE_COLUMNS,
    STR,
    STR_LIST,
    TIME,
    TIMELINE_COLUMNS,
)
from tokentrail.store import rollups, span_log

DUCKDB_TYPES = {
    STR: "VARCHAR",
    INT: "BIGINT",
    FLOAT: "DOUBLE",
    BOOL: "BOOLEAN",
    TIME: "TIMESTAMP",
    STR_LIST: "VARCHAR[]",
    INT_LIST: "BIGINT[]",
    FLOAT_LIST: "DOUBLE[]",
    JSON: "VARCHAR",
}

CLICKHOUSE_TYPES = {
    STR: "Nullable(String)",
    INT: "Nullable(Int64)",
    FLOAT: "Nullable(Float64)",
    BOOL: "Bool",
    TIME: "DateTime64(6, 'UTC')",
    STR_LIST: "Array(String)",
    INT_LIST: "Array(Int64)",
    FLOAT_LIST: "Array(Float64)",
    JSON: "String",
}

# What `tokentrail sql` may read, on every backend (schema_migrations is bookkeeping).
QUERYABLE: Final = (
    "calls",
    "spans",
    "metric_points",
    "stream_timelines",
    "budgets",
    "log_records",
    "alert_rules",
    "alert_states",
    "alert_events",
    "alert_deliveries",
    "alert_silences",
    "export_marks",
    rollups.TABLE,
    rollups.DIM_HOURS,
    rollups.SKETCHES,
)
# Columns added after the first version: name -> migration version.
ADDED_IN: dict[str, int] = {"source_record": 4, "prompt_content_id": 9}

# Bedrock rows stored before migration 4 held the GenAI operation (``chat``) in ``operation``; the API name
# (``Converse``, ``InvokeModel``, ...) was kept in this attribute by the importer. Shared by both stores.
BEDROCK_OPERATION_KEY = "aws.bedrock.operation"

Column = tuple[str, str, str]


# Migration 8: named API keys (hashed) and the server secret (keys.py). Never readable by user queries.
AUTH_KEYS_DDL = (
    "CREATE TABLE IF NOT EXISTS auth_keys (id {text}, name {text}, scopes {text}, tenants {text}, "
    "digest {text}, created_at {time})"
)
AUTH_SECRET_DDL = "CREATE TABLE IF NOT EXISTS auth_secret (secret {text}, created_at {time})"

# Migration 11 (DuckDB; 12 on ClickHouse): alerting and exporter bookkeeping. Column kinds: s text, f float,
# t time, i integer, b boolean (all nullable but b). The last item is the ClickHouse sort key.
ALERT_TABLES: Final = (
    ("alert_rules", "name s, definition s, updated_at t", "name"),
    (
        "alert_states",
        "rule s, group_key s, state s, since t, last_true t, last_notified t, value f, expected_low f, "
        "expected_high f, explanation s, updated_at t",
        "rule, group_key",
    ),
    (
        "alert_events",
        "occurred_at t, rule s, group_key s, from_state s, to_state s, value f, expected_low f, "
        "expected_high f, explanation s, severity s",
        "rule, occurred_at",
    ),
    (
        "alert_deliveries",
        "sent_at t, rule s, group_key s, notifier s, event s, attempts i, ok b, error s",
        "sent_at",
    ),
    ("alert_silences", "id s, rule s, matchers s, starts_at t, ends_at t, comment s, created_at t", "id"),
    ("export_marks", "exporter s, target s, last_end t", "exporter, target"),
)
_DUCK_KINDS = {"s": "VARCHAR", "f": "DOUBLE", "t": "TIMESTAMP", "i": "BIGINT", "b": "BOOLEAN"}
_CH_KINDS = {
    "s": "Nullable(String)",
    "f": "Nullable(Float64)",
    "t": "Nullable(DateTime64(6, 'UTC'))",
    "i": "Nullable(Int64)",
    "b": "Bool",
}


def alert_columns(columns: str, clickhouse: bool) -> str:
    """An `ALERT_TABLES` column list in one dialect's types."""
    kinds = _CH_KINDS if clickhouse else _DUCK_KINDS
    return ", ".join(f"{name} {kinds[kind]}" for name, kind in (c.split() for c in columns.split(", ")))


def alert_tables_ddl() -> list[str]:
    """CREATE TABLE statements of DuckDB's migration 11 (ClickHouse's 12: clickhouse_schema.ALERTS)."""
    return [f"CREATE TABLE IF NOT EXISTS {t} ({alert_columns(c, False)})" for t, c, _ in ALERT_TABLES]


# Migration 9: the prompt registry's event log, which is also its hash-chained audit log (prompts/events.py).
PROMPT_EVENTS_DDL = (
    "CREATE TABLE IF NOT EXISTS prompt_events (prompt {text}, seq {int}, kind {text}, actor {text}, "
    "authenticated {bool}, occurred_at {text}, version {nint}, from_version {nint}, stage {ntext}, "
    "reason {ntext}, payload {text}, prev_hash {text}, hash {text})"
)


# Migration 10 (ClickHouse 11): calls counted in an experiment's variant without copying them (a replay's
# baseline is the archived calls themselves): experiments read the calls and the members joined to them.
EXPERIMENT_MEMBERS_DDL = (
    "CREATE TABLE IF NOT EXISTS experiment_members (experiment {text}, variant {text}, trace_id {text}, "
    "span_id {text}, tenant {ntext}, added_at {time})"
)


def initial_columns(columns: tuple[Column, ...] = COLUMNS) -> list[Column]:
    return [c for c in columns if c[0] not in ADDED_IN]


def column_ddl(columns: list[Column], types: dict[str, str]) -> str:
    return ",\n  ".join(f"{name} {types[kind]}" for name, kind, _ in columns)


def span_key(table: str = "") -> str:
    """The DuckDB key of a span's ids (md5 as a 128-bit number), kept in span_keys (which retention must
    prune with the spans). `table` qualifies the columns."""
    prefix = f"{table}." if table else ""
    return f"md5_number({prefix}trace_id || ':' || {prefix}span_id)"


def span_key_values(trace_ids: Iterable[str], span_ids: Iterable[str]) -> list[int]:
    """`span_key()` computed here: DuckDB's md5_number is the md5 digest read as a little-endian number."""
    return [
        int.from_bytes(hashlib.md5(f"{t}:{s}".encode(), usedforsecurity=False).digest(), "little")
        for t, s in zip(trace_ids, span_ids, strict=True)
    ]


def _duckdb_v1() -> list[str]:
    return [
        f"CREATE TABLE spans (\n  {column_ddl(initial_columns(), DUCKDB_TYPES)}\n)",
        "CREATE VIEW calls AS SELECT * FROM spans WHERE kind = 'llm'",
        f"CREATE TABLE metric_points (\n  {column_ddl(list(METRIC_COLUMNS), DUCKDB_TYPES)}\n)",
    ]


def _duckdb_v2() -> list[str]:
    return [
        "CREATE TABLE budgets (scope VARCHAR NOT NULL, value VARCHAR NOT NULL, period VARCHAR NOT NULL, "
        "amount_usd DOUBLE NOT NULL, updated_at TIMESTAMP, PRIMARY KEY (scope, value, period))"
    ]


def _duckdb_v3() -> list[str]:
    return [f"CREATE TABLE stream_timelines (\n  {column_ddl(list(TIMELINE_COLUMNS), DUCKDB_TYPES)}\n)"]


def _duckdb_v4() -> list[str]:
    api_name = f"json_extract_string(attributes, '$.\"{BEDROCK_OPERATION_KEY}\"')"
    return [
        f"ALTER TABLE spans ADD COLUMN source_record {DUCKDB_TYPES[JSON]}",
        f"UPDATE spans SET operation = {api_name} WHERE provider = 'aws.bedrock' AND {api_name} IS NOT NULL",
    ]


def _duckdb_v5() -> list[str]:
    return [f"CREATE TABLE daily_costs (\n  {column_ddl(list(DAILY_COST_COLUMNS), DUCKDB_TYPES)}\n)"]


def _duckdb_v6() -> list[str]:
    # (trace_id, span_id) unique whatever the start time: one 128-bit key per stored span, indexed.
    return [
        "CREATE TABLE span_keys (k UHUGEINT PRIMARY KEY, start_time TIMESTAMP)",
        f"INSERT INTO span_keys SELECT {span_key()}, min(start_time) FROM spans GROUP BY 1",
    ]


def _duckdb_v7() -> list[str]:
    return [f"CREATE TABLE samples (\n  {column_ddl(list(SAMPLE_COLUMNS), DUCKDB_TYPES)}\n)"]


def _duckdb_v8() -> list[str]:
    return [
        AUTH_KEYS_DDL.format(text="VARCHAR", time="TIMESTAMP"),
        AUTH_SECRET_DDL.format(text="VARCHAR", time="TIMESTAMP"),
    ]


def _duckdb_v9() -> list[str]:
    return [
        PROMPT_EVENTS_DDL.format(
            text="VARCHAR", ntext="VARCHAR", int="BIGINT", nint="BIGINT", bool="BOOLEAN"
        ),
        "ALTER TABLE spans ADD COLUMN prompt_content_id VARCHAR",
    ]


def _duckdb_v10() -> list[str]:
    return [EXPERIMENT_MEMBERS_DDL.format(text="VARCHAR", ntext="VARCHAR", time="TIMESTAMP")]


def _duckdb_v11() -> list[str]:  # log records kept (TOKENTRAIL_KEEP_LOGS); the key makes a retry add nothing
    columns = column_ddl(list(LOG_RECORD_COLUMNS), DUCKDB_TYPES)
    return [f"CREATE TABLE log_records (\n  {columns},\n  PRIMARY KEY (record_id)\n)"]


def _duckdb_v12() -> list[str]:
    return alert_tables_ddl()


def _duckdb_v13() -> list[str]:  # the rollups of long ranges, backfilled from the stored calls
    # in the buckets of GAMMA_V13, as when it was written: migration 15 re-buckets them
    return [
        *rollups.duckdb_ddl(),
        *rollups.upserts("spans", "kind = 'llm'", gamma=rollups.GAMMA_V13, schema=13),
    ]


def _duckdb_v14() -> list[str]:  # held calls: a view of the calls stored after a mark, not a second copy
    return rollups.duckdb_pending_view()


def _duckdb_v15() -> list[str]:  # sketches in buckets twice as wide: half the rows for long views to merge
    return rollups.duckdb_rebucket()


def _duckdb_v16() -> list[str]:  # the sketches per week too: a month's view merges a third of the rows
    return rollups.duckdb_weeks()


def _duckdb_v17() -> list[str]:  # call_rollups appended to without a key (its index cost the memory)
    return rollups.duckdb_unkeyed()


def _duckdb_v18() -> list[str]:  # small groups of received spans committed to a log table first
    return [span_log.LEGACY_DDL]


def _duckdb_v19() -> list[str]:  # the span log is a file beside the database (store/span_log.py)
    return ["DROP TABLE IF EXISTS span_log"]


def duckdb_migrations() -> list[tuple[int, Callable[[], list[str]]]]:
    """(version, statements) in order; each list is applied in one transaction."""
    steps = (
        _duckdb_v1,
        _duckdb_v2,
        _duckdb_v3,
        _duckdb_v4,
        _duckdb_v5,
        _duckdb_v6,
        _duckdb_v7,
        _duckdb_v8,
        _duckdb_v9,
        _duckdb_v10,
        _duckdb_v11,
        _duckdb_v12,
        _duckdb_v13,
        _duckdb_v14,
        _duckdb_v15,
        _duckdb_v16,
        _duckdb_v17,
        _duckdb_v18,
        _duckdb_v19,
    )
    return [(n, step) for n, step in enumerate(steps, start=1)]
