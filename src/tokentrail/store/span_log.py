"""DuckDB's span log: small groups of received spans are committed as one narrow row, moved into `spans`
in bulk.

A group of a few spans cost ~6-8 ms to commit into `spans` (62 columns: DuckDB binds and plans ~10 us a
column for each statement; the key claim, the insert and the commit are three), and with 16 one-span clients
waiting on each group that commit was half of every request's cycle (docs/architecture.md, Storage). So:

- The writer commits a group of fewer than `LOG_ROWS` received spans (the collector's, in the canonical
  Arrow form) as one row of `span_log`: the group's Arrow record batch, serialized. That commit is durable
  like any other, so the collector's 200 still means committed.
- The writer moves the logged groups into `spans` as one group (the duplicate check, the stamp, the side
  tables: `DuckDBStore._insert_new`) and empties the log, in one transaction: once `MOVE_ROWS` spans are
  logged, when the queue has been empty a moment (writer.IDLE_S), before any other write or task, before
  every read (`DuckDBStore.query`) and at close. A store opened after a crash moves what its log holds.
- Until it is moved a logged span is in no table but `span_log`, and every read waits for the move, so no
  query sees a span missing. A span sent again is dropped at the move; the collector counted it accepted.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pyarrow as pa

from tokentrail.store.arrow import SPANS, calls_from_ipc
from tokentrail.store.writer import LINGER_ROWS

LOG_ROWS = LINGER_ROWS  # groups of fewer spans are logged: a larger group's commit is not mostly fixed cost
MOVE_ROWS = 512  # logged spans that make the writer move them after its group
DDL = "CREATE TABLE IF NOT EXISTS span_log (seq BIGINT, body BLOB)"
_APPEND = "INSERT INTO span_log VALUES (?, ?)"
_LOGGED = "SELECT seq, body FROM span_log ORDER BY seq"

# insert(connection, tables) -> spans added per table, inside the caller's transaction
Insert = Callable[[duckdb.DuckDBPyConnection, list[pa.Table]], list[int]]


class SpanLog:
    """The logged groups not moved yet (the writer's; `rows` may be read from any thread)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        try:
            logged = con.execute(_LOGGED).fetchall()
        except duckdb.CatalogException:  # no log before migration 18
            logged = []
        self.tables = [calls_from_ipc(body) for _, body in logged]
        self.rows = sum(t.num_rows for t in self.tables)
        self._seq = logged[-1][0] if logged else 0

    @staticmethod
    def takes(tables: list[pa.Table]) -> bool:
        """Whether a group of these tables is logged: few spans, each table in the canonical form."""
        few = sum(t.num_rows for t in tables) < LOG_ROWS
        return few and all(t.schema.equals(SPANS.schema) for t in tables)

    def append(self, con: duckdb.DuckDBPyConnection, batch: pa.Table) -> None:
        """Commit `batch` (one chunk) as one row of the log, in a transaction of its own."""
        self._seq += 1
        con.execute(_APPEND, [self._seq, batch.to_batches()[0].serialize().to_pybytes()])
        self.tables.append(batch)
        self.rows += batch.num_rows

    def move(self, con: duckdb.DuckDBPyConnection, insert: Insert) -> int:
        """Insert the logged spans with `insert` and empty the log, in one transaction; how many were added.
        On a failure nothing moves, and the log is kept for the next try."""
        con.execute("BEGIN")
        try:
            added = sum(insert(con, self.tables))
            con.execute("DELETE FROM span_log")
        except Exception:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        self.tables, self.rows = [], 0
        return added


def waiting(con: duckdb.DuckDBPyConnection) -> int:
    """Logged groups in the file (0 when it has no log yet)."""
    try:
        return int(con.execute("SELECT count(*) FROM span_log").fetchall()[0][0])
    except duckdb.CatalogException:
        return 0
