"""Requests waiting for a decoding worker go to it together, each keeping its own rows or its own error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from support import make_request, make_span
from tokentrail.ingest import otlp
from tokentrail.ingest.workers import ProcessPipeline

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
