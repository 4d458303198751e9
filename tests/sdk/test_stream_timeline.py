"""A stream's arrival timeline: recorded by the SDK with the real openai, anthropic and boto3 clients against
the simulator (a stall planned at a known chunk), normalised by the collector's code and stored on both
stores, with the longest gap exactly where the stall was planned; and the downsampling of long streams."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from tokentrail import semconv as sc
from tokentrail.analytics.calls import get_span, stream_timelines
from tokentrail.ingest.normalize import to_call
from tokentrail.ingest.spans import request_to_calls
from tokentrail.model import TIMELINE_MAX_POINTS, Call, StreamTimeline
from tokentrail.sdk.stream import stream_attributes, timeline
from tokentrail.store import Store

from .conftest import BedrockClient, Recorder, TimingMiss, steer, timing_retries

STALL_AFTER = 12  # the simulator adds the stall to the gap after content chunk 12 (from 0): before chunk 13
STALL_MS = 400.0
DIRECTIVE = {
    "output_tokens": 40,
    "tokens_per_chunk": 2,
    "itl_ms": 5,
    "tool_call": False,
    "stall_ms": STALL_MS,
    "stall_after": STALL_AFTER,
}
MESSAGES = [{"role": "user", "content": "tell me a story"}]


def stream_openai(url: str) -> None:
    with openai.OpenAI(base_url=url + "/v1", api_key="test") as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=steer(**DIRECTIVE)
        )
        for _ in stream:
            pass


def stream_anthropic(url: str) -> None:
    with (
        anthropic.Anthropic(base_url=url, api_key="test") as client,
        client.messages.stream(
            model="claude-haiku-4-5", max_tokens=200, messages=MESSAGES, extra_headers=steer(**DIRECTIVE)
        ) as stream,
    ):
        for _ in stream:
            pass


def stream_bedrock(url: str) -> None:
    bedrock = BedrockClient(url)
    try:
        response = bedrock.steer(**DIRECTIVE).converse_stream(
            modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "tell me"}]}]
        )
        for _ in response["stream"]:
            pass
    finally:
        bedrock.client.close()


CLIENTS: dict[str, Callable[[str], None]] = {
    "openai": stream_openai,
    "anthropic": stream_anthropic,
    "bedrock": stream_bedrock,
}


@pytest.mark.parametrize("provider", sorted(CLIENTS))
@timing_retries
def test_the_stall_is_recorded_stored_and_in_place(provider: str, rec: Recorder, store: Store) -> None:
    CLIENTS[provider](rec.sim.url)
    plan = rec.plan()
    assert max(range(len(plan.itl_ms)), key=lambda i: plan.itl_ms[i]) == STALL_AFTER
    spans = rec.llm()
    assert len(spans) == 1
    sent = spans[0].attributes or {}
    assert len(sent[sc.TT_TIMELINE_OFFSETS_MS]) == plan.chunks  # type: ignore[arg-type]
    assert sc.TT_TIMELINE_CHUNKS not in sent  # every chunk is there: their numbers go without saying
    calls, report = request_to_calls(encode_spans(spans), dt.datetime(2026, 12, 3))
    assert report.rejected_count == 0 and store.write(calls) == 1
    call = calls[0]
    stored = get_span(store, call.trace_id, call.span_id)
    assert stored is not None
    found = stream_timelines(store, call.trace_id, call.span_id)[call.span_id]
    assert (
        found.chunks == list(range(plan.chunks)) == list(range(stored["chunks"]))
    )  # every chunk: a short stream
    assert found.offsets_ms[0] == pytest.approx(stored["ttft_ms"], abs=0.002)
    assert all(b > a for a, b in itertools.pairwise(found.offsets_ms))
    longest = found.longest_gap()
    assert longest is not None
    chunk, gap = longest
    assert gap == pytest.approx(stored["itl_max_ms"], abs=0.002)  # the stored longest stall, to the µs
    if gap < STALL_MS:  # the chunk before the stall arrived late (a descheduled process): the gap shrinks
        raise TimingMiss(f"longest gap {gap} ms, under the planned {STALL_MS} ms stall: {found}")
    if chunk != STALL_AFTER + 1:  # only a descheduled test process can make another gap longer still
        raise TimingMiss(f"longest gap before chunk {chunk}, planned before {STALL_AFTER + 1}: {found}")
    attributes = stored["attributes"]
    assert sc.TT_TIMELINE_OFFSETS_MS not in attributes and sc.TT_TIMELINE_CHUNKS not in attributes


def gap_after(stamps: list[int]) -> int:
    return max(range(1, len(stamps)), key=lambda i: stamps[i] - stamps[i - 1])


@pytest.mark.parametrize("where", [1, 2, 700, 1998, 1999])
def test_a_long_stream_is_downsampled_keeping_ends_and_the_longest_gap(where: int) -> None:
    start = 1_000_000_000
    stamps, t = [], start + 300_000_000  # TTFT 300 ms, then a chunk every 10-19 ms
    for i in range(2000):
        t += 10_000_000 + (i * 7919 % 10) * 1_000_000 + (450_000_000 if i == where else 0)
        stamps.append(t)
    chunks, offsets = timeline(stamps, start)
    assert len(chunks) == len(offsets) == TIMELINE_MAX_POINTS
    assert chunks == sorted(set(chunks)) and chunks[0] == 0 and chunks[-1] == 1999
    assert offsets == [round((stamps[c] - start) / 1e6, 3) for c in chunks]
    kept = StreamTimeline(chunks, offsets)
    longest = kept.longest_gap()
    assert longest is not None
    assert longest[0] == where == gap_after(stamps)
    assert longest[1] == pytest.approx((stamps[where] - stamps[where - 1]) / 1e6, abs=0.002)
    spread = [b - a for a, b in itertools.pairwise(chunks)]
    assert max(spread) <= 2 * 1999 / (TIMELINE_MAX_POINTS - 4)  # the rest evenly spread, no long holes


def test_a_downsampled_timeline_reaches_the_collector_with_its_chunk_numbers() -> None:
    start, stamps = 0, [300_000_000 + i * 10_000_000 + (500_000_000 if i >= 900 else 0) for i in range(1200)]
    attrs = stream_attributes(stamps, start, stamps[-1] + 1, output_tokens=2400)
    chunks, offsets = timeline(stamps, start)
    assert attrs[sc.TT_TIMELINE_CHUNKS] == chunks and attrs[sc.TT_TIMELINE_OFFSETS_MS] == offsets
    call = span_call({sc.TT_KIND: "llm", **attrs})
    assert call.stream_timeline == StreamTimeline(chunks, offsets)
    assert call.stream_timeline.longest_gap() == (900, pytest.approx(call.itl_max_ms, abs=0.002))
    assert call.itl_max_ms == pytest.approx(510.0)


def test_without_chunk_numbers_the_offsets_are_chunks_0_to_n() -> None:
    call = span_call({sc.TT_KIND: "llm", sc.TT_TIMELINE_OFFSETS_MS: [300.0, 310.0, 900.0]})
    assert call.stream_timeline == StreamTimeline([0, 1, 2], [300.0, 310.0, 900.0])


def span_call(attributes: dict[str, Any]) -> Call:
    """The collector's normalisation of one span's attributes."""
    return to_call(
        attributes,
        trace_id="1" * 32,
        span_id="2" * 16,
        parent_span_id=None,
        name="chat",
        start_ns=1,
        end_ns=2,
    )


def test_a_short_stream_keeps_every_chunk() -> None:
    stamps = [5_000_000, 7_500_000, 30_000_000]
    assert timeline(stamps, 1_000_000) == ([0, 1, 2], [4.0, 6.5, 29.0])
    assert timeline([], 0) == ([], [])


@pytest.mark.parametrize(
    "attributes",
    [
        {sc.TT_TIMELINE_CHUNKS: [0, 2, 1], sc.TT_TIMELINE_OFFSETS_MS: [1.0, 2.0, 3.0]},  # not ascending
        {sc.TT_TIMELINE_CHUNKS: [0, 1], sc.TT_TIMELINE_OFFSETS_MS: [1.0]},  # lengths differ
        {sc.TT_TIMELINE_CHUNKS: [-1, 0], sc.TT_TIMELINE_OFFSETS_MS: [1.0, 2.0]},
        {sc.TT_TIMELINE_CHUNKS: [0, 1], sc.TT_TIMELINE_OFFSETS_MS: ["x", 2.0]},
        {sc.TT_TIMELINE_CHUNKS: [0, 1], sc.TT_TIMELINE_OFFSETS_MS: [float("nan"), 2.0]},
        {sc.TT_TIMELINE_CHUNKS: list(range(300)), sc.TT_TIMELINE_OFFSETS_MS: [1.0] * 300},  # over the cap
        {sc.TT_TIMELINE_CHUNKS: "0,1", sc.TT_TIMELINE_OFFSETS_MS: [1.0, 2.0]},
        {sc.TT_TIMELINE_OFFSETS_MS: [1.0] * 300},  # over the cap, chunk numbers implied
        {sc.TT_TIMELINE_OFFSETS_MS: "1.0,2.0"},
        {sc.TT_TIMELINE_CHUNKS: [0, 1]},  # no offsets
    ],
)
def test_the_collector_drops_a_malformed_timeline(attributes: dict[str, Any]) -> None:
    call = span_call({sc.TT_KIND: "llm", sc.TT_TTFT_MS: 1.0, **attributes})
    assert call.stream_timeline is None and call.ttft_ms == 1.0
    assert sc.TT_TIMELINE_CHUNKS not in call.attributes
