"""The embedded store: one DuckDB file.

One writer thread owns the write cursor and commits batches; several pending batches are committed in one
transaction (group commit). Readers use cursors of their own, and every query runs under a time limit
(`cursor.interrupt()` from a timer). Writes are idempotent on (trace_id, span_id): a batch is inserted with
an anti-join against the stored spans in the batch's own start-time window, so a resent span (same ids,
same start time) is skipped and the zone maps of the time column keep the check cheap.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import logging
import queue
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from tokentrail.model import (
    BOOL,
    COLUMNS,
    FLOAT,
    INT,
    JSON,
    METRIC_COLUMNS,
    STR,
    STR_LIST,
    TIME,
    Call,
)
from tokentrail.store.base import (
    DEFAULT_QUERY_TIMEOUT_S,
    QueryFailed,
    QueryResult,
    QueryTimeout,
    StoreBusy,
    StoreError,
)
from tokentrail.store.schema import duckdb_migrations

log = logging.getLogger(__name__)

ARROW_TYPES = {
    STR: pa.string(),
    INT: pa.int64(),
    FLOAT: pa.float64(),
    BOOL: pa.bool_(),
    TIME: pa.timestamp("us"),
    STR_LIST: pa.list_(pa.string()),
    JSON: pa.string(),
}


def arrow_schema(columns: Sequence[tuple[str, str, str]]) -> pa.Schema:
    return pa.schema([(name, ARROW_TYPES[kind]) for name, kind, _ in columns])


SPAN_SCHEMA = arrow_schema(COLUMNS)
METRIC_SCHEMA = arrow_schema(METRIC_COLUMNS)
_JSON_INDEXES = [i for i, (_, kind, _) in enumerate(COLUMNS) if kind == JSON]
_TIME_INDEXES = [i for i, (_, kind, _) in enumerate(COLUMNS) if kind == TIME]


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _dump(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)


def rows_to_arrow(
    rows: Sequence[Sequence[Any]], schema: pa.Schema, json_idx: list[int], time_idx: list[int]
) -> pa.Table:
    """Turn row tuples into an Arrow table: JSON columns are dumped to text, times made naive UTC."""
    columns = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in schema]
    for i in json_idx:
        columns[i] = [_dump(v) for v in columns[i]]
    for i in time_idx:
        columns[i] = [_naive_utc(v) for v in columns[i]]
    return pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )


def calls_to_arrow(calls: Sequence[Call]) -> pa.Table:
    return rows_to_arrow([c.row() for c in calls], SPAN_SCHEMA, _JSON_INDEXES, _TIME_INDEXES)


_INSERT_SPANS = """
INSERT INTO spans
SELECT b.* FROM (SELECT DISTINCT ON (trace_id, span_id) * FROM batch) AS b
ANTI JOIN (SELECT trace_id, span_id FROM spans WHERE start_time BETWEEN ? AND ?) AS e
USING (trace_id, span_id)
"""


class _Job:
    __slots__ = ("future", "kind", "table")

    def __init__(self, kind: str, table: pa.Table) -> None:
        self.kind = kind
        self.table = table
        self.future: concurrent.futures.Future[int] = concurrent.futures.Future()


class DuckDBStore:
    """A DuckDB file with one writer thread. Thread-safe."""

    dialect = "duckdb"

    def __init__(self, path: str | Path, *, max_pending: int = 256, read_only: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._root = duckdb.connect(self.path, read_only=read_only)
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max_pending)
        self._closed = False
        self._writer: threading.Thread | None = None
        if not read_only:
            self._migrate()
            self._writer = threading.Thread(target=self._write_loop, name="tokentrail-writer", daemon=True)
            self._writer.start()

    # -- schema ---------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        con = self._root
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)"
        )
        row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        current = int(row[0]) if row else 0
        for version, statements in duckdb_migrations():
            if version <= current:
                continue
            con.execute("BEGIN")
            for statement in statements():
                con.execute(statement)
            con.execute("INSERT INTO schema_migrations VALUES (?, now())", [version])
            con.execute("COMMIT")
            log.info("applied schema migration %d", version)

    @property
    def schema_version(self) -> int:
        return int(self.query("SELECT max(version) FROM schema_migrations").rows[0][0])

    # -- writes ---------------------------------------------------------------------------------------
    def submit(self, calls: Sequence[Call]) -> concurrent.futures.Future[int]:
        """Queue calls for the writer; the future resolves to the count stored once committed.

        Raises StoreBusy at once when the queue is full, so the collector can shed load.
        """
        return self._submit(_Job("spans", calls_to_arrow(calls)))

    def submit_metrics(self, points: Sequence[tuple[Any, ...]]) -> concurrent.futures.Future[int]:
        json_idx = [i for i, (_, kind, _) in enumerate(METRIC_COLUMNS) if kind == JSON]
        time_idx = [i for i, (_, kind, _) in enumerate(METRIC_COLUMNS) if kind == TIME]
        return self._submit(_Job("metrics", rows_to_arrow(points, METRIC_SCHEMA, json_idx, time_idx)))

    def _submit(self, job: _Job) -> concurrent.futures.Future[int]:
        if self._closed or self._writer is None:
            raise StoreError("the store is closed or read-only")
        if job.table.num_rows == 0:
            job.future.set_result(0)
            return job.future
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise StoreBusy("the write queue is full") from None
        return job.future

    def write(self, calls: Sequence[Call]) -> int:
        return self._wait(lambda: self.submit(calls))

    def write_metrics(self, points: Sequence[tuple[Any, ...]]) -> int:
        return self._wait(lambda: self.submit_metrics(points))

    @staticmethod
    def _wait(submit: Any) -> int:
        """Blocking write for callers that may wait (importers, tests): retry while the queue is full."""
        while True:
            try:
                future: concurrent.futures.Future[int] = submit()
                return future.result()
            except StoreBusy:
                threading.Event().wait(0.01)

    def _write_loop(self) -> None:
        con = self._root.cursor()
        while True:
            job = self._queue.get()
            if job is None:
                break
            jobs = [job]
            while len(jobs) < 64:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                jobs.append(nxt)
            self._commit(con, jobs)
        con.close()

    def _commit(self, con: duckdb.DuckDBPyConnection, jobs: list[_Job]) -> None:
        try:
            con.execute("BEGIN")
            counts = [self._insert(con, job) for job in jobs]
            con.execute("COMMIT")
        except Exception as exc:  # the writer must survive any one bad batch
            log.exception("write failed")
            con.execute("ROLLBACK")
            for job in jobs:
                job.future.set_exception(StoreError(f"write failed: {exc}"))
            return
        for job, count in zip(jobs, counts, strict=True):
            job.future.set_result(count)

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, job: _Job) -> int:
        batch = job.table  # noqa: F841 - DuckDB reads the local by name
        if job.kind == "metrics":
            row = con.execute("INSERT INTO metric_points SELECT * FROM batch").fetchone()
        else:
            times = job.table.column("start_time")
            lo, hi = pc.min(times).as_py(), pc.max(times).as_py()
            row = con.execute(_INSERT_SPANS, [lo, hi]).fetchone()
        return int(row[0]) if row else 0

    # -- reads ----------------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = (), timeout_s: float | None = None) -> QueryResult:
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
        return QueryResult([d[0] for d in description], [str(d[1]) for d in description], rows)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=30)
        self._root.close()

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
