"""Decoding workers in the server process's pool: a dead one is replaced alone and its request retried; a
cancelled task's worker is not reused; tasks queue for a free worker."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from support import make_request, make_span
from tokentrail.ingest.workers import WorkerPool, WorkersUnavailable
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


def broken_initializer(parent_pid: int, use_pdeathsig: bool) -> None:
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


def plain_initializer(parent_pid: int, use_pdeathsig: bool) -> None:
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
