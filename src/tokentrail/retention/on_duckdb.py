"""Retention on the DuckDB store: DELETE one day per transaction on the writer, then CHECKPOINT.

DuckDB never shortens its file: a CHECKPOINT marks the blocks of deleted rows free and later writes reuse
them, so the file stops growing rather than shrinking. The disk cap therefore measures the used blocks
(`pragma_database_size`), which do fall after a delete and checkpoint. A checkpoint frees nothing while
another transaction is open (a long dashboard query); the space comes back at a later checkpoint.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import duckdb

from tokentrail.analytics.chargeback import rollup_insert_sql
from tokentrail.retention.policy import Policy, Retained
from tokentrail.store import Store, rollups
from tokentrail.store.held import roll_up_pending

log = logging.getLogger(__name__)


class DuckDBRetention:
    def __init__(self, store: Store) -> None:
        self.store = store

    def tables(self) -> set[str]:
        rows = self.store.query("SELECT table_name FROM information_schema.tables").rows
        return {str(name) for (name,) in rows}

    def drop(self, retained: Retained, lo: dt.datetime, hi: dt.datetime) -> int:
        """Delete the rows of [lo, hi) in one transaction, after rolling up the calls among them."""

        def task(con: duckdb.DuckDBPyConnection) -> int:
            column = retained.time_column
            con.execute("BEGIN")
            try:
                if retained.rollup:  # the calls' daily costs, and the calls not in the long-range rollups yet
                    con.execute(rollup_insert_sql(), [lo, hi])
                    roll_up_pending(con)
                if retained.table == rollups.SKETCHES:  # the days' counts out of their weeks first
                    for statement in rollups.WEEKS_LESS_DAYS:
                        con.execute(statement, [lo, hi])
                sql = f"DELETE FROM {retained.table} WHERE {column} >= ? AND {column} < ?"
                row = con.execute(sql, [lo, hi]).fetchone()
            except Exception:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
            return int(row[0]) if row else 0

        return self.store.run_task(task).result()

    def size_bytes(self) -> int:
        """Bytes in used blocks, plus the write-ahead log (rows not yet checkpointed into blocks)."""
        rows = self.store.query("SELECT used_blocks * block_size FROM pragma_database_size()").rows
        wal = Path(f"{getattr(self.store, 'path', ':memory:')}.wal")
        return int(rows[0][0]) + (wal.stat().st_size if wal.exists() else 0)

    def reclaim(self) -> None:
        def task(con: duckdb.DuckDBPyConnection) -> int:
            try:
                con.execute("CHECKPOINT")
            except duckdb.Error as exc:  # e.g. a concurrent checkpoint: the next run checkpoints again
                log.warning("retention checkpoint skipped: %s", exc)
            return 0

        self.store.run_task(task).result()

    def sync_ttl(self, policy: Policy, tables: set[str]) -> list[str]:
        return []  # DuckDB has no TTL; the runs of `serve` and `retention apply` are the enforcement
