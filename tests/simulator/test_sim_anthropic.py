"""The official anthropic client against the simulator over loopback HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tokentrail.simulator import SimulatorServer

from .helpers import assert_ttft, plan_of, steer

MODEL = "claude-haiku-4-5"
MESSAGES: list[Any] = [{"role": "user", "content": "Which feature spent the most yesterday?"}]
TOOLS: list[Any] = [
    {
        "name": "lookup_spend",
        "description": "Spend per feature",
        "input_schema": {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]},
    }
]


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=sim.url, api_key="sk-ant-test", max_retries=3) as client:
        yield client


def test_message_plain(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=100, messages=MESSAGES, extra_headers=steer(output_tokens=7)
    )
    message, plan = raw.parse(), plan_of(raw.headers)
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"
    assert len(message.content[0].text.split()) == 7
    assert message.usage.output_tokens == plan["output_tokens"] == 7
    assert message.usage.input_tokens == plan["input_tokens"]
    assert raw.headers["request-id"]


def test_cache_usage_excludes_cache_from_input_tokens(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(
        model=MODEL,
        max_tokens=100,
        messages=MESSAGES,
        extra_headers=steer(input_tokens=5000, cache_read_tokens=3000, cache_write_tokens=1500),
    )
    usage = raw.parse().usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (
        500,
        3000,
        1500,
    )
    plan = plan_of(raw.headers)
    assert (
        usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
        == plan["input_tokens"]
    )


def test_cache_needs_a_cache_control_marker(client: anthropic.Anthropic) -> None:
    long_system = "You answer questions about LLM spend. " * 600  # ~5,700 tokens: over the 4,096 minimum
    marked: Any = [{"type": "text", "text": long_system, "cache_control": {"type": "ephemeral"}}]
    cached = [
        client.messages.create(
            model=MODEL, max_tokens=20, system=marked, messages=[{"role": "user", "content": f"q{i}"}]
        )
        for i in range(12)
    ]
    unmarked = client.messages.create(model=MODEL, max_tokens=20, system=long_system, messages=MESSAGES)
    assert any(m.usage.cache_read_input_tokens for m in cached)  # the profile's hit rate is 0.6
    assert any(m.usage.cache_creation_input_tokens for m in cached)
    assert unmarked.usage.cache_read_input_tokens == unmarked.usage.cache_creation_input_tokens == 0


def test_stream_helper_paces_and_accumulates(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=1, messages=MESSAGES) as warm_up:
        warm_up.get_final_message()  # the first stream in a process pays for lazy imports and model building
    started, first_text_ms = time.perf_counter(), None
    with client.messages.stream(
        model=MODEL,
        max_tokens=100,
        messages=MESSAGES,
        extra_headers=steer(ttft_ms=50, itl_ms=5, output_tokens=9),
    ) as stream:
        plan = plan_of(stream.response.headers)
        pieces = []
        for text in stream.text_stream:
            first_text_ms = first_text_ms or (time.perf_counter() - started) * 1000
            pieces.append(text)
        final = stream.get_final_message()
    assert first_text_ms is not None
    assert_ttft(first_text_ms, plan)
    assert len(pieces) == plan["chunks"] == 3  # claude-haiku-4-5 sends 3 tokens per chunk
    assert final.usage.output_tokens == 9 and final.stop_reason == "end_turn"
    assert final.content[0].type == "text" and final.content[0].text == "".join(pieces)


def test_raw_stream_event_sequence_and_cumulative_usage(client: anthropic.Anthropic) -> None:
    events = list(
        client.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=MESSAGES,
            stream=True,
            extra_headers=steer(output_tokens=6, input_tokens=100, cache_read_tokens=40),
        )
    )
    types = [event.type for event in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert types[1] == "content_block_start" and "content_block_stop" in types
    start, delta = events[0], events[-2]
    assert start.type == "message_start" and delta.type == "message_delta"
    assert start.message.usage.input_tokens == 60 and start.message.usage.cache_read_input_tokens == 40
    assert delta.usage.output_tokens == 6 and delta.usage.input_tokens == 60
    assert delta.delta.stop_reason == "end_turn"


def test_tool_use_plain_and_streamed(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=200,
        messages=MESSAGES,
        tools=TOOLS,
        extra_headers=steer(tool_call="lookup_spend"),
    )
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use" and block.name == "lookup_spend" and set(block.input) == {"day"}

    with client.messages.stream(
        model=MODEL,
        max_tokens=200,
        messages=MESSAGES,
        tools=TOOLS,
        extra_headers=steer(tool_call="lookup_spend"),
    ) as stream:
        final = stream.get_final_message()
    streamed = final.content[0]
    assert final.stop_reason == "tool_use"
    assert streamed.type == "tool_use" and isinstance(streamed.input, dict) and set(streamed.input) == {"day"}


def test_rate_limited_then_served_by_the_sdk_retries(
    client: anthropic.Anthropic, sim: SimulatorServer
) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=steer(fail=[429, 529], output_tokens=2)
    )
    assert message.usage.output_tokens == 2
    assert [(r.attempt, r.status) for r in sim.requests()] == [(0, 429), (1, 529), (2, 200)]


def test_error_shape(sim: SimulatorServer) -> None:
    with anthropic.Anthropic(base_url=sim.url, api_key="sk-ant-test", max_retries=0) as client:
        with pytest.raises(anthropic.RateLimitError) as caught:
            client.messages.create(
                model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=steer(fail=[429])
            )
        with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
            client.messages.create(model=MODEL, messages=MESSAGES, max_tokens=0)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": caught.value.body["error"]["message"]},  # type: ignore[index]
    }


def test_midstream_overloaded_error(client: anthropic.Anthropic) -> None:
    texts = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(
            model=MODEL,
            max_tokens=100,
            messages=MESSAGES,
            extra_headers=steer(fail=[529], fail_mode="midstream", output_tokens=12, fail_after=2),
        ) as stream,
    ):
        texts.extend(stream.text_stream)
    assert len(texts) == 2
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_content_filter_is_a_refusal(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL,
        max_tokens=100,
        messages=MESSAGES,
        extra_headers=steer(fail=["content_filter"], output_tokens=12, fail_after=1),
    ) as stream:
        final = stream.get_final_message()
        plan = plan_of(stream.response.headers)
    assert final.stop_reason == "refusal"
    assert final.usage.output_tokens == plan["output_tokens"] == 3
