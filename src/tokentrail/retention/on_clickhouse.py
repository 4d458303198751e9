"""Retention on ClickHouse: TTL clauses on the tables, and mutations for immediate effect.

`sync_ttl` sets each table's TTL from the policy (ALTER TABLE ... MODIFY TTL, without rewriting old parts)
or removes it, so ClickHouse expires rows in its merges even when no tokentrail process runs. The spans TTL
lags the policy by one day, so tokentrail's own run (which rolls calls up into daily_costs first) normally
gets there before the merge does. `drop` rolls up, then deletes with a synchronous mutation, which rewrites
the parts at once, so system.parts (what the disk cap measures) shrinks straight away.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from tokentrail.analytics.chargeback import rollup_insert_sql
from tokentrail.retention.policy import RETAINED, Policy, Retained
from tokentrail.store import Store
from tokentrail.store.clickhouse import Engine, literal, to_clickhouse

SPANS_GRACE_DAYS = 1


def ttl_clause(retained: Retained, days: int) -> str:
    """The TTL expression of a table kept `days` days: rows go when their whole day is that old."""
    keep = days + 1 + (SPANS_GRACE_DAYS if retained.rollup else 0)
    return f"toDate(assumeNotNull({retained.time_column})) + toIntervalDay({keep})"


class ClickHouseRetention:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _ch(self, sql: str) -> list[tuple[Any, ...]]:
        return self.store.query(sql, dialect="clickhouse").rows

    def tables(self) -> set[str]:
        return {
            str(n) for (n,) in self._ch("SELECT name FROM system.tables WHERE database = currentDatabase()")
        }

    def drop(self, retained: Retained, lo: dt.datetime, hi: dt.datetime) -> int:
        column, table = retained.time_column, retained.table
        bounds = f"{column} >= {literal(lo).sql('clickhouse')} AND {column} < {literal(hi).sql('clickhouse')}"

        def task(engine: Engine) -> int:
            count = engine.query_arrow(f"SELECT count() AS n FROM {table} WHERE {bounds}", {})
            if retained.rollup:
                engine.command(to_clickhouse(rollup_insert_sql(), [lo, hi], "duckdb"))
            engine.command(f"ALTER TABLE {table} DELETE WHERE {bounds} SETTINGS mutations_sync = 2")
            return int(count.column("n")[0].as_py())

        return self.store.run_task(task).result()

    def size_bytes(self) -> int:
        sql = "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = currentDatabase()"
        return int(self._ch(sql)[0][0] or 0)

    def reclaim(self) -> None:
        return None  # the synchronous mutations have already rewritten the parts

    def sync_ttl(self, policy: Policy, tables: set[str]) -> list[str]:
        """Bring every retained table's TTL in line with the policy; returns the statements run."""
        sql = "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()"
        engines = {str(name): str(engine) for name, engine in self._ch(sql)}
        statements = []
        for retained in (r for r in RETAINED if r.table in tables):
            days, current = policy.days(retained), engines.get(retained.table, "")
            if days is not None and ttl_clause(retained, days) not in current:
                clause = f"{ttl_clause(retained, days)} SETTINGS materialize_ttl_after_modify = 0"
                statements.append(f"ALTER TABLE {retained.table} MODIFY TTL {clause}")
            elif days is None and " TTL " in current:
                statements.append(f"ALTER TABLE {retained.table} REMOVE TTL")
        for statement in statements:
            self.store.run_task(command(statement)).result()
        return statements


def command(sql: str) -> Callable[[Engine], int]:
    """A writer task running one statement."""

    def task(engine: Engine) -> int:
        engine.command(sql)
        return 0

    return task
