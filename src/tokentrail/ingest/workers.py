"""Decoding in worker processes: `ProcessPipeline`, and how its workers live and die.

- Workers are forked from multiprocessing's fork server (spawned where there is none), never from the
  server itself, so no lock is inherited mid-flight: the fork server is a fresh single-threaded process
  that has imported this module and genai-prices' data once (`PRELOAD`). The workers share those pages
  with it and with each other; each freezes what it inherited out of the garbage collector's reach at its
  start, so a collection does not write to (and so copy) them. The event loop talks to each worker over a
  pipe of its own (`WorkerPool`): no thread sits between them.
- A worker never outlives the server. A watchdog thread in each waits on the pipe multiprocessing keeps
  open from the server to the worker (its parent's sentinel: at its end when the server has gone,
  however it went) and exits. On Linux each also asks the kernel for SIGKILL when the process that forked
  it dies (`prctl(PR_SET_PDEATHSIG)`), which works even while the worker holds the GIL: the fork server
  (which leaves when the server does) always, a spawned worker only when it was spawned on the main thread
  (the signal follows the forking *thread*).
- A worker that dies is replaced alone, and a request it held is tried once more on another worker; when
  that fails too the request gets `WorkersUnavailable` (the collector answers 503 with Retry-After).
  `ready()` is False until every worker has said it started, which `/healthz` reports.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tokentrail.exceptions import Unavailable
from tokentrail.ingest import otlp
from tokentrail.ingest.batches import Batches, DecodeFailed, Item, Outcome, settle
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
# imported once by the fork server, shared by the workers forked from it (genai-prices' data: ~22 MB)
PRELOAD = ["tokentrail.ingest.workers", "genai_prices.data"]
KILL_WAIT_S = 5.0  # SIGKILL cannot be refused; this only bounds a wait on a wedged kernel
T = TypeVar("T")


class WorkersUnavailable(Unavailable):
    """The decoding workers died and could not be replaced in time (HTTP 503)."""


# --- inside a worker process -----------------------------------------------------------------------------

_worker: Pipeline | None = None


def die_with_parent(use_pdeathsig: bool) -> None:
    """Exit when the server is gone: the kernel's signal when the forking process dies (Linux), and a
    watchdog thread waiting on the server's sentinel (at its end at once if the server died already)."""
    if use_pdeathsig and sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    server = multiprocessing.parent_process()
    assert server is not None, "a decoding worker is started by multiprocessing"

    def watch() -> None:
        server.join()
        os._exit(1)

    threading.Thread(target=watch, name="tokentrail-parent-watchdog", daemon=True).start()


def release_the_fork_server() -> None:
    """Close this process's copy of the pipe end that keeps the fork server running (every process it forks
    inherits one, to start processes of its own): the fork server then leaves the moment the server dies,
    and the kernel's signal reaches the workers at once, even one busy in a long call holding the GIL."""
    from multiprocessing import forkserver

    fd = getattr(forkserver._forkserver, "_forkserver_alive_fd", None)
    if fd is not None:
        os.close(fd)
        setattr(forkserver._forkserver, "_forkserver_alive_fd", None)  # noqa: B010 (not in typeshed)


def init_worker(prices_file: Path | None, max_spans: int, use_pdeathsig: bool) -> None:
    global _worker  # one pipeline per worker process, built once
    die_with_parent(use_pdeathsig)
    # Each batch's Arrow buffers live for one answer; mimalloc (pyarrow's default) kept 4-5 MB more per
    # worker at the 500-span load's peak than the C library's allocator, at the same rate.
    pa.set_memory_pool(pa.system_memory_pool())
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


class _Died(WorkersUnavailable):
    """A worker's pipe closed: the process is gone (met by `WorkerPool.run`, which tries another)."""


@contextlib.contextmanager
def main_module_hidden() -> Iterator[None]:
    """Start a worker without the parent's main module run again in it.

    A child started by multiprocessing (spawned, or forked by the fork server) imports the parent's
    ``__main__`` again, as ``__mp_main__`` (by module name, unless it is a package's ``__main__``, else by
    path), so that what is defined there can be unpickled. Started from the ``tokentrail`` console script,
    that is the script, which imports the whole command line (DuckDB, FastAPI, Typer, ...) into every
    decoding worker: 102 MB of PSS each at rest against 63 with ``python -m tokentrail`` (spawned workers).
    A worker runs only this module's functions, so during the start ``__main__`` names neither a module
    nor a file (the start reads them before it returns)."""
    main = sys.modules["__main__"]
    saved: dict[str, Any] = {
        name: main.__dict__[name] for name in ("__spec__", "__file__") if name in main.__dict__
    }
    main.__spec__ = None
    main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        main.__dict__.update(saved)


def start_worker(
    initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> tuple[Connection, BaseProcess]:
    """A started worker process and the server's end of its pipe: forked by the fork server with `PRELOAD`
    where the platform has one (POSIX), else spawned. Spawned too when the fork server cannot start: its
    socket lives in a directory of TMPDIR, and a path over ~107 bytes cannot be bound."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        forkserver = multiprocessing.get_context("forkserver")
        forkserver.set_forkserver_preload(PRELOAD)  # read when the fork server starts (once per process)
        try:
            return _start(forkserver, True, initializer, initargs)  # it forks on its only thread
        except OSError as exc:
            log.warning("the fork server did not start (%s); spawning a decoding worker instead", exc)
    on_main = threading.current_thread() is threading.main_thread()
    return _start(multiprocessing.get_context("spawn"), on_main, initializer, initargs)


def _start(
    context: ForkServerContext | SpawnContext,
    forker_on_main: bool,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
) -> tuple[Connection, BaseProcess]:
    conn, child = context.Pipe()
    args = (child, initializer, (*initargs, forker_on_main))
    process = context.Process(target=serve_tasks, args=args, daemon=True, name="tokentrail-decoder")
    try:
        with main_module_hidden():
            process.start()
    except OSError:
        conn.close()
        raise
    finally:
        child.close()
    return conn, process


class _Worker:
    """One worker process and the server's end of its pipe; `pid` once the worker has said it started."""

    def __init__(self, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
        self.conn, self.process = start_worker(initializer, initargs)
        self.pid: int | None = None
        self.reading = False  # a reader on the event loop waits for its next message

    def started(self) -> bool:
        """Whether the worker has said it started (read here when it has, unless a reader waits for it)."""
        if self.pid is None and not self.reading and self.conn.poll():
            with contextlib.suppress(EOFError, OSError):
                self.pid = self.conn.recv()
        return self.pid is not None

    def stop(self, timeout_s: float) -> None:
        """Ask the worker to leave its loop; kill it if it has not within `timeout_s`."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout_s)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(KILL_WAIT_S)
        self.conn.close()


def serve_tasks(conn: Any, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    """A worker's life: the initializer, its pid as its first message, then ``(function, args)`` in and
    ``(ok, result or exception)`` out, until the server says None or closes its end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle; it stops the workers
    gc.freeze()  # what the fork server loaded stays shared: no collection writes to its objects
    release_the_fork_server()
    initializer(*initargs)
    conn.send(os.getpid())
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the server closed its end without saying so (it is going)
            return
        if task is None:
            return
        fn, args = task
        try:
            reply: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:  # the caller's to handle (a bad body, a fault in decoding)
            reply = (False, exc)
        try:
            conn.send(reply)
        except Exception as exc:  # an answer that cannot be pickled: its caller gets why, not its content
            conn.send((False, RuntimeError(f"a worker's answer could not be sent ({type(exc).__name__})")))


class WorkerPool:
    """Worker processes the event loop talks to directly, each over a pipe of its own: a task is pickled onto
    an idle worker's pipe and its answer read when the loop sees the pipe readable. Measured against a
    ProcessPoolExecutor: no manager or feeder thread waking for each message (each hand-over of the GIL
    between them and the loop cost the loop), and a dead worker is replaced alone. Use it from one event
    loop at a time (its thread also runs `ready` and `pids`)."""

    def __init__(self, workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
        self._initializer = initializer
        self._initargs = initargs
        self._all = [_Worker(initializer, initargs) for _ in range(workers)]  # all spawned now, from here
        self._idle = collections.deque(self._all)
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def ready(self) -> bool:
        """True when every worker has started and none has died (what /healthz reports); an idle dead one
        is replaced here."""
        for worker in list(self._idle):
            if not worker.process.is_alive():
                self._idle.remove(worker)
                self._release(self._replace(worker))
        return all(worker.started() for worker in self._all)

    def pids(self) -> list[int]:
        return [worker.pid for worker in self._all if worker.started() and worker.pid is not None]

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker; a worker that dies meanwhile is replaced and the call tried once more."""
        for _ in range(2):
            worker = await self._acquire()
            try:
                ok, value = await self._call(worker, fn, args)
            except (_Died, OSError):  # OSError: the pipe of a worker that died while idle
                self._release(self._replace(worker))
                continue
            except BaseException:  # cancelled: its answer may still come, so the worker is not reused
                self._release(self._replace(worker))
                raise
            self._release(worker)
            if ok:
                return value  # type: ignore[no-any-return]
            raise value
        raise WorkersUnavailable("the decoding workers are restarting; retry shortly")

    async def _call(self, worker: _Worker, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        if worker.pid is None:
            worker.pid = await self._message(worker)
        worker.conn.send((fn, args))
        return await self._message(worker)

    async def _message(self, worker: _Worker) -> Any:
        """The worker's next message, read when the loop sees its pipe readable; _Died at its end."""
        loop = asyncio.get_running_loop()
        arrived: asyncio.Future[Any] = loop.create_future()
        fd = worker.conn.fileno()

        def readable() -> None:
            loop.remove_reader(fd)
            worker.reading = False
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                message = _Died()
            settle(arrived, message)  # the worker's messages are never exceptions: _Died is this end's

        worker.reading = True
        loop.add_reader(fd, readable)
        try:
            return await arrived
        finally:
            if worker.reading:  # cancelled before it came
                loop.remove_reader(fd)
                worker.reading = False

    async def _acquire(self) -> _Worker:
        while not self._idle:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
        return self._idle.popleft()

    def _release(self, worker: _Worker) -> None:
        self._idle.append(worker)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _replace(self, dead: _Worker) -> _Worker:
        log.warning("a decoding worker stopped; starting a new one")
        dead.kill()
        worker = _Worker(self._initializer, self._initargs)
        self._all[self._all.index(dead)] = worker
        return worker

    def close(self) -> None:
        for worker in self._all:
            worker.stop(5.0)


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
