"""Decoding workers in the server process's pool: forked from a preloaded fork server, they leave when the
server dies; a dead one is replaced alone and its request retried; a cancelled task's worker is not reused;
tasks queue for a free worker."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pyarrow as pa
import pytest

from support import make_request, make_span
from tokentrail.ingest.workers import (
    ProcessPipeline,
    WorkerPool,
    WorkersUnavailable,
    die_with_parent,
)
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store.duckdb import DuckDBStore

PB = {"content-type": "application/x-protobuf"}


def wait_ready(pool: WorkerPool, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while not pool.ready():
        assert time.monotonic() < end, "workers did not start"
        time.sleep(0.02)


async def test_a_request_held_by_a_dead_worker_is_retried_on_new_workers(duck: DuckDBStore) -> None:
    app = create_app(duck, Settings(ingest_workers=1))
    pool = app.state.pipeline.pool
    try:
        wait_ready(pool)
        (pid,) = set(pool.pids())
        os.kill(pid, signal.SIGKILL)
        body = make_request([make_span({"gen_ai.request.model": "gpt-4o"})]).SerializeToString()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
            r = await c.post("/v1/traces", content=body, headers=PB)
            assert r.status_code == 200, r.text
            wait_ready(pool)
            assert (await c.get("/healthz")).status_code == 200
        assert duck.query("SELECT count(*) FROM spans").rows == [(1,)]
        assert pid not in pool.pids()
        # the new worker decoded that span without pandas, which it refuses to load (less memory)
        with pytest.raises(ModuleNotFoundError, match="does not load pandas"):
            await pool.run(importlib.util.find_spec, "pandas")
    finally:
        app.state.pipeline.close()


def worker_pid() -> int:
    return os.getpid()


def broken_initializer(use_pdeathsig: bool) -> None:
    os._exit(3)  # a worker that dies on start, every time


async def test_workers_that_cannot_start_give_workers_unavailable() -> None:
    pool = WorkerPool(1, broken_initializer, ())
    try:
        with pytest.raises(WorkersUnavailable, match="restarting"):
            await pool.run(worker_pid)
        assert not pool.ready()
    finally:
        pool.close()


async def test_workers_unavailable_is_503_with_retry_after(
    duck: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(duck, Settings())

    async def unavailable(body: bytes, kind: str) -> None:
        raise WorkersUnavailable("the decoding workers are restarting; retry shortly")

    monkeypatch.setattr(app.state.pipeline, "traces_async", unavailable)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        r = await c.post("/v1/traces", content=b"", headers=PB)
    assert r.status_code == 503 and r.headers["retry-after"] == "1"


def plain_initializer(use_pdeathsig: bool) -> None:
    return None


def exit_once(marker: str) -> int:
    """Dies the first time (leaving `marker`), answers its pid after."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(5)
    return os.getpid()


def sleep_then(seconds: float, answer: str) -> str:
    time.sleep(seconds)
    return answer


def unpicklable() -> object:
    return lambda: None


async def test_a_worker_dying_mid_task_is_replaced_alone_and_the_task_retried(tmp_path: Path) -> None:
    pool = WorkerPool(2, plain_initializer, ())
    try:
        wait_ready(pool)
        before = set(pool.pids())
        answered = await pool.run(exit_once, str(tmp_path / "died"))  # the retry may go to either worker
        wait_ready(pool)
        after = set(pool.pids())
        assert len(after) == 2 and answered in after
        assert len(before & after) == 1  # only the worker that died was replaced
    finally:
        pool.close()


async def test_a_cancelled_task_never_answers_the_next_one() -> None:
    pool = WorkerPool(1, plain_initializer, ())
    try:
        wait_ready(pool)
        (first,) = pool.pids()
        slow = asyncio.ensure_future(pool.run(sleep_then, 30.0, "stale"))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert await pool.run(sleep_then, 0.0, "mine") == "mine"
        assert first not in pool.pids()  # its worker, still busy with the cancelled task, was replaced
    finally:
        pool.close()


async def test_more_tasks_than_workers_each_get_their_own_answer() -> None:
    pool = WorkerPool(2, plain_initializer, ())
    try:
        answers = await asyncio.gather(*(pool.run(sleep_then, 0.05, f"task {k}") for k in range(7)))
        assert answers == [f"task {k}" for k in range(7)]
    finally:
        pool.close()


async def test_an_answer_that_cannot_be_sent_back_is_an_error_and_the_worker_goes_on() -> None:
    pool = WorkerPool(1, plain_initializer, ())
    try:
        with pytest.raises(RuntimeError, match="could not be sent"):
            await pool.run(unpicklable)
        wait_ready(pool)
        (pid,) = pool.pids()
        assert await pool.run(worker_pid) == pid
    finally:
        pool.close()


def parent_command_line() -> str:
    return " ".join(psutil.Process(os.getppid()).cmdline())


def arrow_pool() -> str:
    return str(pa.default_memory_pool().backend_name)


async def test_workers_are_forked_from_the_preloaded_fork_server_and_freeze_what_they_inherit() -> None:
    pipeline = ProcessPipeline(2, None, 1000)
    try:
        pool = pipeline.pool
        parents = {await pool.run(os.getppid) for _ in range(4)}
        assert os.getpid() not in parents and len(parents) == 1  # one fork server, not this process
        assert "multiprocessing.forkserver" in await pool.run(parent_command_line)
        assert "genai_prices.data" in await pool.run(parent_command_line)  # preloaded there, shared
        assert await pool.run(gc.get_freeze_count) > 10_000  # out of the collector's reach: pages stay shared
        assert await pool.run(arrow_pool) == "system"  # not mimalloc, which kept more of a batch's memory
    finally:
        pipeline.close()


def watchdog_only(use_pdeathsig: bool) -> None:
    die_with_parent(use_pdeathsig=False)  # no kernel signal: the watchdog thread alone


def backtrack() -> bool:
    """Minutes in the regex engine, which holds the GIL: no other thread of the worker runs meanwhile."""
    return re.match(r"(a+)+$", "a" * 40 + "b") is not None


SERVER_THAT_DIES = """
import asyncio, os, signal, sys, time
sys.path[:0] = [{here!r}, {tests!r}]
import test_worker_pool as t
from tokentrail.ingest.workers import WorkerPool

async def main():
    pool = WorkerPool(1, t.{initializer}, ())
    print(await pool.run(t.worker_pid), flush=True)  # this module imported there: the task starts at once
    busy = asyncio.ensure_future(pool.run({task}))  # the worker is not reading its pipe
    await asyncio.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize(
    ("initializer", "task"),
    [
        ("watchdog_only", "time.sleep, 60"),  # the watchdog thread sees the server's sentinel end
        ("die_with_parent", "t.backtrack"),  # the fork server leaves, the kernel's signal kills
    ],
)
def test_a_busy_worker_leaves_when_its_server_is_killed(initializer: str, task: str) -> None:
    here = Path(__file__).parent
    names = {"here": str(here), "tests": str(here.parent), "initializer": initializer, "task": task}
    script = SERVER_THAT_DIES.format(**names)
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as server:
        assert server.stdout is not None
        worker = int(server.stdout.readline())
        assert server.wait(60) == -signal.SIGKILL
        end = time.monotonic() + 5
        while not gone(worker) and time.monotonic() < end:
            time.sleep(0.05)
        alive = not gone(worker)
        if alive:
            os.kill(worker, signal.SIGKILL)
        assert not alive
