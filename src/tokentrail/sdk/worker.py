"""The span worker: one background thread per `Tokentrail` instance turns finished LLM calls into spans.

The caller's thread only records a call (`tokentrail.sdk.call`: timestamps, references, a copy of its
context) and hands it over with `submit`: a put into a queue bounded by ``queue_max_spans`` (when full, the
call is dropped and counted in ``sdk_stats()["dropped"]``). The thread calls each record's ``finish``, which
reads the response, computes the stream statistics, builds the attributes and creates and ends the span with
the call's measured start and end times.

**Batches, on a clock.** The thread wakes every `PERIOD_S` (1 s), makes the spans of every record queued by
then, all in one go, and sleeps again; a submit does not wake it (``drain`` and ``close`` do, and a queue half
full). Both threads share one interpreter, and a woken Python thread must take the GIL before it can do
anything, even go back to sleep. An application thread that runs Python and lets the GIL go for an instant at
a time (a system call, ``os.urandom`` for a request id) wins it back every time, so the woken thread can wait
for it for as long as the application stays busy, and every one of those instants wakes it on the other core
for nothing: measured on the 2-core benchmark machine (``bench/overhead.py``, blocks of calls up to the end of
the worker's flush), a worker woken by the first call of a busy burst cost the application about 40 µs of CPU
per call for the rest of the burst (an openai call, 550 µs raw, took 7 % longer), about as much as the spans'
own work. Woken on a clock instead, it is woken in a busy stretch once a period rather than at every burst's
first call (each wake can still wait for the GIL until the application blocks, on I/O or in ``force_flush``),
and batches amortise the rest (made one record at a time, a 50-chunk stream's span cost about twice the wall
time it costs in a batch). The price: a span reaches the span processors up to `PERIOD_S` after its call ended
(the exporter batches for a second anyway), and an idle process's worker wakes once a period to find nothing
to do.

It is not the exporter's thread: that one blocks on the network and backs off for seconds when the collector
is down, while this one should keep the queue short. Spans it ends go to the span processors as usual, the
exporter's queue included.

`drain` waits until every record submitted before it has become a span (``Tokentrail.force_flush`` and
``shutdown`` drain first). Internal errors are logged with a short traceback; when internal errors raise
(under pytest, or ``raise_internal_errors=True``) they are also kept, and `raise_kept` (called by
``force_flush``) raises the first. Fork-safe: the child starts with an empty queue and no thread.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from tokentrail.sdk.errors import log_internal_error
from tokentrail.sdk.stats import Stats

if TYPE_CHECKING:
    from tokentrail.sdk.config import Settings


class Job(Protocol):
    def finish(self, report: Callable[[], None]) -> None:
        """Build and end the span; call `report` inside ``except`` for an internal error."""


PERIOD_S = 1.0
"""How often the thread wakes to make the spans of the records queued (see the module docstring)."""


class SpanWorker:
    def __init__(self) -> None:
        self.limit = 20_000
        self._settings: Settings | None = None
        self._fork_hook = False
        self._reset()

    def _reset(self) -> None:
        """A fresh state (at start, and in a forked child: the parent makes the spans of what it queued)."""
        self.stats = Stats(("dropped",))
        # Jobs, drain markers (Events) and None (stop). SimpleQueue is written in C: a put costs the caller
        # well under a microsecond (the thread never waits on it: it sleeps on `_hurry`).
        self._queue: queue.SimpleQueue[Job | threading.Event | None] = queue.SimpleQueue()
        self._hurry = threading.Event()  # set by drain, close and a half-full queue: make the spans now
        self._closed = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._errors: list[BaseException] = []

    def configure(self, settings: Settings) -> None:
        self._settings = settings
        self.limit = settings.queue_max_spans

    # --- the caller's side ------------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        waiting = self._queue.qsize()
        if self._closed or waiting >= self.limit:
            self.stats.add("dropped")
            return
        self._queue.put(job)
        if self._thread is None:
            self.start()
        elif (waiting + 1) * 2 >= self.limit:  # half full: make room now
            self._hurry.set()

    def drain(self, timeout_s: float) -> bool:
        """Wait until everything submitted so far has been finished; True when done within the timeout."""
        thread = self._thread
        if thread is None or not thread.is_alive() or self._closed:
            if thread is not None:
                thread.join(timeout_s)  # closing: it finishes the queue, then stops
            return self._queue.empty()
        done = threading.Event()
        self._queue.put(done)
        self._hurry.set()
        return done.wait(timeout_s)

    def raise_kept(self) -> None:
        """Raise the first internal error kept since the last call (see the module docstring)."""
        if self._errors:
            first, self._errors = self._errors[0], []
            raise first

    def close(self, timeout_s: float) -> None:
        """Finish what is queued within `timeout_s`, then stop; later calls are dropped until `reopen`."""
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            self._hurry.set()
            thread.join(max(timeout_s, 0.0))

    def reopen(self) -> None:
        self._closed = False
        if self._thread is not None and not self._thread.is_alive():
            self._thread = None

    # --- the thread -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread now (``instrument`` does, so the first call does not wait for it); submit
        otherwise starts it."""
        with self._start_lock:
            if self._thread is not None or self._closed:
                return
            if not self._fork_hook:
                os.register_at_fork(after_in_child=weak_caller(weakref.WeakMethod(self._reset)))
                self._fork_hook = True
            self._thread = threading.Thread(target=self._run, name="tokentrail-spans", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._hurry.wait(PERIOD_S)  # asleep until the period is over, or drain, close or a full queue
            self._hurry.clear()
            if not self._run_batch():
                return

    def _run_batch(self) -> bool:
        """Finish everything queued; False when closed (the thread stops)."""
        jobs = self._queue
        while True:
            try:
                job = jobs.get_nowait()
            except queue.Empty:
                return True
            if job is None:  # from close: everything before it is done
                if self._closed:
                    return False
            elif isinstance(job, threading.Event):  # a drain marker: everything before it is done
                job.set()
            else:
                try:
                    job.finish(self._report)
                except Exception:
                    self._report()

    def _report(self) -> None:
        exc = sys.exc_info()[1]
        if exc is None:  # pragma: no cover - misuse
            return
        log_internal_error(exc)
        if self._settings is not None and self._settings.raises:
            self._errors.append(exc)


def weak_caller(ref: weakref.WeakMethod[Callable[..., None]]) -> Callable[[], None]:
    """A function calling the method behind `ref`, if its object is still alive (for atexit, at_fork)."""

    def call() -> None:
        method = ref()
        if method is not None:
            method()

    return call
