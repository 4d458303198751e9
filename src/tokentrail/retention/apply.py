"""One retention run: expired days first, then the disk cap, each day deleted by its own task on the writer.

Each day is one task on the store's writer (see store/writer.py), so ingest batches interleave between days
and a run holds the writer for at most one day's delete at a time. Calls are rolled up into daily_costs in
the same task, just before they are deleted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from typing import Any, Protocol

from tokentrail.retention.on_clickhouse import ClickHouseRetention
from tokentrail.retention.on_duckdb import DuckDBRetention
from tokentrail.retention.policy import DAY, RAW, RETAINED, Policy, Retained, first_kept_day
from tokentrail.store import QueryFailed, Store

log = logging.getLogger(__name__)
MAX_CAP_ROUNDS = 8


class Backend(Protocol):
    def tables(self) -> set[str]: ...
    def drop(self, retained: Retained, lo: dt.datetime, hi: dt.datetime) -> int: ...
    def size_bytes(self) -> int: ...
    def reclaim(self) -> None: ...
    def sync_ttl(self, policy: Policy, tables: set[str]) -> list[str]: ...


def backend_for(store: Store) -> Backend:
    return DuckDBRetention(store) if store.dialect == "duckdb" else ClickHouseRetention(store)


@dataclasses.dataclass(slots=True)
class Report:
    rows: dict[str, int] = dataclasses.field(default_factory=dict)  # table -> rows deleted
    days: dict[str, list[dt.date]] = dataclasses.field(default_factory=dict)  # table -> days dropped
    cap_days: list[dt.date] = dataclasses.field(default_factory=list)  # days dropped for the disk cap
    ttl: list[str] = dataclasses.field(default_factory=list)  # ClickHouse TTL statements run
    notes: list[str] = dataclasses.field(default_factory=list)
    size_before: int = 0
    size_after: int = 0

    def record(self, table: str, day: dt.datetime, rows: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + rows
        self.days.setdefault(table, []).append(day.date())


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def apply_retention(
    store: Store, policy: Policy, now: dt.datetime | None = None, stop: threading.Event | None = None
) -> Report:
    """Enforce `policy` on `store` now: drop expired days, then the oldest days while over the disk cap.

    When `stop` is set (the server is shutting down), the run ends after the day being deleted."""
    backend, now, stop = backend_for(store), now or utc_now(), stop or threading.Event()
    tables = backend.tables()
    report = Report(ttl=backend.sync_ttl(policy, tables), size_before=backend.size_bytes())
    for retained in (r for r in RETAINED if r.table in tables):
        days = policy.days(retained)
        for day in (
            days_before(store, retained, first_kept_day(now, days), report) if days is not None else []
        ):
            if stop.is_set():
                return report
            report.record(retained.table, day, backend.drop(retained, day, day + DAY))
    if policy.max_disk is not None:
        enforce_cap(store, backend, policy.max_disk, first_kept_day(now, 0), tables, report)
    elif report.rows:
        backend.reclaim()
    report.size_after = backend.size_bytes()
    return report


def days_before(store: Store, retained: Retained, cutoff: dt.datetime, report: Report) -> list[dt.datetime]:
    """The UTC days with rows of `retained` before `cutoff`, oldest first."""
    col = retained.time_column
    sql = f"SELECT DISTINCT date_trunc('day', {col}) AS day FROM {retained.table} WHERE {col} < ? ORDER BY 1"
    try:
        return [day for (day,) in store.query(sql, [cutoff]).rows]
    except QueryFailed as exc:  # a table registered with a time column it does not have
        report.notes.append(f"{retained.table} skipped: {exc}")
        return []


def day_rows(store: Store, tables: set[str], before: dt.datetime) -> dict[dt.datetime, int]:
    """Rows per UTC day before `before`, over every raw table (what the disk cap may drop)."""
    counts: dict[dt.datetime, int] = {}
    for retained in (r for r in RAW if r.table in tables):
        col = retained.time_column
        day = f"date_trunc('day', {col})"
        sql = f"SELECT {day} AS day, count(*) FROM {retained.table} WHERE {col} < ? GROUP BY 1"
        for day, n in store.query(sql, [before]).rows:
            counts[day] = counts.get(day, 0) + int(n)
    return counts


def days_to_fit(counts: dict[dt.datetime, int], size: int, cap: int) -> list[dt.datetime]:
    """The oldest days whose rows, at the average bytes per row, bring `size` under `cap` (at least one)."""
    per_row, excess, freed, chosen = size / max(1, sum(counts.values())), size - cap, 0.0, []
    for day in sorted(counts):
        chosen.append(day)
        freed += counts[day] * per_row
        if freed >= excess:
            break
    return chosen


def enforce_cap(
    store: Store, backend: Backend, cap: int, today: dt.datetime, tables: set[str], report: Report
) -> None:
    """Drop the oldest whole days before today until the store's size is at most `cap` bytes.

    Stops when the size did not fall after a round (the space is not reclaimed yet, see on_duckdb), so a
    stale measurement never drops more than the estimate asked for."""
    previous = None
    for _ in range(MAX_CAP_ROUNDS):
        backend.reclaim()
        size = backend.size_bytes()
        if size <= cap:
            break
        if previous is not None and size >= previous:
            report.notes.append(
                f"the store is {size} bytes, over the cap of {cap}, and the last days dropped freed nothing: "
                "their space is not reclaimed yet, or what is left is the daily cost rollup, which the cap "
                "never drops (see docs/architecture.md, Retention)"
            )
            break
        counts = day_rows(store, tables, today)
        if not counts:
            report.notes.append(
                f"the store is {size} bytes, over the cap of {cap}, with only today's data left"
            )
            break
        for day in days_to_fit(counts, size, cap):
            for retained in (r for r in RAW if r.table in tables):
                report.record(retained.table, day, backend.drop(retained, day, day + DAY))
            report.cap_days.append(day.date())
        previous = size


def oldest_kept(store: Store) -> dict[str, dt.datetime | None]:
    """The oldest time stored in each retained table that exists."""
    tables = backend_for(store).tables()
    out: dict[str, dt.datetime | None] = {}
    for retained in (r for r in RETAINED if r.table in tables):
        sql = f"SELECT min({retained.time_column}) FROM {retained.table}"
        out[retained.table] = store.query(sql).rows[0][0]
    return out


def describe(store: Store, policy: Policy) -> dict[str, Any]:
    """The settings in force, the oldest time kept per table and the store's size in bytes."""
    settings = {f.name: getattr(policy, f.name) for f in dataclasses.fields(policy)}
    return {"policy": settings, "oldest": oldest_kept(store), "size_bytes": backend_for(store).size_bytes()}
