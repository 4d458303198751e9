"""The scale-out store: ClickHouse, through clickhouse-connect (a server) or chdb (the engine in-process,
which runs the same SQL and tests this path in CI).

Same logical schema as DuckDB. The spans table is a ReplacingMergeTree ordered by kind, hour and ids, so
a span stored twice by racing collectors still collapses at merge time (when its start hour is the
same); each batch is also checked against the ids stored at any time (a bloom filter index on trace_id
skips the parts that cannot hold them) before insert, so a retried export adds nothing.

Read SQL arrives in the DuckDB dialect (the typed queries in analytics/) or in ClickHouse's own (the
query language compiles to both). DuckDB SQL is transpiled with sqlglot, `?` parameters become sqlglot
literals (escaped by sqlglot, never pasted text), and the few functions sqlglot does not map are mended
on the syntax tree.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from tokentrail.model import Call
from tokentrail.store import rollups
from tokentrail.store.arrow import METRICS, arrow_rows, calls_to_arrow, split_sides, value_kind
from tokentrail.store.base import DEFAULT_QUERY_TIMEOUT_S, QueryFailed, QueryResult, QueryTimeout, StoreError
from tokentrail.store.clickhouse_schema import (
    MIGRATIONS_TABLE,
    SPANS,
    Layout,
    migrations,
    retention_days,
)
from tokentrail.store.scope import number_placeholders
from tokentrail.store.writer import BatchWriter, Job, wait

LOOKUP_CHUNK = 4000  # trace ids per duplicate-check query
ROLLUP_CHUNK = 2000  # span ids per rollup statement (with the rollup SQL, under the 256 KiB query limit)


# -- SQL: DuckDB dialect + parameters → ClickHouse ---------------------------------------------------------


def literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, dt.datetime):
        text = value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return exp.Anonymous(
            this="toDateTime64",
            expressions=[exp.Literal.string(text), exp.Literal.number(6), exp.Literal.string("UTC")],
        )
    return exp.Literal.string(str(value))


def bind(tree: exp.Expr, params: Sequence[Any]) -> exp.Expr:
    for node in list(tree.find_all(exp.Placeholder)):
        index = int(str(node.name)[1:])
        node.replace(literal(params[index]))
    return tree


def mend_functions(tree: exp.Expr) -> exp.Expr:
    """quantile_cont(x, q) → quantile(q)(x), which ClickHouse has and sqlglot does not emit for a single q.
    (A list, quantile_cont(x, [q, ...]), sqlglot already writes as quantiles(q, ...)(x).)"""
    for node in list(tree.find_all(exp.PercentileCont)):
        node.replace(exp.Quantile(this=node.this, quantile=node.expression))
    return tree


def to_clickhouse(sql: str, params: Sequence[Any], dialect: str) -> str:
    try:
        numbered, count = number_placeholders(sql, dialect)
        tree = sqlglot.parse_one(numbered, read=dialect)
    except sqlglot.errors.SqlglotError as exc:
        raise QueryFailed(f"cannot parse query: {exc}") from None
    if count != len(params):
        raise QueryFailed(f"query has {count} parameters but {len(params)} values were given")
    return bind(mend_functions(tree), params).sql(dialect="clickhouse")


def first_new(keys: list[str], stored: set[str]) -> pa.Array:
    """Indices of the keys neither in `stored` nor seen earlier in `keys`."""
    keep, seen = [], set(stored)
    for i, key in enumerate(keys):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return pa.array(keep, type=pa.int64())


def roll_up(engine: Engine, spans: pa.Table, sign: int) -> None:
    """Append the rollups (times `sign`) of the stored spans with these ids: the rows just inserted, or the
    versions a reprice is about to replace."""
    sep = pa.scalar(":", type=pa.large_string())
    keys = sorted(set(pc.binary_join_element_wise(spans["trace_id"], spans["span_id"], sep).to_pylist()))
    bounds = pc.min_max(spans["start_time"])
    times = [literal(bounds[b].as_py()).sql("clickhouse") for b in ("min", "max")]
    for i in range(0, len(keys), ROLLUP_CHUNK):
        ids = ", ".join(exp.Literal.string(k).sql("clickhouse") for k in keys[i : i + ROLLUP_CHUNK])
        source = (
            f"(SELECT * FROM spans WHERE start_time BETWEEN {times[0]} AND {times[1]} "
            f"AND concat(trace_id, ':', span_id) IN ({ids})) AS stored"
        )
        for statement in rollups.clickhouse_inserts("__source__", "kind = 'llm'", sign):
            engine.command(statement.replace("__source__", source))


# -- the two ways to reach ClickHouse -------------------------------------------------------------------


class Engine(Protocol):
    def command(self, sql: str) -> None: ...
    def query_arrow(self, sql: str, settings: dict[str, Any]) -> pa.Table: ...
    def insert_arrow(self, table: str, data: pa.Table) -> None: ...
    def close(self) -> None: ...


class ChdbEngine:
    """ClickHouse in-process. One session; calls are serialised."""

    def __init__(self, path: str) -> None:
        from chdb import session

        self._session = session.Session(path or ":memory:")
        self._lock = threading.Lock()

    def command(self, sql: str) -> None:
        with self._lock:
            self._session.query(sql)

    def query_arrow(self, sql: str, settings: dict[str, Any]) -> pa.Table:
        suffix = ", ".join(f"{k} = {int(v)}" for k, v in settings.items())
        with self._lock:
            result = self._session.query(f"{sql} SETTINGS {suffix}" if suffix else sql, "ArrowTable")
        return result if isinstance(result, pa.Table) else pa.table({})

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        batch = data  # noqa: F841 - chdb's Python() table function reads the local by name
        with self._lock:
            self._session.query(f"INSERT INTO {table} SELECT * FROM Python(batch)")

    def close(self) -> None:
        self._session.close()


class ServerEngine:
    """A ClickHouse server over HTTP, through clickhouse-connect."""

    def __init__(self, url: str, layout: Layout) -> None:
        import clickhouse_connect

        parsed = urlparse(url)
        # On a cluster, an insert into a Distributed table returns once every shard has it, not before:
        # the collector's OK must mean committed.
        settings = {"distributed_foreground_insert": 1} if layout.cluster else {}
        self._client = clickhouse_connect.get_client(
            settings=settings,
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 8123,
            username=parsed.username or "default",
            password=parsed.password or "",
            database=parsed.path.strip("/") or "default",
        )

    def command(self, sql: str) -> None:
        self._client.command(sql)

    def query_arrow(self, sql: str, settings: dict[str, Any]) -> pa.Table:
        table: pa.Table = self._client.query_arrow(sql, settings=settings)
        return table

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        self._client.insert_arrow(table, data)

    def close(self) -> None:
        self._client.close()


class ClickHouseStore:
    dialect = "clickhouse"

    def __init__(self, engine: Engine, *, max_pending: int = 256, layout: Layout | None = None) -> None:
        self._engine = engine
        self.layout = layout or Layout()
        self.has_rollups = not self.layout.cluster  # store/rollups.py's tables (one server only)
        self._migrate()
        self._writer = BatchWriter(lambda: engine, self._commit, max_pending, "tokentrail-ch-writer")
        self.upstream = self._writer.upstream  # base.Store.upstream

    def _migrate(self) -> None:
        for statement in self.layout.create(MIGRATIONS_TABLE):
            self._engine.command(statement)
        done = self._engine.query_arrow("SELECT max(version) AS v FROM schema_migrations", {})
        current = int(done.column("v")[0].as_py() or 0) if done.num_rows else 0
        for version, statements in migrations(self.layout):
            if version > current:
                for statement in statements:
                    self._engine.command(statement)
                self._engine.command(f"INSERT INTO schema_migrations VALUES ({version}, now())")

    @property
    def schema_version(self) -> int:
        return int(self.query("SELECT max(version) FROM schema_migrations").rows[0][0])

    # -- writes
    def submit(self, calls: Sequence[Call]) -> concurrent.futures.Future[int]:
        return self.submit_arrow(calls_to_arrow(calls))

    def submit_arrow(self, table: pa.Table) -> concurrent.futures.Future[int]:
        return self._writer.submit("spans", table)

    def submit_metrics(self, points: Sequence[tuple[Any, ...]]) -> concurrent.futures.Future[int]:
        return self._writer.submit("metrics", METRICS.table(points))

    def submit_samples(self, table: pa.Table) -> concurrent.futures.Future[int]:
        return self._writer.submit("samples", table)

    def submit_log_records(self, table: pa.Table) -> concurrent.futures.Future[int]:
        return self._writer.submit("log_records", table)

    def expected_wait_s(self) -> float:
        return self._writer.expected_wait_s()

    def queue_depth(self) -> int:
        """Batches waiting for the writer (0 when read-only)."""
        return 0 if self._writer is None else self._writer.depth()

    def write(self, calls: Sequence[Call]) -> int:
        return wait(lambda: self.submit(calls))

    def write_metrics(self, points: Sequence[tuple[Any, ...]]) -> int:
        return wait(lambda: self.submit_metrics(points))

    def replace(self, calls: Sequence[Call]) -> int:
        """Insert the new versions and merge: the ReplacingMergeTree keeps the last row inserted per key."""
        return wait(lambda: self._writer.submit("replace", calls_to_arrow(calls)))

    def run_task(self, task: Callable[[Any], int]) -> concurrent.futures.Future[int]:
        return self._writer.run(task)

    def _commit(self, engine: Engine, jobs: list[Job]) -> list[int]:
        return [self._insert(engine, job) for job in jobs]

    def _insert(self, engine: Engine, job: Job) -> int:
        """One job's rows and their rollups; a replace rewrites the spans only (their timelines and samples
        do not change), taking the stored versions out of the rollups first."""
        if job.kind == "metrics":
            engine.insert_arrow("metric_points", job.table)
            return int(job.table.num_rows)
        if job.kind == "log_records":
            return self._insert_log_records(engine, job.table)
        if job.kind == "samples":
            return self._insert_late_samples(engine, split_sides(job.table)[1]["samples"])
        if job.kind == "replace":
            self._roll_up(engine, job.table, -1)
            engine.insert_arrow("spans", split_sides(job.table)[0])
            engine.command(self.layout.optimize(SPANS))
            self._roll_up(engine, job.table, 1)
            return int(job.table.num_rows)
        spans, sides = split_sides(self._new_rows(engine, job.table))
        if spans.num_rows:
            engine.insert_arrow("spans", spans)
            self._roll_up(engine, spans, 1)
        for name, side in sides.items():
            if side.num_rows:
                engine.insert_arrow(name, side)
        return int(spans.num_rows)

    def _roll_up(self, engine: Engine, spans: pa.Table, sign: int) -> None:
        if self.has_rollups:
            roll_up(engine, spans, sign)

    def _insert_late_samples(self, engine: Engine, side: pa.Table) -> int:
        """Samples of stored spans, each span's first one only (GenAI events on the logs signal)."""
        fresh = self._new_rows(engine, side, "samples")
        if fresh.num_rows:
            engine.insert_arrow("samples", fresh)
        return int(fresh.num_rows)

    @staticmethod
    def _stored(engine: Engine, table: str, key: str, column: str, values: list[str]) -> set[str]:
        """`key` of every stored row of `table` whose `column` is one of `values`, looked up a few thousand
        values at a time (a query's text is limited to 256 KiB)."""
        found: set[str] = set()
        for i in range(0, len(values), LOOKUP_CHUNK):
            chunk = (exp.Literal.string(v) for v in values[i : i + LOOKUP_CHUNK])
            query = exp.select(f"{key} AS k").from_(table).where(exp.column(column).isin(*chunk))
            found.update(engine.query_arrow(query.sql(dialect="clickhouse"), {}).column("k").to_pylist())
        return found

    @staticmethod
    def _new_rows(engine: Engine, table: pa.Table, stored_in: str = "spans") -> pa.Table:
        """The batch's rows whose ids are neither stored in `stored_in` (spans or samples, at any start time)
        nor repeated in the batch."""
        sep = pa.scalar(":", type=pa.large_string())
        keys = pc.binary_join_element_wise(table.column("trace_id"), table.column("span_id"), sep).to_pylist()
        traces = sorted(set(table.column("trace_id").to_pylist()))
        key = "concat(trace_id, ':', span_id)"
        stored = ClickHouseStore._stored(engine, stored_in, key, "trace_id", traces)
        return table.take(first_new(keys, stored))

    @staticmethod
    def _insert_log_records(engine: Engine, table: pa.Table) -> int:
        """The log records whose record_id is neither stored nor repeated in the batch."""
        ids = table.column("record_id").to_pylist()
        stored = ClickHouseStore._stored(engine, "log_records", "record_id", "record_id", sorted(set(ids)))
        fresh = table.take(first_new(ids, stored))
        if fresh.num_rows:
            engine.insert_arrow("log_records", fresh)
        return int(fresh.num_rows)

    # -- reads
    def query(
        self, sql: str, params: Sequence[Any] = (), timeout_s: float | None = None, dialect: str = "duckdb"
    ) -> QueryResult:
        text = to_clickhouse(sql, params, dialect)
        limit = timeout_s or DEFAULT_QUERY_TIMEOUT_S
        # readonly = 1 (last, after the settings it would otherwise forbid changing): no writes and no table
        # functions such as file() or url(), whatever the SQL says.
        settings = {
            "max_execution_time": max(1, round(limit)),
            "prefer_column_name_to_alias": 1,
            "readonly": 1,
        }
        try:
            table = self._engine.query_arrow(text, settings)
        except Exception as exc:
            message = str(exc)
            if "TIMEOUT_EXCEEDED" in message or "Timeout exceeded" in message:
                raise QueryTimeout(f"query ran past its limit of {limit:g} s") from None
            raise QueryFailed(message.splitlines()[0] if message else repr(exc)) from None
        return QueryResult(table.column_names, [value_kind(t) for t in table.schema.types], arrow_rows(table))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self._engine.command(to_clickhouse(sql, params, "duckdb"))
        except QueryFailed:
            raise
        except Exception as exc:
            raise QueryFailed(str(exc).splitlines()[0]) from None

    def close(self) -> None:
        self._writer.close()
        self._engine.close()

    def __enter__(self) -> ClickHouseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def layout_for(url: str) -> Layout:
    """The layout a store URL asks for (`?cluster=NAME`), with TTLs from the retention settings."""
    cluster = parse_qs(urlparse(url).query).get("cluster", [""])[0]
    if cluster and not cluster.replace("_", "").isalnum():
        raise StoreError(f"cluster name {cluster!r} must be letters, digits and underscores")
    try:
        return Layout(cluster or None, retention_days())
    except ValueError as exc:
        raise StoreError(str(exc)) from None


def open_clickhouse(backend: str, location: str) -> ClickHouseStore:
    layout = layout_for(location)
    if backend == "chdb":
        return ClickHouseStore(ChdbEngine(location), layout=layout)
    if backend == "clickhouse":
        return ClickHouseStore(ServerEngine(location, layout), layout=layout)
    raise StoreError(f"not a ClickHouse backend: {backend}")
