"""DuckDB's span log (store/span_log.py): small groups of the collector's spans are appended to a file
beside the database and moved into `spans` in bulk; reads, other writes, tasks and a restart after a crash
all see them, and a write the crash cut short or a failed one leaves the log readable."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from store.test_rollups import _repriced, assert_exact, random_calls
from tokentrail.store import QueryFailed, span_log, writer
from tokentrail.store.arrow import calls_to_arrow
from tokentrail.store.base import StoreError
from tokentrail.store.duckdb import DuckDBStore
from tokentrail.store.scope import TenantStore
from tokentrail.store.span_log import SUFFIX, frames


def log_file(store: DuckDBStore) -> Path:
    return Path(store.path + SUFFIX)


def logged(store: DuckDBStore) -> int:
    """Groups in the log file, read on the writer's thread once its work so far is done (a read through the
    store would move them first)."""
    path = log_file(store)
    assert store._writer is not None
    return store._writer.run(lambda con: len(frames(path.read_bytes())[0]) if path.exists() else 0).result()


@pytest.fixture
def busy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer never idle long enough to move the log on its own."""
    monkeypatch.setattr(writer, "IDLE_S", 3600.0)


def stored(store: DuckDBStore) -> int:
    return int(store.query("SELECT count(*) FROM spans").rows[0][0])


def test_a_small_group_is_logged_and_the_next_read_sees_it_moved(busy: None, duck: DuckDBStore) -> None:
    calls = random_calls(1, 3)
    assert duck.submit_arrow(calls_to_arrow(calls)).result() == 3
    assert logged(duck) == 1  # one frame of the log, on disk, not yet in spans
    assert stored(duck) == 3  # the read moved it first
    assert logged(duck) == 0
    ids = duck.query("SELECT trace_id, span_id FROM spans ORDER BY trace_id").rows
    assert ids == sorted((c.trace_id, c.span_id) for c in calls)


def test_a_span_sent_again_is_stored_once_and_the_rollups_stay_exact(duck: DuckDBStore) -> None:
    calls = random_calls(2, 40)
    for _ in range(2):
        for i in range(0, 40, 8):
            assert duck.submit_arrow(calls_to_arrow(calls[i : i + 8])).result() == 8  # accepted, both times
    assert stored(duck) == 40
    assert_exact(duck)


def test_a_logged_span_is_moved_before_a_later_write_claims_it(busy: None, duck: DuckDBStore) -> None:
    """A call first received by the collector, then imported: the import finds it stored (0 added)."""
    calls = random_calls(3, 5)
    duck.submit_arrow(calls_to_arrow(calls)).result()
    assert logged(duck) == 1
    assert duck.write(calls) == 0
    assert stored(duck) == 5


def test_a_reprice_of_logged_calls_rolls_up_the_stored_versions(duck: DuckDBStore) -> None:
    calls = random_calls(4, 30)
    duck.submit_arrow(calls_to_arrow(calls)).result()
    assert duck.replace(_repriced(calls)) == 30
    assert_exact(duck)


def test_a_task_sees_the_logged_spans(duck: DuckDBStore) -> None:
    duck.submit_arrow(calls_to_arrow(random_calls(5, 7))).result()
    count = duck.run_task(lambda con: int(con.execute("SELECT count(*) FROM spans").fetchall()[0][0]))
    assert count.result() == 7


def test_an_idle_writer_moves_the_log(duck: DuckDBStore) -> None:
    duck.submit_arrow(calls_to_arrow(random_calls(6, 2))).result()
    deadline = time.monotonic() + 30
    while duck._log.rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert duck._log.rows == 0 and logged(duck) == 0


def test_an_idle_writer_maintains_once_after_work_then_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The idle call comes once the queue is quiet after a group (again only while it fails), not every
    `IDLE_S` for as long as the collector is idle."""
    monkeypatch.setattr(writer, "IDLE_S", 0.01)
    calls: list[bool] = []

    def maintain(_conn: object, idle: bool) -> None:
        calls.append(idle)
        if idle and calls.count(True) == 1:
            raise RuntimeError("a failed move")  # tried again after the next IDLE_S

    w = writer.BatchWriter(lambda: None, lambda _c, jobs: [1 for _ in jobs], 8, "t", maintain=maintain)
    try:
        assert w.submit("spans", pa.table({"x": [1]})).result() == 1
        time.sleep(0.3)  # thirty IDLE_S
        assert calls == [False, True, True]  # after the group; the idle call, failed; its retry
        assert w.submit("spans", pa.table({"x": [2]})).result() == 1
        time.sleep(0.3)
        assert calls == [False, True, True, False, True]
    finally:
        w.close()


def test_a_busy_writer_moves_the_log_once_it_holds_move_rows(busy: None, duck: DuckDBStore) -> None:
    calls = random_calls(7, span_log.MOVE_ROWS)
    for i in range(0, span_log.MOVE_ROWS - 60, 60):
        duck.submit_arrow(calls_to_arrow(calls[i : i + 60])).result()
    assert logged(duck) == (span_log.MOVE_ROWS - 60) // 60 + 1
    duck.submit_arrow(calls_to_arrow(calls[span_log.MOVE_ROWS - 60 :])).result()
    assert logged(duck) == 0


def test_large_groups_and_other_forms_are_not_logged(duck: DuckDBStore) -> None:
    big = random_calls(8, span_log.MOVE_ROWS)
    assert duck.submit_arrow(calls_to_arrow(big)).result() == span_log.MOVE_ROWS
    assert logged(duck) == 0
    narrow = calls_to_arrow(random_calls(9, 3)).drop_columns(["sample"])  # not the canonical form
    assert duck.submit_arrow(narrow).result() == 3
    assert duck.submit_arrow(narrow).result() == 0  # the exact path counts what it added
    assert logged(duck) == 0


_CRASH = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from store.test_rollups import random_calls
from tokentrail.store.arrow import calls_to_arrow
from tokentrail.store.duckdb import DuckDBStore
from tokentrail.store.span_log import SUFFIX, frames
store = DuckDBStore({path!r})
assert store.submit_arrow(calls_to_arrow(random_calls(10, 9))).result() == 9
with open({path!r} + SUFFIX, "rb") as log:
    assert len(frames(log.read())[0]) == 1
os.kill(os.getpid(), signal.SIGKILL)
"""


def crashed(tmp_path: Path) -> Path:
    """A database whose process was killed with one acknowledged group of 9 spans in its log."""
    path = tmp_path / "crash.duckdb"
    script = textwrap.dedent(_CRASH.format(tests=str(Path(__file__).parents[1]), path=str(path)))
    child = subprocess.run([sys.executable, "-c", script])
    assert child.returncode == -9
    return path


@pytest.mark.parametrize("read_only", [False, True])
def test_spans_acknowledged_before_a_crash_are_moved_at_the_next_open(
    tmp_path: Path, read_only: bool
) -> None:
    path = crashed(tmp_path)
    with DuckDBStore(path, read_only=read_only) as again:
        assert stored(again) == 9
    assert not Path(str(path) + SUFFIX).exists()  # moved, and the empty log's file removed at close


def test_a_write_cut_short_by_a_crash_is_cut_off_at_the_next_open(
    busy: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash during a group's write (never acknowledged) leaves half a frame; the next group written must
    start a whole frame, or a later open would stop reading at the torn bytes and miss it."""
    path = crashed(tmp_path)
    log = Path(str(path) + SUFFIX)
    whole = log.read_bytes()
    log.write_bytes(whole[: len(whole) // 2])
    with caplog.at_level(logging.WARNING), DuckDBStore(path) as again:
        assert "cut off" in caplog.text
        assert again.submit_arrow(calls_to_arrow(random_calls(12, 3))).result() == 3
        data = log.read_bytes()
        assert frames(data) == ([data[8:]], len(data))  # one whole frame from the start
        assert stored(again) == 3


def test_a_failed_append_fails_its_group_and_leaves_the_log_whole(
    busy: None, duck: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert duck.submit_arrow(calls_to_arrow(random_calls(13, 4))).result() == 4
    size = log_file(duck).stat().st_size
    real_sync = span_log._sync

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(span_log, "_sync", full)
    with pytest.raises(StoreError, match="No space"):
        duck.submit_arrow(calls_to_arrow(random_calls(14, 5))).result()
    assert log_file(duck).stat().st_size == size  # the failed frame cut back off
    monkeypatch.setattr(span_log, "_sync", real_sync)
    assert duck.submit_arrow(calls_to_arrow(random_calls(15, 6))).result() == 6
    assert logged(duck) == 2
    assert stored(duck) == 10  # the failed group's 5 were never acknowledged, nor stored


@pytest.mark.parametrize("read_only", [False, True])
def test_spans_in_the_previous_versions_log_table_are_moved(tmp_path: Path, read_only: bool) -> None:
    """A file left by the version that logged into a table (migration 18) with a group in it."""
    path = tmp_path / "old.duckdb"
    DuckDBStore(path).close()
    body = calls_to_arrow(random_calls(16, 7)).to_batches()[0].serialize().to_pybytes()
    with duckdb.connect(str(path)) as con:
        con.execute(span_log.LEGACY_DDL)
        con.execute("INSERT INTO span_log VALUES (1, ?)", [body])
        con.execute("DELETE FROM schema_migrations WHERE version = 19")
    with DuckDBStore(path, read_only=read_only) as again:
        assert stored(again) == 7
        assert again.schema_version == 19
        with pytest.raises(QueryFailed, match="span_log"):
            again.query("SELECT count(*) FROM span_log")  # dropped by migration 19


def test_the_log_file_is_nothing_user_sql_can_read(duck: DuckDBStore) -> None:
    """A logged group holds its sampled content (redacted) until the move: SQL from users cannot read it."""
    duck.submit_arrow(calls_to_arrow(random_calls(11, 2))).result()
    path = str(log_file(duck))
    assert os.path.getsize(path) > 0
    for sql in (f"SELECT content FROM read_blob('{path}')", f"SELECT * FROM read_text('{path}')"):
        with pytest.raises(QueryFailed):
            duck.query(sql)
        with pytest.raises(QueryFailed):
            TenantStore(duck, ("acme",)).query(sql)
