"""The batch writer shared by the stores: a bounded queue, one writer thread, group commit.

Callers `submit` an Arrow table and get a future that resolves to the number of rows newly stored once
they are committed. When the queue is full, `submit` raises StoreBusy at once, so the collector can shed
load instead of holding requests. The writer takes every job waiting (up to a cap) and commits them
together; a failing batch fails its own futures and the writer goes on.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from tokentrail.store.backlog import Backlog
from tokentrail.store.base import StoreBusy, StoreError

log = logging.getLogger(__name__)
MAX_GROUP = 64


class Job:
    __slots__ = ("future", "kind", "table")

    def __init__(self, kind: str, table: pa.Table) -> None:
        self.kind = kind
        self.table = table
        self.future: concurrent.futures.Future[int] = concurrent.futures.Future()


# commit(connection, jobs) -> rows stored per job; connect() makes the writer's own connection.
Commit = Callable[[Any, list[Job]], list[int]]


class BatchWriter:
    def __init__(self, connect: Callable[[], Any], commit: Commit, max_pending: int, name: str) -> None:
        self._connect = connect
        self._commit = commit
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_pending)
        self.backlog = Backlog()  # rows queued or being committed, and the commit rate
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, kind: str, table: pa.Table) -> concurrent.futures.Future[int]:
        job = Job(kind, table)
        if self._closed:
            raise StoreError("the store is closed")
        if table.num_rows == 0:
            job.future.set_result(0)
            return job.future
        self.backlog.add(table.num_rows)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.backlog.cancel(table.num_rows)
            raise StoreBusy("the write queue is full") from None
        return job.future

    def expected_wait_s(self) -> float:
        """How long rows submitted now would wait for their commit, by the measured commit rate."""
        return self.backlog.wait_s()

    def _take_group(self, first: Job) -> list[Job]:
        jobs = [first]
        while len(jobs) < MAX_GROUP:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)
                break
            jobs.append(nxt)
        return jobs

    def _loop(self) -> None:
        conn = self._connect()
        try:
            while (job := self._queue.get()) is not None:
                jobs = self._take_group(job)
                self._run(conn, jobs)
                self.backlog.done(sum(j.table.num_rows for j in jobs))
        finally:
            close = getattr(conn, "close", None)
            if close is not None:
                close()

    def _run(self, conn: Any, jobs: list[Job]) -> None:
        try:
            counts = list(zip(jobs, self._commit(conn, jobs), strict=True))
        except Exception as exc:  # the writer must survive any one bad batch
            log.exception("write failed")
            for j in jobs:
                j.future.set_exception(StoreError(f"write failed: {exc}"))
            return
        for j, count in counts:
            j.future.set_result(count)

    def close(self, timeout_s: float = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=timeout_s)


def wait(submit: Callable[[], concurrent.futures.Future[int]]) -> int:
    """Blocking write for callers that may wait (importers, tests): retry while the queue is full."""
    pause = threading.Event()
    while True:
        try:
            return submit().result()
        except StoreBusy:
            pause.wait(0.01)
