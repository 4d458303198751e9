"""Requests waiting for a decoding worker go to it together, each keeping its own rows or its own error."""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections.abc import Iterator
from typing import Any

import pytest

from support import make_request, make_span
from tokentrail.ingest import otlp, workers
from tokentrail.ingest.batches import DecodeFailed, answer
from tokentrail.ingest.pipeline import Pipeline
from tokentrail.ingest.workers import ProcessPipeline
from tokentrail.samples.policy import Policy
from tokentrail.store.arrow import calls_from_ipc

PB = "application/x-protobuf"


@pytest.fixture(scope="module")
def pipeline() -> Iterator[ProcessPipeline]:
    pipeline = ProcessPipeline(1, None, 1000)
    try:
        yield pipeline
    finally:
        pipeline.close()


def body(first_span: int, spans: int) -> bytes:
    made = [
        make_span({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10}, trace=7, span=s)
        for s in range(first_span, first_span + spans)
    ]
    return make_request(made).SerializeToString()


async def send_together(pipeline: ProcessPipeline, bodies: list[bytes]) -> tuple[list[Any], list[int]]:
    """Every body at once; returns each request's result (or error) and the bodies per worker message."""
    sizes: list[int] = []
    run = pipeline.pool.run

    async def counting(fn: Any, bodies: list[Any], *args: Any) -> Any:
        sizes.append(len(bodies))
        return await run(fn, bodies, *args)

    pipeline.pool.run = counting  # type: ignore[method-assign]
    try:
        tasks = [pipeline.traces_async(b, PB) for b in bodies]
        return list(await asyncio.gather(*tasks, return_exceptions=True)), sizes
    finally:
        del pipeline.pool.run


def test_requests_waiting_for_a_busy_worker_share_one_message(pipeline: ProcessPipeline) -> None:
    bodies = [body(100 * k + 1, k + 1) for k in range(6)]
    results, sizes = asyncio.run(send_together(pipeline, bodies))
    assert sizes == [1, 5]  # the first went alone to the idle worker; the rest waited and went together
    for k, (table, rejected, reason) in enumerate(results):
        assert table.column("span_id").to_pylist() == [f"{100 * k + s:016x}" for s in range(1, k + 2)]
        assert (rejected, reason) == (0, "")


def test_a_malformed_body_fails_only_its_own_request(pipeline: ProcessPipeline) -> None:
    bodies = [body(1, 1), body(11, 2), b"\xff not protobuf", body(21, 3)]
    results, sizes = asyncio.run(send_together(pipeline, bodies))
    assert sizes == [1, 3]
    assert isinstance(results[2], otlp.BadPayload)
    assert [r[0].num_rows for k, r in enumerate(results) if k != 2] == [1, 2, 3]
    assert results[3][0].column("span_id").to_pylist() == [f"{s:016x}" for s in range(21, 24)]


def test_a_fault_decoding_one_body_fails_only_its_own_request(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug (not a bad body) raised while decoding one request: the others of its worker message keep their
    rows, it gets a 500 that survives the trip back from the worker, and neither says what it was sent."""
    secret, bad, pipeline = "the prompt's own words", body(31, 1), Pipeline()
    real = pipeline.calls

    def calls(data: bytes, kind: str) -> Any:
        if data == bad:
            raise TypeError(f"unhashable type: {secret!r}")
        return real(data, kind)

    monkeypatch.setattr(pipeline, "calls", calls)
    monkeypatch.setattr(workers, "_worker", pipeline)
    with caplog.at_level(logging.ERROR):
        data, outcomes = workers.traces_ipc([(body(1, 1), PB), (bad, PB), (body(11, 2), PB)], Policy())
    failed = pickle.loads(pickle.dumps(outcomes[1]))  # as the server gets it from a worker process
    assert isinstance(failed, DecodeFailed) and "TypeError" in str(failed)
    assert "TypeError" in caplog.text and secret not in caplog.text and secret not in str(failed)

    async def settled() -> list[Any]:
        futures = [asyncio.get_running_loop().create_future() for _ in outcomes]
        answer(calls_from_ipc(data), [outcomes[0], failed, outcomes[2]], futures)
        return list(await asyncio.gather(*futures, return_exceptions=True))

    first, middle, last = asyncio.run(settled())
    assert isinstance(middle, DecodeFailed)
    assert first[0].column("span_id").to_pylist() == ["0000000000000001"]
    assert last[0].column("span_id").to_pylist() == [f"{s:016x}" for s in (11, 12)]
