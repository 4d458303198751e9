"""Decoding workers in the server process's pool: a dead one is replaced and its request retried."""

from __future__ import annotations

import importlib.util
import os
import signal
import time

import httpx
import pytest

from support import make_request, make_span
from tokentrail.ingest.workers import WorkerPool, WorkersUnavailable, worker_pid
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
