"""The ClickHouse DDL, for one server or for a cluster: the one source of what `ClickHouseStore` applies and
`tokentrail clickhouse schema [--cluster NAME]` prints.

One server: each table is a (Replacing/Aggregating)MergeTree under its own name.

A cluster (`Layout(cluster="NAME")`, from `clickhouse://...?cluster=NAME`): every statement runs
`ON CLUSTER`. Sharded tables (spans, stream_timelines, samples, log_records, metric_points, calls_hourly) are
a Replicated*MergeTree `<name>_local` on every node, replicated between the replicas of a shard through
Keeper (`{shard}`/`{replica}` macros), and a `Distributed` table `<name>` over them; spans and their
timelines and samples, and the log records kept, are sharded by `cityHash64(trace_id)`, so a trace stays on
one shard (log records with no trace id by their own record_id). The small
tables (budgets, daily_costs, auth_keys, auth_secret, prompt_events, schema_migrations) are replicated to
every node and not sharded.

TTL: when `TOKENTRAIL_RETENTION_CALLS` / `_METRIC_POINTS` / `_ROLLUPS` are set (days, `30` or `30d`),
the tables get `TTL <time> + INTERVAL n DAY`; unset means kept forever.

Rollups: `calls_hourly` is an AggregatingMergeTree fed by a materialized view on inserts into spans (LLM
calls only): per hour and label set, the states of call, error and token sums, cost, and t-digest quantile
states of TTFT, latency and output tokens/s. Read it with the -Merge combinators (`sumMerge(calls)`,
`quantilesTDigestMerge(0.5, 0.95)(latency_ms)`). A view sees each inserted block, so a span that two
racing collectors insert twice (which the spans table later collapses) is counted twice in the rollup.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

from tokentrail.model import (
    COLUMNS,
    DAILY_COST_COLUMNS,
    JSON,
    LOG_RECORD_COLUMNS,
    METRIC_COLUMNS,
    SAMPLE_COLUMNS,
    STR,
    TIMELINE_COLUMNS,
)
from tokentrail.store import rollups
from tokentrail.store.schema import (
    ALERT_TABLES,
    AUTH_KEYS_DDL,
    AUTH_SECRET_DDL,
    BEDROCK_OPERATION_KEY,
    CLICKHOUSE_TYPES,
    EXPERIMENT_MEMBERS_DDL,
    PROMPT_EVENTS_DDL,
    alert_columns,
    initial_columns,
)

REQUIRED = {
    "trace_id": "String",
    "span_id": "String",
    "kind": "LowCardinality(String)",
    "name": "String",
    "status": "LowCardinality(String)",
    "source": "LowCardinality(String)",
    "start_time": "DateTime64(6, 'UTC')",
    "record_id": "String",
}
LOW_CARDINALITY = {
    "provider",
    "operation",
    "error_class",
    "app",
    "feature",
    "team",
    "cost_center",
    "environment",
    "service",
    "price_source",
    "stop_reason",
    "request_model",
    "response_model",
}
NULLABLE_KEY = " SETTINGS allow_nullable_key = 1"  # the alert tables' keys are nullable columns
NULLABLE_JSON = {"source_record"}  # absent for most rows: null, not ''
RETENTION_ENV = {"calls": "TOKENTRAIL_RETENTION_CALLS", "metrics": "TOKENTRAIL_RETENTION_METRIC_POINTS"}
RETENTION_ENV["rollups"] = "TOKENTRAIL_RETENTION_ROLLUPS"


def ch_type(name: str, kind: str) -> str:
    if name in REQUIRED:
        return REQUIRED[name]
    if name in NULLABLE_JSON:
        return "Nullable(String)"
    base = CLICKHOUSE_TYPES[kind]
    if kind == "time":
        return f"Nullable({base})"
    if name in LOW_CARDINALITY:
        return f"LowCardinality({base})"
    return base


def column_list(columns: Sequence[tuple[str, str, str]]) -> str:
    return ",\n  ".join(f"{name} {ch_type(name, kind)}" for name, kind, _ in columns)


def retention_days(env: Mapping[str, str] | None = None) -> dict[str, int]:
    """Days to keep per kind of data, from TOKENTRAIL_RETENTION_*; raises ValueError on a bad value."""
    env = os.environ if env is None else env
    days = {}
    for kind, var in RETENTION_ENV.items():
        text = env.get(var, "").strip().lower().removesuffix("d")
        if text:
            if not text.isdigit() or int(text) == 0:
                raise ValueError(f"{var} must be a whole number of days, like 30 or 30d; got {env[var]!r}")
            days[kind] = int(text)
    return days


@dataclasses.dataclass(frozen=True)
class Table:
    name: str
    columns: str
    engine: str  # a MergeTree family engine, with its arguments if any: "ReplacingMergeTree(updated_at)"
    keys: str  # PARTITION BY / ORDER BY
    shard_by: str | None = None  # None: not sharded (on a cluster, replicated to every node)
    ttl: tuple[str, str] | None = None  # (time expression, retention kind)
    settings: str = ""  # after the keys and TTL: " SETTINGS ..."


@dataclasses.dataclass(frozen=True)
class Layout:
    cluster: str | None = None
    retention: Mapping[str, int] = dataclasses.field(default_factory=dict)

    @property
    def on(self) -> str:
        return f" ON CLUSTER {self.cluster}" if self.cluster else ""

    def local(self, table: Table) -> str:
        """The name rows are stored under: `<name>_local` for a sharded table on a cluster."""
        return f"{table.name}_local" if self.cluster and table.shard_by else table.name

    def engine(self, table: Table) -> str:
        if not self.cluster:
            return table.engine
        name, _, args = table.engine.partition("(")
        shard = "{shard}" if table.shard_by else "all"
        path = f"'/clickhouse/tables/{shard}/{{database}}/{self.local(table)}', '{{replica}}'"
        extra = f", {args.rstrip(')')}" if args else ""
        return f"Replicated{name}({path}{extra})"

    def ttl(self, table: Table) -> str:
        if table.ttl is None or table.ttl[1] not in self.retention:
            return ""
        return f" TTL {table.ttl[0]} + INTERVAL {self.retention[table.ttl[1]]} DAY"

    def create(self, table: Table) -> list[str]:
        local = self.local(table)
        statements = [
            f"CREATE TABLE IF NOT EXISTS {local}{self.on} (\n  {table.columns}\n) "
            f"ENGINE = {self.engine(table)} {table.keys}{self.ttl(table)}{table.settings}"
        ]
        if local != table.name:
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {table.name}{self.on} AS {local} "
                f"ENGINE = Distributed({self.cluster}, currentDatabase(), {local}, {table.shard_by})"
            )
        return statements

    def add_column(self, table: Table, column: str) -> list[str]:
        names = dict.fromkeys([self.local(table), table.name])  # the local table first, then Distributed
        return [f"ALTER TABLE {name}{self.on} ADD COLUMN IF NOT EXISTS {column}" for name in names]

    def alter(self, table: Table, clause: str) -> str:
        return f"ALTER TABLE {self.local(table)}{self.on} {clause}"

    def mutate(self, table: Table, clause: str) -> str:
        return self.alter(table, f"{clause} SETTINGS mutations_sync = 2")

    def optimize(self, table: Table) -> str:
        return f"OPTIMIZE TABLE {self.local(table)}{self.on} FINAL"


SPANS = Table(
    "spans",
    column_list(initial_columns(COLUMNS)),
    "ReplacingMergeTree",
    "PARTITION BY toYYYYMM(start_time) ORDER BY (kind, toStartOfHour(start_time), trace_id, span_id)",
    shard_by="cityHash64(trace_id)",
    ttl=("toDateTime(start_time)", "calls"),
)
METRIC_POINTS = Table(
    "metric_points",
    column_list(METRIC_COLUMNS),
    "MergeTree",
    "ORDER BY (name, assumeNotNull(time))",
    shard_by="rand()",
    ttl=("toDateTime(assumeNotNull(time))", "metrics"),
)
BUDGETS = Table(
    "budgets",
    "scope String, value String, period String, amount_usd Float64, updated_at DateTime64(6, 'UTC')",
    "ReplacingMergeTree(updated_at)",
    "ORDER BY (scope, value, period)",
)
TIMELINES = Table(
    "stream_timelines",
    column_list(TIMELINE_COLUMNS),
    "ReplacingMergeTree",
    "ORDER BY (trace_id, span_id)",
    shard_by="cityHash64(trace_id)",
    ttl=("toDateTime(start_time)", "calls"),
)
DAILY_COSTS = Table(  # retention's chargeback rollup: small, replicated to every node on a cluster
    "daily_costs",
    column_list(DAILY_COST_COLUMNS),
    "MergeTree",
    "ORDER BY assumeNotNull(day)",
    ttl=("toDateTime(assumeNotNull(day))", "rollups"),
)
SAMPLES = Table(  # captured content, sharded like the spans it belongs to
    "samples",
    column_list(SAMPLE_COLUMNS),
    "ReplacingMergeTree",
    "PARTITION BY toYYYYMM(start_time) ORDER BY (toDate(start_time), trace_id, span_id)",
    shard_by="cityHash64(trace_id)",
)

LOG_RECORDS = Table(  # log records kept (TOKENTRAIL_KEEP_LOGS); those with no trace id spread by their own id
    "log_records",
    column_list(LOG_RECORD_COLUMNS),
    "ReplacingMergeTree",
    "PARTITION BY toYYYYMM(assumeNotNull(time)) ORDER BY (toStartOfHour(assumeNotNull(time)), record_id)",
    shard_by="cityHash64(if(trace_id = '', record_id, trace_id))",
    ttl=("toDateTime(assumeNotNull(time))", "calls"),
)


TEMPLATE_TYPES = {  # the placeholders of the DDL templates in store/schema.py, in ClickHouse types
    "text": "String",
    "ntext": "Nullable(String)",
    "time": "DateTime64(6, 'UTC')",
    "int": "Int64",
    "nint": "Nullable(Int64)",
    "bool": "Bool",
}


def shared_columns(template: str) -> str:
    """The column list of a DDL template store/schema.py shares with DuckDB, in ClickHouse types."""
    ddl = template.format(**TEMPLATE_TYPES)
    return ddl.partition("(")[2].rpartition(")")[0]


AUTH_KEYS = Table("auth_keys", shared_columns(AUTH_KEYS_DDL), "MergeTree", "ORDER BY id")
AUTH_SECRET = Table("auth_secret", shared_columns(AUTH_SECRET_DDL), "MergeTree", "ORDER BY created_at")
PROMPT_EVENTS = Table(  # the prompt registry's event log: small, replicated to every node on a cluster
    "prompt_events", shared_columns(PROMPT_EVENTS_DDL), "MergeTree", "ORDER BY (prompt, seq)"
)
ALERTS = tuple(  # alert rules, states, events, deliveries, silences, export marks: small, replicated
    Table(
        name, alert_columns(columns, clickhouse=True), "MergeTree", f"ORDER BY ({key})", settings=NULLABLE_KEY
    )
    for name, columns, key in ALERT_TABLES
)
EXPERIMENT_MEMBERS = Table(  # calls counted in a variant by reference: small, replicated like prompt_events
    "experiment_members",
    shared_columns(EXPERIMENT_MEMBERS_DDL),
    "ReplacingMergeTree",
    "ORDER BY (experiment, variant, trace_id, span_id)",
)
MIGRATIONS_TABLE = Table(
    "schema_migrations", "version UInt32, applied_at DateTime", "MergeTree", "ORDER BY version"
)

ROLLUP_KEYS = {
    "provider": "provider",
    "model": "request_model",
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
ROLLUP_SUMS = {  # name → (type, expression over one span)
    "calls": ("UInt64", "toUInt64(1)"),
    "errors": ("UInt64", "toUInt64(status = 'error')"),
    "retries": ("Int64", "greatest(ifNull(attempts, 1) - 1, 0)"),
    **{
        kind: ("Int64", f"ifNull({kind}, 0)")
        for kind in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    },
    "reasoning_tokens": ("Int64", "ifNull(reasoning_tokens, 0)"),
    "cost_usd": ("Float64", "ifNull(cost_usd, 0)"),
}
QUANTILES = "0.5, 0.9, 0.95, 0.99"
ROLLUP_DIGESTS = {
    "ttft_ms": "ttft_ms",
    "latency_ms": "duration_ms",
    "output_tokens_per_s": "output_tokens_per_s",
}


def rollup_table() -> Table:
    keys = [f"{name} LowCardinality(String)" for name in ROLLUP_KEYS]
    sums = [f"{name} AggregateFunction(sum, {kind})" for name, (kind, _) in ROLLUP_SUMS.items()]
    digests = [
        f"{name} AggregateFunction(quantilesTDigest({QUANTILES}), Nullable(Float64))"
        for name in ROLLUP_DIGESTS
    ]
    columns = ",\n  ".join(["hour DateTime('UTC')", *keys, *sums, *digests])
    order = ", ".join(["hour", *ROLLUP_KEYS])
    return Table(
        "calls_hourly",
        columns,
        "AggregatingMergeTree",
        f"PARTITION BY toYYYYMM(hour) ORDER BY ({order})",
        shard_by="rand()",
        ttl=("hour", "rollups"),
    )


def rollup_view(layout: Layout) -> str:
    """The materialized view that aggregates every LLM call inserted into spans into calls_hourly."""
    keys = [f"ifNull({source}, '') AS {name}" for name, source in ROLLUP_KEYS.items()]
    sums = [f"sumState({expr}) AS {name}" for name, (_, expr) in ROLLUP_SUMS.items()]
    digests = [f"quantilesTDigestState({QUANTILES})({src}) AS {name}" for name, src in ROLLUP_DIGESTS.items()]
    select = ",\n  ".join(["toStartOfHour(start_time) AS hour", *keys, *sums, *digests])
    group = ", ".join(["hour", *ROLLUP_KEYS])
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS calls_hourly_mv{layout.on} "
        f"TO {layout.local(rollup_table())} AS SELECT\n  {select}\n"
        f"FROM {layout.local(SPANS)} WHERE kind = 'llm' GROUP BY {group}"
    )


_API_NAME = f"JSONExtractString(attributes, '{BEDROCK_OPERATION_KEY}')"


def calls_view(layout: Layout) -> str:
    return f"CREATE VIEW IF NOT EXISTS calls{layout.on} AS SELECT * FROM spans WHERE kind = 'llm'"


def _v4_source_record(layout: Layout) -> list[str]:
    bedrock = f"UPDATE operation = {_API_NAME} WHERE provider = 'aws.bedrock' AND {_API_NAME} != ''"
    return [
        *layout.add_column(SPANS, f"source_record {ch_type('source_record', JSON)}"),
        layout.mutate(SPANS, bedrock),
        f"DROP VIEW IF EXISTS calls{layout.on}",  # a view's * is expanded when it is made
        calls_view(layout),
    ]


def _v6_trace_index(layout: Layout) -> list[str]:
    """The duplicate check looks up ids over all time: a bloom filter lets it skip most parts."""
    return [
        layout.alter(
            SPANS, "ADD INDEX IF NOT EXISTS trace_ids trace_id TYPE bloom_filter(0.01) GRANULARITY 1"
        ),
        layout.alter(SPANS, "MATERIALIZE INDEX trace_ids"),
    ]


def _v9_prompt_events(layout: Layout) -> list[str]:
    return [
        *layout.create(PROMPT_EVENTS),
        *layout.add_column(SPANS, f"prompt_content_id {ch_type('prompt_content_id', STR)}"),
        f"DROP VIEW IF EXISTS calls{layout.on}",
        calls_view(layout),
    ]


def _v12_log_records(layout: Layout) -> list[str]:
    """The duplicate check looks record ids up over all time, as migration 6 does span ids."""
    return [
        *layout.create(LOG_RECORDS),
        layout.alter(
            LOG_RECORDS, "ADD INDEX IF NOT EXISTS record_ids record_id TYPE bloom_filter(0.01) GRANULARITY 1"
        ),
    ]


def migrations(layout: Layout) -> list[tuple[int, list[str]]]:
    """Versioned DDL; a fresh database runs them all in order, an old one the versions it lacks."""
    return [
        (1, [*layout.create(SPANS), calls_view(layout), *layout.create(METRIC_POINTS)]),
        (2, layout.create(BUDGETS)),
        (3, layout.create(TIMELINES)),
        (4, _v4_source_record(layout)),
        (5, layout.create(DAILY_COSTS)),
        (6, _v6_trace_index(layout)),
        (7, layout.create(SAMPLES)),
        (8, [*layout.create(AUTH_KEYS), *layout.create(AUTH_SECRET)]),
        (9, _v9_prompt_events(layout)),
        (10, [*layout.create(rollup_table()), rollup_view(layout)]),
        (11, layout.create(EXPERIMENT_MEMBERS)),
        (12, _v12_log_records(layout)),
        (13, [statement for table in ALERTS for statement in layout.create(table)]),
        # the rollups of long ranges (store/rollups.py), on one server only: a cluster has calls_hourly
        (14, [] if layout.cluster else rollups.clickhouse_migration()),
        (15, [] if layout.cluster else rollups.clickhouse_rebucket()),  # sketches in buckets twice as wide
    ]


def schema_sql(layout: Layout) -> str:
    """Every statement the store applies, in order, as one script (`tokentrail clickhouse schema`)."""
    statements = layout.create(MIGRATIONS_TABLE)
    for version, steps in migrations(layout):
        statements += [f"-- migration {version}", *steps]
    return "\n".join(s if s.startswith("--") else s + ";\n" for s in statements)
