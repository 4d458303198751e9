"""The embedded store: one DuckDB file.

One writer thread owns the write cursor and commits batches; several pending batches are committed in one
transaction (group commit). Readers use cursors of their own, and every query runs under a time limit
(`cursor.interrupt()` from a timer). Writes are idempotent on (trace_id, span_id), whatever the start time:
`span_keys` holds a 128-bit hash of every stored span's ids under a primary-key index, and a batch keeps
only the spans whose key is not there (nor repeated in the batch); kept log records are unique on their
`record_id` (the table's primary key). Groups of the collector's spans (fewer than 2,048) are appended to a
log file beside the database first and moved into `spans` in bulk (store/span_log.py). The database is
opened with external access disabled and its configuration locked, so no SQL reaches files, the network or
extensions.
"""

from __future__ import annotations

import bisect
import collections
import concurrent.futures
import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot

from tokentrail.model import Call
from tokentrail.store import rollups
from tokentrail.store.arrow import METRICS, calls_to_arrow, split_sides
from tokentrail.store.backlog import Backlog
from tokentrail.store.base import DEFAULT_QUERY_TIMEOUT_S, QueryFailed, QueryResult, QueryTimeout, StoreError
from tokentrail.store.held import Roller, Stamp, roll_up, roll_up_pending
from tokentrail.store.schema import duckdb_migrations, span_key, span_key_values
from tokentrail.store.span_log import MOVE_ROWS, SpanLog, waiting
from tokentrail.store.writer import BatchWriter, Job, wait

log = logging.getLogger(__name__)

_DELETE_BATCH = "DELETE FROM spans WHERE (trace_id, span_id) IN (SELECT trace_id, span_id FROM batch)"
_STORED_OF_BATCH = "(SELECT s.* FROM spans AS s SEMI JOIN batch USING (trace_id, span_id)) AS stored"
_INSERT_KEYS = f"INSERT INTO span_keys SELECT {span_key()}, start_time FROM batch ON CONFLICT DO NOTHING"
# The keys of a small group's spans, or of a group with a conflict, computed in Python
# (schema.span_key_values) and handed over as two 64-bit halves (a large group's keys are computed by
# DuckDB: `_insert_all_keys`); on a conflict the primary-key index skips those already stored and RETURNING
# names the ones that were not, in halves again (a UHUGEINT costs ~50 us to become a Python int, a UBIGINT
# ~1). A few keys go in as list parameters: registering an Arrow table and dropping it are catalog writes,
# ~0.8 ms of a 16-key claim's 3.1 ms; past a few hundred keys the lists cost more than that (2,000 keys:
# 8.6 ms against 4.9 ms).
_INSERT_NEW_KEYS = (
    "INSERT INTO span_keys SELECT (hi::UHUGEINT << 64) | lo::UHUGEINT, start_time FROM {source}"
)
_CLAIM_KEYS = f"""
{_INSERT_NEW_KEYS} ON CONFLICT DO NOTHING RETURNING (k >> 64)::UBIGINT, (k & 18446744073709551615)::UBIGINT
"""
_KEY_LISTS = (
    "(SELECT unnest($1::UBIGINT[]) AS hi, unnest($2::UBIGINT[]) AS lo, unnest($3::TIMESTAMP[]) AS start_time)"
)
PARAMETER_KEYS = 256
_LOW_64 = (1 << 64) - 1
_INSERT_LATE_SAMPLES = """
INSERT INTO samples
SELECT DISTINCT ON (t.trace_id, t.span_id) t.* FROM side AS t ANTI JOIN samples USING (trace_id, span_id)
"""

_INSERT_PLAIN = {
    "metrics": "INSERT INTO metric_points SELECT * FROM batch",
    "log_records": "INSERT INTO log_records SELECT DISTINCT ON (record_id) * FROM batch "
    "ON CONFLICT DO NOTHING",
}


_SPANS = ("spans", "received")  # job kinds: spans from `submit` and from the collector (`submit_arrow`)
_KIND_NAMES = {
    "integer": "tinyint smallint integer bigint hugeint utinyint usmallint uinteger ubigint uhugeint",
    "float": "float double decimal",
    "boolean": "boolean",
    "timestamp": "timestamp timestamp_s timestamp_ms timestamp_ns date",
    "list": "list array",
    "object": "struct map",
}
_KINDS = {name: kind for kind, names in _KIND_NAMES.items() for name in names.split()}


def _claim_rows(con: duckdb.DuckDBPyConnection, batch: pa.Table) -> list[int]:
    """Store the keys of the batch's spans that span_keys lacks; returns the rows to insert (for each key new
    to the store, its first row).

    Most groups hold no span stored before and none twice, and a plain insert of every key costs half of one
    that skips conflicts and names what it kept (0.9 against 2.0 ms for 16 keys). A conflict aborts the
    transaction, so this runs first in the group's transaction, and on a conflict starts it again and claims
    the keys one by one."""
    try:
        _insert_all_keys(con, batch)
        return list(range(batch.num_rows))
    except duckdb.ConstraintException:
        con.execute("ROLLBACK")
        con.execute("BEGIN")
    first: dict[int, int] = {}  # key -> its first row
    for row, key in enumerate(_batch_keys(batch)):
        first.setdefault(key, row)
    times = batch.column("start_time").take(pa.array(list(first.values()), pa.int64()))
    claimed = _insert_keys(con, list(first), times, _CLAIM_KEYS)
    return sorted(first[(hi << 64) | lo] for hi, lo in claimed)


def _insert_all_keys(con: duckdb.DuckDBPyConnection, batch: pa.Table) -> None:
    """Every span's key, in a plain insert. Many keys are computed by DuckDB, over the Arrow batch (no Python
    per span, measured: 2.6 against 3.7 ms for 400 keys, 3.4 against 5.7 ms for 2,000); a few here, passed as
    list parameters (a relation costs ~2 ms to build: 1.6 against 2.2 ms for 16 keys)."""
    if batch.num_rows > PARAMETER_KEYS:
        ids = con.from_arrow(batch.select(["trace_id", "span_id", "start_time"]))
        ids.project(f"{span_key()} AS k, start_time").insert_into("span_keys")
        return
    _insert_keys(con, _batch_keys(batch), batch.column("start_time"), _INSERT_NEW_KEYS)


def _batch_keys(batch: pa.Table) -> list[int]:
    """Each row's span key, computed here (`schema.span_key_values`)."""
    return span_key_values(batch.column("trace_id").to_pylist(), batch.column("span_id").to_pylist())


def _insert_keys(
    con: duckdb.DuckDBPyConnection, keys: list[int], times: pa.ChunkedArray, statement: str
) -> list[Any]:
    """Run `statement` over the keys (in 64-bit halves, with their spans' start times); its rows."""
    his, los = [k >> 64 for k in keys], [k & _LOW_64 for k in keys]
    if len(keys) <= PARAMETER_KEYS:
        return con.execute(statement.format(source=_KEY_LISTS), [his, los, times.to_pylist()]).fetchall()
    halves = {"hi": pa.array(his, pa.uint64()), "lo": pa.array(los, pa.uint64())}
    with registered(con, keys=pa.table(halves | {"start_time": times})):
        return con.execute(statement.format(source="keys")).fetchall()


def one_chunk(tables: list[pa.Table]) -> pa.Table:
    """The tables as one table of one chunk: DuckDB pays per chunk and column when it scans Arrow. Tables
    of one schema (the usual case) are joined without promotion, which costs a quarter as much."""
    try:
        joined = pa.concat_tables(tables)
    except pa.ArrowInvalid:  # schemas differ, e.g. a column all null in one request
        joined = pa.concat_tables(tables, promote_options="permissive")
    return joined.combine_chunks()


def value_kind(sql_type: Any) -> str:
    """One of `base.KINDS` for a DuckDB column type (a `DuckDBPyType`; text, blobs, uuids: string)."""
    return "timestamp" if sql_type.id.startswith("timestamp") else _KINDS.get(sql_type.id, "string")


# Every connection, the server's included: no files, network, extensions or ATTACH from SQL, and no SET or
# PRAGMA that could undo it. The writer hands Arrow batches over with `register`, which this allows.
LOCKED_DOWN = {"enable_external_access": False, "lock_configuration": True}
# A checkpoint when the WAL reaches 64 MB, not DuckDB's 16: ~107 k spans, near one row group (122,880 rows),
# so a checkpoint seldom writes a row group that the next rewrites. 300 k spans in 500-span groups of four,
# one process, final checkpoint included: 5.0-5.4 s against 6.3-6.9 (16 and 32 MB alike), a file 72-78 MB
# against 86-89; the collector's peak PSS under bench/ingest.py's 500-span load 427-433 MB against 453-464. A
# 64 MB WAL replays in ~0.5 s after a crash.
CHECKPOINT_THRESHOLD = "64MB"


@contextlib.contextmanager
def registered(con: duckdb.DuckDBPyConnection, **tables: pa.Table) -> Iterator[None]:
    """Arrow tables visible to `con` by name for the block (replacement scans need external access)."""
    for name, table in tables.items():
        con.register(name, table)
    try:
        yield
    finally:
        for name in tables:  # in an aborted transaction the registration goes with its rollback
            with contextlib.suppress(duckdb.TransactionException):
                con.unregister(name)


def _connect(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(
        path, read_only=read_only, config=dict(LOCKED_DOWN, checkpoint_threshold=CHECKPOINT_THRESHOLD)
    )


class DuckDBStore:
    """A DuckDB file with one writer thread. Thread-safe."""

    dialect = "duckdb"

    def __init__(self, path: str | Path, *, max_pending: int = 256, read_only: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._root = _connect(self.path, read_only)
        self._closed = False
        self._writer: BatchWriter | None = None
        self._roller: Roller | None = None
        if read_only and waiting(self.path, self._root):
            self._root = self._recovered()
        self._log: SpanLog | None = None
        if not read_only:
            self._log = SpanLog(self.path, self._root)  # before migration 19 drops the old log's table
            self._migrate()
            self._stamp = Stamp(self._root.cursor)
            self._roller = Roller(self._root.cursor)
            self._writer = BatchWriter(
                self._root.cursor,
                lambda con, jobs: self._commit(con, jobs),
                max_pending,
                "tokentrail-writer",
                maintain=lambda con, idle: self._maintain(con, idle),
            )
        # base.Store.upstream (read-only: a count nothing waits on)
        self.upstream = self._writer.upstream if self._writer is not None else Backlog()
        # the rollups of long ranges as reads know them: none in a file opened read-only before its migration
        # 15 (13 made them, 15 re-bucketed the sketches)
        self.has_rollups = self._has_table("schema_migrations") and self.schema_version >= rollups.SCHEMA

    def _recovered(self) -> duckdb.DuckDBPyConnection:
        """A file opened read-only whose span log holds spans (the collector stopped before moving them):
        opened read-write once to move them, then read-only again. A file that cannot be written keeps its
        log, and its reads miss those spans (logged as a warning)."""
        self._root.close()
        try:
            DuckDBStore(self.path).close()
        except duckdb.Error as exc:
            log.warning("%s: spans in its log were not moved (%s); reads miss them", self.path, exc)
        return _connect(self.path, True)

    # -- schema ---------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        con = self._root
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)"
        )
        # fetchall, not fetchone: a result left unread keeps a transaction open on the root connection, and
        # no checkpoint can then reclaim the space of deleted rows (retention)
        rows = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
        current = int(rows[0][0]) if rows else 0
        for version, statements in duckdb_migrations():
            if version <= current:
                continue
            con.execute("BEGIN")
            for statement in statements():
                con.execute(statement)
            con.execute("INSERT INTO schema_migrations VALUES (?, now())", [version])
            con.execute("COMMIT")
            log.info("applied schema migration %d", version)

    def _has_table(self, name: str) -> bool:
        sql = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?"
        return bool(self._root.execute(sql, [name]).fetchall()[0][0])

    @property
    def schema_version(self) -> int:
        return int(self.query("SELECT max(version) FROM schema_migrations").rows[0][0])

    # -- writes ---------------------------------------------------------------------------------------
    def submit(self, calls: Sequence[Call]) -> concurrent.futures.Future[int]:
        """Queue calls for the writer; the future resolves to the count stored once committed.

        Raises StoreBusy at once when the queue is full, so the collector can shed load.
        """
        return self._require_writer().submit("spans", calls_to_arrow(calls))

    def submit_arrow(self, table: pa.Table) -> concurrent.futures.Future[int]:
        """The collector's spans, already in the Arrow form of model.COLUMNS. A small group of them is
        logged (store/span_log.py), and its future counts every span, one sent again too."""
        return self._require_writer().submit("received", table)

    def submit_metrics(self, points: Sequence[tuple[Any, ...]]) -> concurrent.futures.Future[int]:
        return self._require_writer().submit("metrics", METRICS.table(points))

    def submit_samples(self, table: pa.Table) -> concurrent.futures.Future[int]:
        return self._require_writer().submit("samples", table)

    def submit_log_records(self, table: pa.Table) -> concurrent.futures.Future[int]:
        return self._require_writer().submit("log_records", table)

    def expected_wait_s(self) -> float:
        return self._writer.expected_wait_s() if self._writer is not None else 0.0

    def _require_writer(self) -> BatchWriter:
        if self._writer is None:
            raise StoreError("the store is open read-only")
        return self._writer

    def queue_depth(self) -> int:
        """Batches waiting for the writer (0 when read-only)."""
        return 0 if self._writer is None else self._writer.depth()

    def write(self, calls: Sequence[Call]) -> int:
        return wait(lambda: self.submit(calls))

    def write_metrics(self, points: Sequence[tuple[Any, ...]]) -> int:
        return wait(lambda: self.submit_metrics(points))

    def replace(self, calls: Sequence[Call]) -> int:
        return wait(lambda: self._require_writer().submit("replace", calls_to_arrow(calls)))

    def run_task(self, task: Callable[[Any], int]) -> concurrent.futures.Future[int]:
        """Queue `task(connection)` to run alone on the writer, holding the roller's lock: a task may roll up
        held calls (retention does, before it deletes spans)."""
        lock = self._live_roller().lock

        def locked(con: duckdb.DuckDBPyConnection) -> int:
            self._move(con)
            with lock:
                return task(con)

        return self._require_writer().run(locked)

    def roll_up_held(self) -> int:
        """Roll up the held calls now, as the roller does on its own (store/held.py); how many there were."""
        self._settle()
        return self._live_roller().roll_up()

    def _live_log(self) -> SpanLog:
        if self._log is None:
            raise StoreError("the store is open read-only")
        return self._log

    def _live_roller(self) -> Roller:
        if self._roller is None:
            raise StoreError("the store is open read-only")
        return self._roller

    def _commit(self, con: duckdb.DuckDBPyConnection, jobs: list[Job]) -> list[int]:
        """A group of received spans smaller than a move into the log; any other group in one transaction,
        after the log is moved (so a span logged before is kept before a copy of it). A group with a reprice
        holds the roller's lock throughout."""
        tables = [job.table for job in jobs]
        if all(job.kind == "received" for job in jobs) and SpanLog.takes(tables):
            self._live_log().append(one_chunk(tables))
            return [t.num_rows for t in tables]
        self._move(con)
        roller = self._live_roller()
        reprices = any(job.kind == "replace" for job in jobs)
        with roller.lock if reprices else contextlib.nullcontext():
            counts = self._transaction(con, jobs)
        roller.stored(sum(n for job, n in zip(jobs, counts, strict=True) if job.kind in _SPANS))
        return counts

    def _move(self, con: duckdb.DuckDBPyConnection) -> int:
        """Move the logged spans into `spans` (store/span_log.py), if any; how many were added."""
        span_log = self._live_log()
        if not span_log.rows:
            return 0
        added = span_log.move(con, self._insert_new)
        self._live_roller().stored(added)
        return added

    def _maintain(self, con: duckdb.DuckDBPyConnection, idle: bool) -> None:
        """After a group (writer.py): move the log once it holds enough spans, or when the writer idles."""
        rows = self._live_log().rows
        if rows >= MOVE_ROWS or (idle and rows):
            self._move(con)

    def _settle(self, timeout_s: float | None = None) -> None:
        """Every span acknowledged so far readable: a move by the writer, waited for (not from the writer)."""
        writer = self._writer
        if writer is not None and self._live_log().rows and not writer.is_current():
            writer.run(self._move).result(timeout_s)

    def _transaction(self, con: duckdb.DuckDBPyConnection, jobs: list[Job]) -> list[int]:
        """The spans of every request in one insert, then the rest."""
        spans = [job for job in jobs if job.kind in _SPANS]
        con.execute("BEGIN")
        try:
            counts = dict(zip(map(id, spans), self._insert_new(con, [j.table for j in spans]), strict=True))
            counts |= {id(job): self._insert_other(con, job) for job in jobs if job.kind not in _SPANS}
        except Exception:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        return [counts[id(job)] for job in jobs]

    def _insert_new(self, con: duckdb.DuckDBPyConnection, tables: list[pa.Table]) -> list[int]:
        """Insert the spans not stored yet (nor repeated earlier in the group), with their side rows;
        returns how many each table added (a span sent twice in one group counts for the first)."""
        if not tables:
            return []
        batch = one_chunk(tables)
        rows = _claim_rows(con, batch)
        fresh = batch if len(rows) == batch.num_rows else batch.take(pa.array(rows, pa.int64()))
        spans, sides = split_sides(fresh)
        spans = self._stamp(spans)
        # a relation over the Arrow table, not a registered view: registering and dropping one are catalog
        # writes (~1 ms together on a table of this width, measured); the columns are in the table's order
        con.from_arrow(spans).insert_into("spans")
        for name, side in sides.items():  # names from arrow.SIDES, a fixed set
            if side.num_rows:
                con.from_arrow(side).insert_into(name)
        ends = list(itertools.accumulate(t.num_rows for t in tables))
        added = collections.Counter(bisect.bisect_right(ends, row) for row in rows)
        return [added[i] for i in range(len(tables))]

    @staticmethod
    def _insert_other(con: duckdb.DuckDBPyConnection, job: Job) -> int:
        """Metric points; log records; samples that came after their spans (GenAI events on the logs signal);
        or a replace: the spans rewritten (their timelines and samples do not change)."""
        if job.kind == "replace":
            return DuckDBStore._replace(con, split_sides(job.table)[0])
        if job.kind in ("metrics", "log_records"):
            with registered(con, batch=job.table):
                row = con.execute(_INSERT_PLAIN[job.kind]).fetchone()
        else:
            with registered(con, side=split_sides(job.table)[1]["samples"]):
                row = con.execute(_INSERT_LATE_SAMPLES).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _replace(con: duckdb.DuckDBPyConnection, batch: pa.Table) -> int:
        """Rewrite the spans, taking their stored versions out of the rollups and adding the new ones."""
        roll_up_pending(con)  # so that every stored version is in the rollups
        with registered(con, batch=batch):
            roll_up(con, _STORED_OF_BATCH, -1)
            con.execute(_DELETE_BATCH)
            con.execute(_INSERT_KEYS)
            con.execute("INSERT INTO spans SELECT * FROM batch")
            roll_up(con, "batch")
        return int(batch.num_rows)

    # -- reads ----------------------------------------------------------------------------------------
    def query(
        self, sql: str, params: Sequence[Any] = (), timeout_s: float | None = None, dialect: str = "duckdb"
    ) -> QueryResult:
        if dialect != "duckdb":
            sql = sqlglot.transpile(sql, read=dialect, write="duckdb")[0]
        self._settle()
        cursor = self._root.cursor()
        timer = threading.Timer(timeout_s or DEFAULT_QUERY_TIMEOUT_S, cursor.interrupt)
        timer.start()
        try:
            cursor.execute(sql, list(params))
            rows = cursor.fetchall()
            description = cursor.description or []
        except duckdb.InterruptException:
            raise QueryTimeout(
                f"query ran past its limit of {timeout_s or DEFAULT_QUERY_TIMEOUT_S:g} s"
            ) from None
        except duckdb.Error as exc:
            raise QueryFailed(str(exc)) from None
        finally:
            timer.cancel()
            cursor.close()
        return QueryResult([d[0] for d in description], [value_kind(d[1]) for d in description], rows)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._settle()
        cursor = self._root.cursor()
        try:
            cursor.execute(sql, list(params))
        except duckdb.Error as exc:
            raise QueryFailed(str(exc)) from None
        finally:
            cursor.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            try:
                self._settle(timeout_s=30.0)
            except Exception:  # the log stays in the file, and the next open moves it
                log.exception("the span log was not moved at close")
            self._writer.close()
        if self._log is not None:
            self._log.close()
        if self._roller is not None:
            self._roller.close()
        self._root.close()

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
