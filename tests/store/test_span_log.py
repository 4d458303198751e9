"""DuckDB's span log (store/span_log.py): small groups of the collector's spans are committed as one narrow
row and moved into `spans` in bulk; reads, other writes, tasks and a restart after a crash all see them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from store.test_rollups import _repriced, assert_exact, random_calls
from tokentrail.query import QueryError, check_read_only
from tokentrail.store import QueryFailed, span_log, writer
from tokentrail.store.arrow import calls_to_arrow
from tokentrail.store.duckdb import DuckDBStore
from tokentrail.store.scope import TenantStore
from tokentrail.store.span_log import waiting


def logged(store: DuckDBStore) -> int:
    """Groups in the log now, read on the writer's connection (a read through the store moves them first)."""
    assert store._writer is not None
    return store._writer.run(waiting).result()


def stored(store: DuckDBStore) -> int:
    return int(store.query("SELECT count(*) FROM spans").rows[0][0])


def test_a_small_group_is_logged_and_the_next_read_sees_it_moved(duck: DuckDBStore) -> None:
    calls = random_calls(1, 3)
    assert duck.submit_arrow(calls_to_arrow(calls)).result() == 3
    assert logged(duck) == 1  # committed as one row of the log, not yet in spans
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


def test_a_logged_span_is_moved_before_a_later_write_claims_it(duck: DuckDBStore) -> None:
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


def test_a_busy_writer_moves_the_log_once_it_holds_move_rows(
    duck: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "IDLE_S", 3600.0)  # never idle: only the size moves it
    calls = random_calls(7, span_log.MOVE_ROWS)
    for i in range(0, span_log.MOVE_ROWS - 60, 60):
        duck.submit_arrow(calls_to_arrow(calls[i : i + 60])).result()
    assert logged(duck) == (span_log.MOVE_ROWS - 60) // 60 + 1
    duck.submit_arrow(calls_to_arrow(calls[span_log.MOVE_ROWS - 60 :])).result()
    assert logged(duck) == 0


def test_large_groups_and_other_forms_are_not_logged(duck: DuckDBStore) -> None:
    big = random_calls(8, span_log.LOG_ROWS)
    assert duck.submit_arrow(calls_to_arrow(big)).result() == span_log.LOG_ROWS
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
from tokentrail.store.span_log import waiting
store = DuckDBStore({path!r})
assert store.submit_arrow(calls_to_arrow(random_calls(10, 9))).result() == 9
assert store._writer.run(waiting).result() == 1
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("read_only", [False, True])
def test_spans_acknowledged_before_a_crash_are_moved_at_the_next_open(
    tmp_path: Path, read_only: bool
) -> None:
    path = tmp_path / "crash.duckdb"
    script = textwrap.dedent(_CRASH.format(tests=str(Path(__file__).parents[1]), path=str(path)))
    child = subprocess.run([sys.executable, "-c", script])
    assert child.returncode == -9
    with DuckDBStore(path, read_only=read_only) as again:
        assert stored(again) == 9
    with DuckDBStore(path, read_only=True) as after:
        assert int(after.query("SELECT count(*) FROM span_log").rows[0][0]) == 0


def test_the_log_is_no_table_users_can_query(duck: DuckDBStore) -> None:
    """A logged group holds its sampled content (redacted) until the move: SQL from users cannot read it."""
    duck.submit_arrow(calls_to_arrow(random_calls(11, 2))).result()
    with pytest.raises(QueryError, match="span_log"):
        check_read_only("SELECT body FROM span_log")
    with pytest.raises(QueryFailed, match="span_log"):
        TenantStore(duck, ("acme",)).query("SELECT body FROM span_log")
