"""Decoding in worker processes: `ProcessPipeline`, and how its workers live and die.

- Workers are spawned, not forked, so no lock is inherited mid-flight.
- A worker never outlives the server. On Linux each asks the kernel for SIGKILL when its parent dies
  (`prctl(PR_SET_PDEATHSIG)`); that signal follows the *thread* that spawned the worker, so it is only
  armed when the pool was built on the main thread (as `serve` does; a pool is built and all its
  workers are spawned by `WorkerPool.start`, in one call). Everywhere, a watchdog thread in the worker
  polls the parent pid and exits when it changes.
- A dead worker breaks a ProcessPoolExecutor for good (BrokenProcessPool, and it kills its other
  workers). `WorkerPool` then builds a new pool and retries the request once; when that fails too the
  request gets `WorkersUnavailable` (the collector answers 503 with Retry-After). `ready()` is False
  while the pool is broken or its new workers have not all answered, which `/healthz` reports.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tokentrail.exceptions import Unavailable
from tokentrail.ingest import otlp
from tokentrail.ingest.batches import Batches, DecodeFailed, Item, Outcome
from tokentrail.ingest.pipeline import Decoded, LogContent, Pipeline, pricing_enricher
from tokentrail.model import Call, Sample
from tokentrail.pricing import load_prices
from tokentrail.pricing_overrides import load_overrides
from tokentrail.samples.content import Doc
from tokentrail.samples.policy import Policy
from tokentrail.store.arrow import calls_from_ipc, calls_to_ipc
from tokentrail.store.pandas_free import NoPandas

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
WATCHDOG_INTERVAL_S = 0.5
T = TypeVar("T")


class WorkersUnavailable(Unavailable):
    """The decoding workers died and could not be replaced in time (HTTP 503)."""


# --- inside a worker process -----------------------------------------------------------------------------

_worker: Pipeline | None = None


def die_with_parent(parent_pid: int, use_pdeathsig: bool) -> None:
    """Exit when `parent_pid` is gone: the kernel's parent-death signal (Linux), and a watchdog thread."""
    if use_pdeathsig and sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            threading.Event().wait(WATCHDOG_INTERVAL_S)
        os._exit(1)

    threading.Thread(target=watch, name="tokentrail-parent-watchdog", daemon=True).start()


def init_worker(prices_file: Path | None, max_spans: int, parent_pid: int, use_pdeathsig: bool) -> None:
    global _worker  # one pipeline per worker process, built once
    die_with_parent(parent_pid, use_pdeathsig)
    sys.meta_path.insert(0, NoPandas())
    _worker = Pipeline(pricing_enricher(load_prices(prices_file)), max_spans)
    _worker.traces(warm_up_request(), otlp.PROTOBUF)


def warm_up_request() -> bytes:
    """One priced LLM span: decoding it once loads what the first request would otherwise wait for
    (pyarrow's lazy imports, the price lookup), before the worker counts as started."""
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x01" * 8, start_time_unix_nano=1, end_time_unix_nano=2)
    for key, value in (("gen_ai.provider.name", "openai"), ("gen_ai.request.model", "gpt-4o")):
        span.attributes.add(key=key).value.string_value = value
    span.attributes.add(key="gen_ai.usage.input_tokens").value.int_value = 1
    request = otlp.ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.append(span)
    return bytes(request.SerializeToString())


def worker_pid() -> int:
    return os.getpid()


def traces_ipc(bodies: list[Item], policy: Policy) -> tuple[bytes, list[Outcome]]:
    """Several requests' spans as one Arrow table (`calls_to_ipc`), and each request's outcome in order: its
    count of rows in the table, or its own error (a malformed body fails only its own request)."""
    assert _worker is not None, "worker not initialised"
    _worker.policy = policy  # the server's policy of the moment (PUT /api/sampling changes it)
    calls: list[Call] = []
    outcomes: list[Outcome] = []
    for body, kind in bodies:
        try:
            mine, report = _worker.calls(body, kind)
        except ValueError as exc:  # otlp.BadPayload, PayloadTooLarge, UnsupportedMediaType
            outcomes.append(exc)
            continue
        except Exception as exc:  # a bug: this request fails alone, not every request batched with it
            outcomes.append(decode_failed(exc))
            continue
        calls += mine
        outcomes.append((len(mine), report.rejected_count, report.message()))
    return calls_to_ipc(calls), outcomes


def decode_failed(exc: Exception) -> DecodeFailed:
    """Log a decoding fault by its type and where it was raised, never its message (it may quote the
    request's content)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("decoding a request failed with %s (answered 500)\n%s", type(exc).__name__, frames)
    return DecodeFailed(type(exc).__name__)


def logs_in_worker(body: bytes, kind: str, keep_from: int | None, policy: Policy) -> LogContent:
    assert _worker is not None, "worker not initialised"
    _worker.policy = policy  # its redaction settings redact the log records kept
    return _worker.logs(body, kind, keep_from)


def samples_in_worker(pairs: list[tuple[Call, Doc]], policy: Policy) -> list[Sample | None]:
    assert _worker is not None, "worker not initialised"
    _worker.policy = policy
    return _worker.sample(pairs)


# --- in the server -------------------------------------------------------------------------------------


class WorkerPool:
    """A ProcessPoolExecutor that is rebuilt when a worker dies."""

    def __init__(self, workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
        self.workers = workers
        self._initializer = initializer
        self._initargs = initargs
        self._lock = threading.Lock()
        self._pool, self._warmup = self.start()

    def start(self) -> tuple[concurrent.futures.ProcessPoolExecutor, list[concurrent.futures.Future[int]]]:
        """A new pool with every worker spawned now, from this thread (see the module docstring)."""
        on_main = threading.current_thread() is threading.main_thread()
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=self._initializer,
            initargs=(*self._initargs, os.getpid(), on_main),
        )
        # Each submit spawns a worker while none is idle, so these start all of them at once.
        return pool, [pool.submit(worker_pid) for _ in range(self.workers)]

    def broken(self) -> bool:
        return bool(getattr(self._pool, "_broken", False))  # set by the executor when a worker dies

    def ready(self) -> bool:
        """True when the pool works and every worker has started (what /healthz reports)."""
        if self.broken():
            self.replace(self._pool)
            return False
        return all(f.done() and f.exception() is None for f in self._warmup)

    def pids(self) -> list[int]:
        return [f.result() for f in self._warmup if f.done() and f.exception() is None]

    def replace(self, dead: concurrent.futures.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is not dead:
                return  # another request replaced it already
            log.warning("a decoding worker died; starting %d new ones", self.workers)
            dead.shutdown(wait=False, cancel_futures=True)
            self._pool, self._warmup = self.start()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        for attempt in range(2):
            pool = self._pool
            try:
                return await loop.run_in_executor(pool, fn, *args)
            except BrokenProcessPool:
                self.replace(pool)
                if attempt:
                    break
        raise WorkersUnavailable("the decoding workers are restarting; retry shortly")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class ProcessPipeline(Pipeline):
    """Decodes spans in `workers` processes and hands back Arrow IPC bytes; requests that wait for a
    worker go to it together (ingest/batches.py)."""

    def __init__(
        self, workers: int, prices_file: Path | None, max_spans: int, policy: Policy | None = None
    ) -> None:
        # Only the workers price spans (metrics are not priced), so the server process does not load the
        # price data; it checks the overrides file, so a bad one still fails at start-up with its message.
        if prices_file is not None:
            load_overrides(prices_file)
        super().__init__(None, max_spans, policy)
        self.pool = WorkerPool(workers, init_worker, (prices_file, max_spans))
        self.batches = Batches(self._decode, workers)

    async def _decode(self, bodies: list[Item]) -> tuple[pa.Table, list[Outcome]]:
        data, outcomes = await self.pool.run(traces_ipc, bodies, self.policy)
        return calls_from_ipc(data), outcomes

    async def traces_async(self, body: bytes, kind: str) -> Decoded:
        return self.capped(await self.batches.traces(body, kind))

    async def logs_async(self, body: bytes, kind: str, keep_from: int | None = None) -> LogContent:
        return await self.pool.run(logs_in_worker, body, kind, keep_from, self.policy)

    async def sample_async(self, pairs: Sequence[tuple[Call, Doc]]) -> list[Sample | None]:
        return await self.pool.run(samples_in_worker, list(pairs), self.policy)

    def ready(self) -> bool:
        return self.pool.ready()

    def close(self) -> None:
        self.pool.close()
