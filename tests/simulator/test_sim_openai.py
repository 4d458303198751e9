"""The official openai client against the simulator over loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
from collections.abc import Iterator

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tokentrail.simulator import SimulatorServer

from .helpers import assert_ttft, plan_of, steer, wait_for

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "How long until the first token arrives?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["query"],
            },
        },
    }
]


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=3) as client:
        yield client


def test_chat_plain_reports_the_planned_usage(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=MESSAGES,
        extra_headers=steer(output_tokens=9, cache_read_tokens=4, input_tokens=20),
    )
    plan, completion = plan_of(raw.headers), raw.parse()
    assert completion.choices[0].finish_reason == "stop"
    assert len(completion.choices[0].message.content.split()) == 9
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (20, 9)
    assert completion.usage.prompt_tokens_details.cached_tokens == plan["cache_read_tokens"] == 4
    assert raw.headers["x-request-id"]


def test_chat_input_tokens_count_the_prompt_characters(client: OpenAI) -> None:
    content = "x" * 41  # ceil(41 / 4) = 11 tokens
    completion = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])
    assert completion.usage is not None and completion.usage.prompt_tokens == 11


def test_chat_stream_is_paced_by_the_plan_and_ends_with_usage(client: OpenAI) -> None:
    for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, max_tokens=1):
        pass  # the first stream in a process pays for lazy imports and model building
    started = time.perf_counter()
    stream = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=steer(ttft_ms=60, itl_ms=10, output_tokens=8),
    )
    first_content_ms, pieces, usage = None, [], None
    with stream:
        plan = plan_of(stream.response.headers)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                first_content_ms = first_content_ms or (time.perf_counter() - started) * 1000
                pieces.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                usage = chunk.usage
                assert chunk.choices == []
    total_ms = (time.perf_counter() - started) * 1000
    assert first_content_ms is not None
    assert_ttft(first_content_ms, plan)
    assert total_ms >= plan["total_ms"] == 60 + 7 * 10
    assert len(pieces) == plan["chunks"] == 8
    assert usage is not None and usage.completion_tokens == plan["output_tokens"] == 8


def test_chat_tool_call_plain_and_streamed(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=TOOLS, extra_headers=steer(tool_call="search")
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    arguments = json.loads(choice.message.tool_calls[0].function.arguments)
    assert set(arguments) == {"query", "limit"} and isinstance(arguments["limit"], int)

    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=TOOLS, stream=True, extra_headers=steer(tool_call="search")
    )
    names, argument_text, finish = [], "", None
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or []:
            names += [call.function.name] if call.function and call.function.name else []
            argument_text += call.function.arguments or "" if call.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert names == ["search"] and finish == "tool_calls"
    assert set(json.loads(argument_text)) == {"query", "limit"}


def test_chat_reasoning_tokens_are_part_of_completion_tokens(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-5-mini", messages=MESSAGES, extra_headers=steer(output_tokens=30, reasoning_tokens=20)
    )
    assert completion.usage is not None and completion.usage.completion_tokens == 30
    assert completion.usage.completion_tokens_details.reasoning_tokens == 20
    assert len(completion.choices[0].message.content.split()) == 10


def test_chat_max_tokens_truncates_with_length(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_completion_tokens=5, extra_headers=steer(output_tokens=50)
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 5


def test_responses_plain_and_streamed(client: OpenAI) -> None:
    raw = client.responses.with_raw_response.create(
        model="gpt-4.1-mini", input="Summarise the trace.", extra_headers=steer(output_tokens=6)
    )
    response, plan = raw.parse(), plan_of(raw.headers)
    assert response.status == "completed" and len(response.output_text.split()) == 6
    assert response.usage is not None and response.usage.output_tokens == plan["output_tokens"] == 6
    assert response.usage.input_tokens == plan["input_tokens"]

    events = list(
        client.responses.create(
            model="gpt-4.1-mini",
            input="Summarise the trace.",
            stream=True,
            extra_headers=steer(output_tokens=6),
        )
    )
    types = [event.type for event in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert types.count("response.output_text.delta") == 6
    assert [event.sequence_number for event in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed" and completed.response.usage is not None
    assert completed.response.usage.output_tokens == 6
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert completed.response.output_text == deltas


def test_embeddings_float_and_base64(client: OpenAI) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"], dimensions=8)
    assert [len(item.embedding) for item in result.data] == [8, 8]
    assert result.usage.prompt_tokens == 3  # ceil(5 / 4) + ceil(4 / 4)
    raw = client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="alpha", dimensions=8, encoding_format="base64"
    )
    encoded = json.loads(raw.http_response.text)["data"][0]["embedding"]
    decoded = struct.unpack("<8f", base64.b64decode(encoded))
    assert decoded == pytest.approx(result.data[0].embedding, abs=1e-6)


def test_async_client_streams(sim: SimulatorServer) -> None:
    async def main() -> list[str]:
        async with AsyncOpenAI(base_url=sim.url + "/v1", api_key="sk-test") as client:
            stream = await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True, extra_headers=steer(output_tokens=5)
            )
            return [
                c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content
            ]

    assert len(asyncio.run(main())) == 5


def test_rate_limited_twice_then_served_by_the_sdk_retries(client: OpenAI, sim: SimulatorServer) -> None:
    started = time.perf_counter()
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, extra_headers=steer(fail=[429, 429], output_tokens=3)
    )
    assert raw.parse().choices[0].finish_reason == "stop"
    assert plan_of(raw.headers)["attempt"] == 2
    assert [(r.attempt, r.status) for r in sim.requests()] == [(0, 429), (1, 429), (2, 200)]
    assert time.perf_counter() - started < 2.0  # retry-after-ms: 50 kept the SDK from backing off long


def test_rate_limit_error_shape(sim: SimulatorServer) -> None:
    with OpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=0) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=steer(fail=[429]))
        with pytest.raises(openai.InternalServerError) as server_error:
            client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=steer(fail=[500]))
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "rate_limit_exceeded" and body["type"] == "requests"
    assert caught.value.response.headers["retry-after-ms"] == "50"
    assert server_error.value.status_code == 500
    assert [r.status for r in sim.requests()] == [429, 500]


def test_timeout_hangs_past_the_client_timeout(sim: SimulatorServer) -> None:
    with OpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=0, timeout=0.3) as client:
        started = time.perf_counter()
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(
                model=MODEL, messages=MESSAGES, extra_headers=steer(fail=["timeout"], hang_ms=5000)
            )
    assert time.perf_counter() - started < 2.0
    wait_for(lambda: len(sim.requests()) == 1)  # the server notices the hang-up and stops hanging
    assert sim.requests()[0].status == 504


def test_timeout_answers_504_when_the_client_waits_longer(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.with_options(max_retries=0).chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_headers=steer(fail=["timeout"], hang_ms=50)
        )
    assert caught.value.status_code == 504


def test_content_filter_stops_early(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=MESSAGES,
        extra_headers=steer(fail=["content_filter"], output_tokens=12, fail_after=3),
    )
    completion, plan = raw.parse(), plan_of(raw.headers)
    assert completion.choices[0].finish_reason == "content_filter"
    assert completion.usage is not None and completion.usage.completion_tokens == plan["output_tokens"] == 3


def test_midstream_error_raises_inside_the_stream(client: OpenAI) -> None:
    received = []
    with pytest.raises(openai.APIError, match="stream interrupted"):
        stream = client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            stream=True,
            extra_headers=steer(fail=[500], fail_mode="midstream", output_tokens=10, fail_after=4),
        )
        for chunk in stream:
            received += [chunk.choices[0].delta.content] if chunk.choices[0].delta.content else []
    assert len(received) == 4


def test_bad_directive_is_a_400(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="unknown x-tokentrail-sim key"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=steer(ttft=5))
