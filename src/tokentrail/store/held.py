"""DuckDB's held calls: new calls wait to be rolled up together, off the writer's commits.

The rollup statements (store/rollups.py) cost about 40 ms to plan whatever their input, so rolling up each
group's few calls made small requests 4x slower, and rolling them up in a writer group held every request of
that group for ~150 ms. Instead:

- The writer stamps each group's spans with a `received_at` later than every stamp before (`Stamp`), even
  if the clock steps back. The held calls are the view ``rollup_pending``: the calls stamped after the mark
  (``rollup_mark``), so holding a call costs nothing beyond storing it; reads add them in.
- `Roller`, a thread with a connection of its own, rolls them up and moves the mark in one transaction, once
  `ROLLUP_BATCH` spans were stored since the last roll-up, or every `ROLLUP_EVERY_S` while any wait. Its
  transaction and the writer's touch different tables, so both commit; a reader sees the rollups and the mark
  of one moment. Whatever else rolls up (a reprice, a retention delete) holds `Roller.lock` for its whole
  transaction, so no two roll-ups of the same calls overlap.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

import duckdb
import pyarrow as pa

from tokentrail.store import rollups
from tokentrail.times import utcnow

log = logging.getLogger(__name__)
ROLLUP_BATCH = 50_000  # spans stored since the last roll-up that wake the roller (docs/architecture.md: why)
ROLLUP_EVERY_S = 60.0  # the longest a held call waits while the roller runs
_TICK = dt.timedelta(microseconds=1)
_LLM = "kind = 'llm'"
# after a roll-up every call stored is in the rollups: the mark moves to the last stamp
_MOVE_MARK = f"""
UPDATE {rollups.MARK} SET mark = coalesce((SELECT max(received_at) FROM spans
WHERE received_at > (SELECT mark FROM {rollups.MARK})), mark)
"""
_LAST_STAMP = f"""
SELECT coalesce((SELECT max(received_at) FROM spans WHERE received_at > (SELECT mark FROM {rollups.MARK})),
(SELECT mark FROM {rollups.MARK}))
"""


def roll_up(con: duckdb.DuckDBPyConnection, source: str, sign: int = 1) -> None:
    """Add the rollups of `source`'s calls (times `sign`) to the stored ones (store/rollups.py)."""
    for statement in rollups.upserts(source, _LLM, sign):
        con.execute(statement)


def roll_up_pending(con: duckdb.DuckDBPyConnection) -> int:
    """Roll up the calls stored after the mark and move the mark past them, in the caller's transaction
    (holding `Roller.lock`); returns how many there were."""
    held = int(con.execute(f"SELECT count(*) FROM {rollups.PENDING}").fetchall()[0][0])
    if held:
        roll_up(con, rollups.PENDING)
        con.execute(_MOVE_MARK)
    seal_days(con, utcnow())
    return held


def seal_days(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
    """Seal the days (UTC) before `now`'s that are not yet: add them to their weeks (store/rollups.py's
    `WEEKS`) and move the mark."""
    today = dt.datetime.combine(now.date(), dt.time())
    if con.execute(f"SELECT sealed < ? FROM {rollups.MARK}", [today]).fetchall()[0][0]:
        first, move = rollups.SEAL_DAYS
        con.execute(first, [today])
        con.execute(move, [today])


class Stamp:
    """The writer's `received_at`: one per group, later than every one before (the last read at the first)."""

    def __init__(self, connect: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        self._connect = connect
        self.last: dt.datetime | None = None

    def __call__(self, spans: pa.Table) -> pa.Table:
        if self.last is None:
            with self._connect() as con:
                self.last = con.execute(_LAST_STAMP).fetchall()[0][0]
        self.last = max(utcnow(), self.last + _TICK)
        column = spans.schema.get_field_index("received_at")
        stamps = pa.repeat(pa.scalar(self.last, spans.schema.field(column).type), spans.num_rows)
        return spans.set_column(column, "received_at", stamps)


class Roller:
    """The thread that rolls up held calls (see the module docstring)."""

    def __init__(self, connect: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        self.lock = threading.Lock()
        self._con = connect()
        self._wake = threading.Event()
        self._stored, self._last, self._stopped = 0, time.monotonic(), False
        self._thread = threading.Thread(target=self._loop, name="tokentrail-rollups", daemon=True)
        self._thread.start()

    def stored(self, spans: int) -> None:
        """The writer committed `spans` new spans."""
        self._stored += spans
        if self._stored >= ROLLUP_BATCH:
            self._wake.set()

    def roll_up(self) -> int:
        """Roll up the held calls now; returns how many there were."""
        with self.lock:
            return self._roll_up_locked()

    def _roll_up_locked(self) -> int:
        self._stored, self._last = 0, time.monotonic()
        self._con.execute("BEGIN")
        try:
            held = roll_up_pending(self._con)
        except Exception:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")
        return held

    def _loop(self) -> None:
        while not self._stopped:
            self._wake.wait(ROLLUP_EVERY_S)
            self._wake.clear()
            with self.lock:
                due = self._stored >= ROLLUP_BATCH or time.monotonic() - self._last >= ROLLUP_EVERY_S
                if due and not self._stopped:
                    self._try_locked()

    def _try_locked(self) -> None:
        try:
            self._roll_up_locked()
        except duckdb.Error:  # the held calls stay held (reads add them in); the next turn tries again
            log.exception("rolling up the held calls failed")

    def close(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join()
        self._con.close()
