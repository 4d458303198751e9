"""DuckDB's span log: groups of received spans are appended to a file beside the database, and moved into
`spans` in bulk.

A group of a few spans cost ~6-8 ms to commit into `spans` (62 columns: DuckDB binds and plans ~10 us a
column for each statement; the key claim, the insert and the commit are three), and with 16 one-span clients
waiting on each group that commit was half of every request's cycle (docs/architecture.md, Storage); a
group of one or two 100-span requests cost ~11 ms (~66 us a span). A narrow DuckDB table as the log still
cost ~0.8 ms a group (the statement, then the WAL's sync); a write and an fdatasync of a file cost ~0.26,
and a move of 2,048 spans pays the fixed costs once for all of them. So:

- The writer appends a group of fewer than `MOVE_ROWS` received spans (the collector's, in the canonical
  Arrow form) to ``<database>.spanlog`` as one frame (the body's length and CRC-32, then the group's Arrow
  record batch, serialized) and syncs the file before the group's futures resolve: the collector's 200
  still means on disk.
- The writer moves the logged groups into `spans` as one group (the duplicate check, the stamp, the side
  tables: `DuckDBStore._insert_new`), commits, then empties the file: once `MOVE_ROWS` spans are logged,
  when the queue has been empty a moment (writer.IDLE_S), before any other write or task, before every
  read (`DuckDBStore.query`) and at close. A crash between the commit and the emptying leaves frames whose
  spans are stored: the next open moves them again and the duplicate check drops them.
- Opening reads the frames up to the first incomplete or damaged one, a write the crash cut short (its
  group was never acknowledged), and cuts the file there, with a warning.
- Until it is moved a logged span is in no table, and every read waits for the move, so no query sees a
  span missing. A span sent again is dropped at the move; the collector counted it accepted.
- The version before logged into a `span_log` table (migration 18): its groups are appended to the file
  at open, and migration 19 drops the table. An in-memory store keeps its log in memory.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from tokentrail.store.arrow import SPANS, calls_from_ipc

log = logging.getLogger(__name__)
MOVE_ROWS = 2048  # logged spans that make the writer move them; a group this large is not logged
SUFFIX = ".spanlog"
HEADER = struct.Struct("<II")  # the body's length and CRC-32
LEGACY_DDL = "CREATE TABLE IF NOT EXISTS span_log (seq BIGINT, body BLOB)"  # migration 18's log
_sync = getattr(os, "fdatasync", os.fsync)  # the data and the file's length, not its times

# insert(connection, tables) -> spans added per table, inside the caller's transaction
Insert = Callable[[duckdb.DuckDBPyConnection, list[pa.Table]], list[int]]


def log_path(db_path: str) -> Path | None:
    """The log file of a database file (None for an in-memory database)."""
    return None if db_path == ":memory:" else Path(db_path + SUFFIX)


def frames(data: bytes) -> tuple[list[bytes], int]:
    """(the bodies of the complete, undamaged frames at the start of `data`, where they end)."""
    bodies: list[bytes] = []
    end = 0
    while end + HEADER.size <= len(data):
        size, crc = HEADER.unpack_from(data, end)
        body = data[end + HEADER.size : end + HEADER.size + size]
        if len(body) < size or zlib.crc32(body) != crc:
            break
        bodies.append(body)
        end += HEADER.size + size
    return bodies, end


def waiting(db_path: str, con: duckdb.DuckDBPyConnection) -> bool:
    """Whether spans wait to be moved: in the log file, or in migration 18's table."""
    path = log_path(db_path)
    in_file = path is not None and path.exists() and path.stat().st_size > 0
    return in_file or bool(_legacy(con))


def _legacy(con: duckdb.DuckDBPyConnection) -> list[bytes]:
    """The groups logged by the version before, in its `span_log` table (none after migration 19)."""
    try:
        return [bytes(body) for (body,) in con.execute("SELECT body FROM span_log ORDER BY seq").fetchall()]
    except duckdb.CatalogException:
        return []


class SpanLog:
    """The logged groups not moved yet (the writer's; `rows` may be read from any thread)."""

    def __init__(self, db_path: str, con: duckdb.DuckDBPyConnection) -> None:
        self.tables: list[pa.Table] = []
        self.rows = 0
        self.path = log_path(db_path)
        self._fd: int | None = None
        self._size = 0
        if self.path is None:
            return
        for body in self._recover():
            self._keep(calls_from_ipc(body))
        self._fd = self._open()
        for body in _legacy(con):
            self._write(body)
            self._keep(calls_from_ipc(body))

    def _recover(self) -> list[bytes]:
        """The frames left in the file by the last process; a tail cut short by its end is cut off."""
        assert self.path is not None
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        bodies, self._size = frames(data)
        if self._size < len(data):
            log.warning(
                "%s: %d bytes after its last complete frame were cut off (a write that a crash interrupted; "
                "its spans were never acknowledged)",
                self.path,
                len(data) - self._size,
            )
            os.truncate(self.path, self._size)
        return bodies

    def _open(self) -> int:
        assert self.path is not None
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _sync(fd)  # a cut made by _recover, too
        if created:  # the file's name on disk, too
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        return fd

    @staticmethod
    def takes(tables: list[pa.Table]) -> bool:
        """Whether a group of these tables is logged: fewer spans than a move, each table in the canonical
        form."""
        few = sum(t.num_rows for t in tables) < MOVE_ROWS
        return few and all(t.schema.equals(SPANS.schema) for t in tables)

    def append(self, batch: pa.Table) -> None:
        """Log `batch` (one chunk), on disk when this returns."""
        if self._fd is not None:
            self._write(batch.to_batches()[0].serialize())
        self._keep(batch)

    def _keep(self, batch: pa.Table) -> None:
        self.tables.append(batch)
        self.rows += batch.num_rows

    def _write(self, body: bytes | pa.Buffer) -> None:
        """One frame, synced; on a failure the file is cut back to where it was, and the error raised."""
        assert self._fd is not None
        header = HEADER.pack(len(body), zlib.crc32(body))
        try:
            if os.writev(self._fd, [header, body]) != HEADER.size + len(body):
                raise OSError(errno.EIO, "a short write to the span log")
            _sync(self._fd)
        except OSError:
            os.ftruncate(self._fd, self._size)
            raise
        self._size += HEADER.size + len(body)

    def move(self, con: duckdb.DuckDBPyConnection, insert: Insert) -> int:
        """Insert the logged spans with `insert` in one transaction, then empty the log; how many were added.
        On a failure nothing moves, and the log is kept for the next try."""
        con.execute("BEGIN")
        try:
            added = sum(insert(con, self.tables))
        except Exception:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        self.tables, self.rows = [], 0
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                _sync(self._fd)
                self._size = 0
            except OSError:  # the spans are stored: moved again at the next open, they are dropped there
                log.exception("%s: emptying the span log failed", self.path)
        return added

    def close(self) -> None:
        """Close the file; an empty log's file is removed."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if self.path is not None and self._size == 0 and not self.rows:
            self.path.unlink(missing_ok=True)
