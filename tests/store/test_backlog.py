"""The admission estimate: work queued over its measured throughput."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from tokentrail.store.backlog import Backlog
from tokentrail.store.writer import BatchWriter, Job


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_wait_is_queued_units_over_the_measured_rate() -> None:
    clock = Clock()
    backlog = Backlog(clock)
    backlog.add(2000)
    assert backlog.wait_s() == 0.0  # nothing measured yet: nothing refused
    clock.now += 1.0
    backlog.done(1000)  # 1000 units in 1 s of busy time
    assert backlog.rate == 1000.0
    backlog.add(1000)
    assert backlog.wait_s() == pytest.approx(2.0)  # 1000 left + 1000 more at 1000/s
    clock.now += 2.0
    backlog.done(2000)
    assert backlog.pending == 0 and backlog.wait_s() == 0.0


def test_a_rate_from_the_first_moments_refuses_nothing() -> None:
    """A cold start measures a low rate; refusing by it turned away a burst the server then served."""
    clock = Clock()
    backlog = Backlog(clock)
    backlog.add(100)
    clock.now += 0.3
    backlog.done(10)  # a slow first window: 33 units/s
    backlog.add(1000)
    assert backlog.rate == pytest.approx(10 / 0.3)
    assert backlog.wait_s() == 0.0  # 0.3 s measured: not warm yet
    for _ in range(3):
        clock.now += 0.3
        backlog.done(10)
    assert backlog.measured_s >= 1.0 and backlog.wait_s() > 10  # warm: the same backlog is refused


def test_idle_time_does_not_count_as_slowness() -> None:
    clock = Clock()
    backlog = Backlog(clock)
    backlog.add(100)
    clock.now += 0.25
    backlog.done(100)
    first = backlog.rate
    clock.now += 60  # idle for a minute
    backlog.add(100)
    clock.now += 0.25
    backlog.done(100)
    assert backlog.rate == pytest.approx(first)


def test_the_writer_counts_rows_until_they_are_committed() -> None:
    seen: list[int] = []

    def commit(_conn: object, jobs: list[Job]) -> list[int]:
        seen.append(writer.backlog.pending)
        return [job.table.num_rows for job in jobs]

    writer = BatchWriter(lambda: None, commit, 8, "test-writer")
    try:
        assert writer.submit("spans", pa.table({"x": [1, 2, 3, 4, 5]})).result(10) == 5
        end = time.monotonic() + 10
        while writer.backlog.pending and time.monotonic() < end:
            time.sleep(0.01)
        assert seen == [5] and writer.backlog.pending == 0
    finally:
        writer.close()
