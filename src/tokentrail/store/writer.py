"""The batch writer shared by the stores: a bounded queue, one writer thread, group commit.

Callers `submit` an Arrow table and get a future that resolves to the number of rows newly stored once
they are committed. When the queue is full, `submit` raises StoreBusy at once, so the collector can shed
load instead of holding requests. The writer takes every job waiting (up to a cap) and commits them
together; a failing batch fails its own futures and the writer goes on.

Under load, the requests that were in one group come back together, and while the writer commits a group
the next one gathers only the requests that were not in it: with every client's request in one of two
alternating groups, each commit serves about half of them. So a group of fewer than `LINGER_ROWS` rows
whose queue is empty waits up to `LINGER_S` while `upstream` reports work on its way to the writer
(request bodies being decoded), and takes what arrives: measured with 16 one-span clients, groups of ~7
became ~16 and the server's CPU per request fell from ~1.7 to ~1.2-1.5 ms (docs/architecture.md); a
limit of 16 ms rather than 8 kept them whole on a slower machine (~14 % more requests/s). With nothing on
its way, or with many rows in hand, a group is committed at once.

`run` queues a task (a function of the writer's connection, e.g. a retention delete) that runs alone between
batches, so maintenance never races ingest and each task holds the writer only for its own duration.

`maintain(connection, idle)`, when a store gives one, runs after each group's futures are resolved
(``idle`` False) and once the queue has been empty for `IDLE_S` after a group (True; again after another
`IDLE_S` while it fails): DuckDB moves its span log there (store/duckdb.py), off the commits that clients
wait for. An idle writer with nothing new since then sleeps until the next job.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from tokentrail.store.backlog import Backlog
from tokentrail.store.base import StoreBusy, StoreError

log = logging.getLogger(__name__)
MAX_GROUP = 64
LINGER_S = 0.016  # the longest a group waits for work on its way (see the module docstring)
LINGER_ROWS = 64  # a group of this many rows or more does not wait: its commit is not mostly fixed cost
IDLE_S = 0.05  # the queue empty this long calls maintain(connection, idle=True)


TASK = "task"


class Job:
    __slots__ = ("future", "kind", "table", "task")

    def __init__(self, kind: str, table: pa.Table, task: Callable[[Any], int] | None = None) -> None:
        self.kind = kind
        self.table = table
        self.task = task
        self.future: concurrent.futures.Future[int] = concurrent.futures.Future()


# commit(connection, jobs) -> rows stored per job; connect() makes the writer's own connection.
Commit = Callable[[Any, list[Job]], list[int]]
Maintain = Callable[[Any, bool], None]


class BatchWriter:
    def depth(self) -> int:
        """Batches waiting for the writer."""
        return self._queue.qsize()

    def __init__(
        self,
        connect: Callable[[], Any],
        commit: Commit,
        max_pending: int,
        name: str,
        maintain: Maintain | None = None,
    ) -> None:
        self.upstream = Backlog()  # work on its way to `submit`, counted by the caller (the collector)
        self._connect = connect
        self._commit = commit
        self._maintain = maintain
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_pending)
        self.backlog = Backlog()  # rows queued or being committed, and the commit rate
        self._closed = False
        self._held: Job | None = None  # a task met while gathering a group; it runs next, alone
        self._idle_due = False  # a group ran since the last successful idle `maintain`
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

    def run(self, task: Callable[[Any], int]) -> concurrent.futures.Future[int]:
        """Queue `task(connection)` to run alone on the writer; waits for room (never raises StoreBusy)."""
        if self._closed:
            raise StoreError("the store is closed")
        job = Job(TASK, pa.table({}), task)
        self._queue.put(job)
        return job.future

    def _next(self, conn: Any) -> Job | None:
        if self._held is not None:
            job, self._held = self._held, None
            return job
        while self._idle_due:
            try:
                return self._queue.get(timeout=IDLE_S)
            except queue.Empty:
                self._idle_due = not self._keep(conn, idle=True)
        return self._queue.get()

    def _keep(self, conn: Any, *, idle: bool) -> bool:
        """`maintain`, which must not stop the writer: a failure is logged (False), and tried again later."""
        assert self._maintain is not None
        try:
            self._maintain(conn, idle)
        except Exception:
            log.exception("store maintenance failed")
            return False
        return True

    def _run_task(self, conn: Any, job: Job) -> None:
        assert job.task is not None
        try:
            job.future.set_result(job.task(conn))
        except Exception as exc:  # the writer must survive a failing task; its caller gets the error
            job.future.set_exception(exc)

    def expected_wait_s(self) -> float:
        """How long rows submitted now would wait for their commit, by the measured commit rate."""
        return self.backlog.wait_s()

    def _take_group(self, first: Job) -> list[Job]:
        jobs, deadline, rows = [first], time.monotonic() + LINGER_S, first.table.num_rows
        while len(jobs) < MAX_GROUP:
            try:
                nxt = self._gather(deadline if rows < LINGER_ROWS else 0.0)
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)
                break
            if nxt.kind == TASK:
                self._held = nxt
                break
            jobs.append(nxt)
            rows += nxt.table.num_rows
        return jobs

    def _gather(self, deadline: float) -> Job | None:
        """The next job waiting; when none is, the next to arrive before `deadline` while work is on its
        way upstream. Raises queue.Empty when there is none."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            wait_s = deadline - time.monotonic()
            if self.upstream.pending <= 0 or wait_s <= 0:
                raise
        return self._queue.get(timeout=wait_s)

    def _loop(self) -> None:
        conn = self._connect()
        try:
            while (job := self._next(conn)) is not None:
                if job.kind == TASK:
                    self._run_task(conn, job)
                    continue
                self._run(conn, self._take_group(job))
                if self._maintain is not None:
                    self._keep(conn, idle=False)
                    self._idle_due = True
        finally:
            close = getattr(conn, "close", None)
            if close is not None:
                close()

    def _run(self, conn: Any, jobs: list[Job]) -> None:
        """Commit the group, count its rows done, then resolve its futures: a client answered at once can send
        its next request before this thread runs on, and its admission must not find these rows still queued
        (a slow store's rate then made one row look like a second's wait: a 429 under load)."""
        failure = None
        try:
            counts = list(zip(jobs, self._commit(conn, jobs), strict=True))
        except Exception as exc:  # the writer must survive any one bad batch
            log.exception("write failed")
            failure = f"write failed: {exc}"
        self.backlog.done(sum(j.table.num_rows for j in jobs))
        if failure is not None:
            for j in jobs:
                j.future.set_exception(StoreError(failure))
            return
        for j, count in counts:
            j.future.set_result(count)

    def is_current(self) -> bool:
        """Whether the calling thread is the writer's."""
        return threading.current_thread() is self._thread

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
