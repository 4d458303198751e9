"""Group commit's wait for work on its way (store/writer.py): a group whose queue is empty waits for the
requests still being decoded, and a lone request never waits."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from tokentrail.server.app import create_app
from tokentrail.store import writer as writer_module
from tokentrail.store.duckdb import DuckDBStore
from tokentrail.store.writer import BatchWriter, Job


class Recorder:
    """A commit that records each group's rows."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []

    def __call__(self, _conn: object, jobs: list[Job]) -> list[int]:
        self.groups.append([job.table.column("x")[0].as_py() for job in jobs])
        return [job.table.num_rows for job in jobs]


def row(x: int) -> pa.Table:
    return pa.table({"x": [x]})


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def writer(recorder: Recorder) -> Iterator[BatchWriter]:
    w = BatchWriter(lambda: None, recorder, 8, "test-writer")
    yield w
    w.close()


def test_a_group_waits_for_a_request_being_decoded(
    writer: BatchWriter, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "LINGER_S", 30.0)  # long enough that only the arrival ends the wait
    writer.upstream.add(100)  # a request is being decoded
    first = writer.submit("spans", row(1))
    threading.Event().wait(0.05)  # the writer has taken the first job and waits
    assert not first.done()
    second = writer.submit("spans", row(2))
    writer.upstream.done(100)
    assert first.result(10) == 1 and second.result(10) == 1
    assert recorder.groups == [[1, 2]]


def test_with_nothing_on_its_way_a_request_is_committed_at_once(
    writer: BatchWriter, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "LINGER_S", 30.0)
    assert writer.submit("spans", row(1)).result(10) == 1  # would take 30 s if it waited
    assert writer.submit("spans", row(2)).result(10) == 1
    assert recorder.groups == [[1], [2]]


def test_a_group_of_many_rows_does_not_wait(
    writer: BatchWriter, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its commit is mostly per-row work: waiting would only add latency."""
    monkeypatch.setattr(writer_module, "LINGER_S", 30.0)
    writer.upstream.add(100)
    big = pa.table({"x": list(range(3, 3 + writer_module.LINGER_ROWS))})
    assert writer.submit("spans", big).result(10) == writer_module.LINGER_ROWS
    assert recorder.groups == [[3]]


def test_the_wait_ends_at_its_limit_when_the_work_never_arrives(
    writer: BatchWriter, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request whose decoding fails never reaches the writer: the group waits its limit, then commits."""
    monkeypatch.setattr(writer_module, "LINGER_S", 0.2)
    writer.upstream.add(100)
    assert writer.submit("spans", row(1)).result(10) == 1
    assert recorder.groups == [[1]]


def test_the_collector_counts_its_decoding_in_the_stores_upstream() -> None:
    """The server's decode backlog is the store's `upstream`, so the writer sees requests being decoded."""
    store = DuckDBStore(":memory:")
    try:
        app = create_app(store)
        assert app.state.decode_backlog is store.upstream
    finally:
        store.close()


@pytest.mark.parametrize("fails", [False, True])
def test_a_groups_rows_are_no_longer_queued_when_its_futures_resolve(fails: bool) -> None:
    """The answer may reach the client, and its next request the admission check, before the writer thread
    runs on: by then the committed (or failed) rows must not count as work still queued."""

    watching = threading.Event()

    def commit(_conn: object, jobs: list[Job]) -> list[int]:
        watching.wait(10)  # until the test watches the future
        if fails:
            raise RuntimeError("commit failed")
        return [job.table.num_rows for job in jobs]

    w = BatchWriter(lambda: None, commit, 8, "test-writer")
    seen: list[int] = []
    try:
        future = w.submit("spans", pa.table({"x": [1, 2, 3]}))
        future.add_done_callback(lambda _f: seen.append(w.backlog.pending))  # on the writer, as it resolves
        watching.set()
        assert future.exception(10) is not None if fails else future.result(10) == 3
    finally:
        w.close()
    assert seen == [0]
