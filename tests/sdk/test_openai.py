"""The real openai client (sync and async) against the simulator: Chat Completions, Responses, embeddings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from tokentrail import Tokentrail
from tokentrail import semconv as sc
from tokentrail.pricing import describe_model, load_prices

from .conftest import (
    Collector,
    Recorder,
    assert_stream_timing,
    assert_usage,
    isolated,
    sending,
    steer,
    stored,
    timing_retries,
    ttft_ms,
)

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [
    {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {}}}}
]
TIMED = {"ttft_ms": 40, "itl_ms": 15, "output_tokens": 12, "tokens_per_chunk": 1}


@pytest.fixture
def client(rec: Recorder) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test", max_retries=2) as c:
        yield c


@pytest.fixture
async def aclient(rec: Recorder) -> Any:
    async with openai.AsyncOpenAI(base_url=rec.sim.url + "/v1", api_key="test", max_retries=2) as c:
        yield c


def _common(attrs: dict[str, Any], rec: Recorder) -> None:
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == MODEL
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == MODEL
    assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1"
    assert attrs[sc.TT_KIND] == "llm"
    assert attrs[sc.TT_HTTP_STATUS] == 200
    assert attrs[sc.TT_ATTEMPTS] == 1


def test_chat_plain_sync(client: openai.OpenAI, rec: Recorder) -> None:
    client.chat.completions.create(
        model=MODEL, messages=MESSAGES, extra_headers=steer(input_tokens=300, cache_read_tokens=128)
    )
    attrs = rec.one()
    _common(attrs, rec)
    assert_usage(attrs, rec.plan())
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 300  # prompt_tokens already includes cached_tokens
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[sc.OPENAI_API_TYPE] == "chat_completions"
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0] == "stop"
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in attrs
    assert rec.llm()[0].name == f"chat {MODEL}"


@timing_retries
def test_chat_stream_sync(client: openai.OpenAI, rec: Recorder) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=steer(**TIMED),
    )
    texts = [c.choices[0].delta.content for c in stream if c.choices]
    assert "".join(t or "" for t in texts)
    attrs = rec.one()
    _common(attrs, rec)
    plan = rec.plan()
    assert_usage(attrs, plan)
    assert_stream_timing(attrs, plan, itl_ms=15)
    assert attrs[sc.GEN_AI_REQUEST_STREAM] is True
    assert attrs[sc.TT_CHUNKS] == 12


@pytest.mark.asyncio
@timing_retries
async def test_chat_stream_async(aclient: openai.AsyncOpenAI, rec: Recorder) -> None:
    stream = await aclient.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=steer(**TIMED),
    )
    async for _ in stream:
        pass
    attrs = rec.one()
    _common(attrs, rec)
    assert_usage(attrs, rec.plan())
    assert_stream_timing(attrs, rec.plan(), itl_ms=15)


@pytest.mark.asyncio
async def test_chat_plain_async_with_tool_call(aclient: openai.AsyncOpenAI, rec: Recorder) -> None:
    await aclient.chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=TOOLS, extra_headers=steer(tool_call="search")
    )
    attrs = rec.one()
    assert attrs[sc.TT_TOOL_NAMES] == ("search",)
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0] == "tool_calls"
    assert_usage(attrs, rec.plan())


def test_chat_stream_tool_call_counts_as_output(client: openai.OpenAI, rec: Recorder) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        tools=TOOLS,
        stream=True,
        extra_headers=steer(tool_call="search", ttft_ms=40, itl_ms=10),
    )
    for _ in stream:
        pass
    attrs = rec.one()
    plan = rec.plan()
    assert attrs[sc.TT_TOOL_NAMES] == ("search",)
    assert attrs[sc.TT_CHUNKS] == plan.chunks  # tool-call argument deltas are output chunks
    assert plan.ttft_ms <= ttft_ms(attrs)
    assert_usage(attrs, plan)  # usage asked for by default


@timing_retries
def test_chat_stream_helper(client: openai.OpenAI, rec: Recorder) -> None:
    with client.chat.completions.stream(
        model=MODEL, messages=MESSAGES, stream_options={"include_usage": True}, extra_headers=steer(**TIMED)
    ) as stream:
        stream.get_final_completion()
    attrs = rec.one()
    assert_usage(attrs, rec.plan())
    assert_stream_timing(attrs, rec.plan(), itl_ms=15)


@pytest.mark.parametrize("stream", [False, True])
@timing_retries
def test_responses_sync(client: openai.OpenAI, rec: Recorder, stream: bool) -> None:
    headers = steer(**TIMED, reasoning_tokens=4, input_tokens=90, cache_read_tokens=40)
    if stream:
        with client.responses.stream(model=MODEL, input="hello", extra_headers=headers) as events:
            events.get_final_response()
    else:
        client.responses.create(model=MODEL, input="hello", extra_headers=headers)
    attrs = rec.one()
    _common(attrs, rec)
    plan = rec.plan()
    assert_usage(attrs, plan)
    assert attrs[sc.GEN_AI_USAGE_REASONING] == 4
    assert attrs[sc.OPENAI_API_TYPE] == "responses"
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0] == "completed"
    if stream:
        assert_stream_timing(attrs, plan, itl_ms=15)


@pytest.mark.asyncio
async def test_responses_stream_async_tool(aclient: openai.AsyncOpenAI, rec: Recorder) -> None:
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]
    stream = await aclient.responses.create(
        model=MODEL, input="hello", tools=tools, stream=True, extra_headers=steer(tool_call="lookup")
    )
    async for _ in stream:
        pass
    attrs = rec.one()
    assert attrs[sc.TT_TOOL_NAMES] == ("lookup",)
    assert attrs[sc.TT_CHUNKS] == rec.plan().chunks
    assert_usage(attrs, rec.plan())


def test_embeddings_sync(client: openai.OpenAI, rec: Recorder) -> None:
    client.embeddings.create(model="text-embedding-3-small", input=["a b c", "d e"])
    attrs = rec.one()
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == rec.plan().input_tokens
    assert rec.llm()[0].name == "embeddings text-embedding-3-small"


@pytest.mark.asyncio
async def test_embeddings_async(aclient: openai.AsyncOpenAI, rec: Recorder) -> None:
    await aclient.embeddings.create(model="text-embedding-3-small", input="hello world")
    assert rec.one()[sc.GEN_AI_USAGE_INPUT_TOKENS] == rec.plan().input_tokens


def test_429_then_success_counts_attempts(client: openai.OpenAI, rec: Recorder) -> None:
    client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=steer(fail=[429, 429]))
    attrs = rec.one()
    assert attrs[sc.TT_ATTEMPTS] == 3
    assert attrs[sc.TT_HTTP_STATUS] == 200
    assert sc.TT_ERROR_CLASS not in attrs
    assert len(rec.sim.requests()) == 3
    assert_usage(attrs, rec.plan())


@pytest.mark.asyncio
async def test_429_exhausted_async(aclient: openai.AsyncOpenAI, rec: Recorder) -> None:
    with pytest.raises(openai.RateLimitError):
        await aclient.chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_headers=steer(fail=[429, 429, 429, 429])
        )
    span = rec.llm()[0]
    attrs = dict(span.attributes or {})
    assert attrs[sc.TT_ATTEMPTS] == 3
    assert attrs[sc.TT_ERROR_CLASS] == "throttled"
    assert attrs[sc.TT_HTTP_STATUS] == 429
    assert attrs[sc.ERROR_TYPE] == "RateLimitError"
    assert span.status.status_code is StatusCode.ERROR


def test_500_without_retries(client: openai.OpenAI, rec: Recorder) -> None:
    with pytest.raises(openai.InternalServerError):
        client.with_options(max_retries=0).chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_headers=steer(fail=[500])
        )
    attrs = rec.one()
    assert (attrs[sc.TT_ATTEMPTS], attrs[sc.TT_HTTP_STATUS], attrs[sc.TT_ERROR_CLASS]) == (
        1,
        500,
        "server_error",
    )


def test_timeout_is_retried_then_classified(client: openai.OpenAI, rec: Recorder) -> None:
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.25, max_retries=1).chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_headers=steer(fail=["timeout", "timeout"], hang_ms=3000)
        )
    attrs = rec.one()
    assert attrs[sc.TT_ATTEMPTS] == 2
    assert attrs[sc.TT_ERROR_CLASS] == "timeout"
    assert sc.TT_HTTP_STATUS not in attrs


def test_content_filter(client: openai.OpenAI, rec: Recorder) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        stream=True,
        extra_headers=steer(fail=["content_filter"], fail_after=3),
    )
    for _ in stream:
        pass
    attrs = rec.one()
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0] == "content_filter"
    assert attrs[sc.TT_ERROR_CLASS] == "content_filtered"
    assert attrs[sc.TT_CHUNKS] == 3


def test_midstream_error(client: openai.OpenAI, rec: Recorder) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, extra_headers=steer(fail=["midstream"], fail_after=4)
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
    attrs = rec.one()
    assert attrs[sc.TT_CHUNKS] == 4
    assert attrs[sc.TT_ATTEMPTS] == 1
    assert attrs[sc.TT_HTTP_STATUS] == 200
    assert attrs[sc.TT_ERROR_CLASS] == "server_error"


def test_stream_closed_early_is_cancelled(client: openai.OpenAI, rec: Recorder) -> None:
    with client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, extra_headers=steer(output_tokens=30, itl_ms=5)
    ) as stream:
        for i, _ in enumerate(stream):
            if i == 3:
                break
    attrs = rec.one()
    assert attrs[sc.TT_ERROR_CLASS] == "cancelled"
    assert 1 <= attrs[sc.TT_CHUNKS] <= 3


def test_raw_responses_are_recorded_when_parsed(client: openai.OpenAI, rec: Recorder) -> None:
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert rec.llm() == []  # not parsed yet
    raw.parse()
    assert_usage(rec.one(), rec.plan())
    rec.memory.clear()
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as response:
        for _ in response.parse():
            pass
    attrs = rec.one()
    assert_usage(attrs, rec.plan())
    assert attrs[sc.TT_CHUNKS] == rec.plan().chunks


def test_non_llm_endpoints_are_not_recorded(client: openai.OpenAI, rec: Recorder) -> None:
    with pytest.raises(openai.APIStatusError):
        client.models.list()
    assert rec.llm() == []


STREAMED: dict[str, Any] = {
    "model": MODEL,
    "messages": MESSAGES,
    "stream": True,
    "extra_headers": steer(output_tokens=9, tokens_per_chunk=2, ttft_ms=5, itl_ms=2, cache_read_tokens=0),
}


async def consume(url: str, is_async: bool, tt: Tokentrail | None = None, **extra: Any) -> list[Any]:
    """The chunks the application iterates, from a fresh client (instrumented by `tt` if given)."""
    options = STREAMED | extra
    if is_async:
        async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="test") as aclient:
            if tt is not None:
                tt.instrument_openai(aclient)
            return [chunk async for chunk in await aclient.chat.completions.create(**options)]
    with openai.OpenAI(base_url=url + "/v1", api_key="test") as client:
        if tt is not None:
            tt.instrument_openai(client)
        return list(client.chat.completions.create(**options))


def as_sent(chunks: list[Any]) -> list[dict[str, Any]]:
    """The chunks' JSON, less the id and creation time, which differ between any two requests."""
    return [{k: v for k, v in json.loads(c.to_json()).items() if k not in ("id", "created")} for c in chunks]


@pytest.mark.parametrize("is_async", [False, True])
async def test_streams_have_tokens_and_cost_and_the_app_sees_the_same_chunks(
    rec: Recorder, collector: Collector, tmp_path: Path, is_async: bool
) -> None:
    rec.tt.uninstrument()
    tt = sending(collector, tmp_path / "spool")
    try:
        bare = await consume(rec.sim.url, is_async)  # no tokentrail at all
        seen = await consume(rec.sim.url, is_async, tt)
        asked = await consume(rec.sim.url, is_async, tt, stream_options={"include_usage": True})
    finally:
        tt.shutdown()
        rec.tt.instrument()
    assert as_sent(seen) == as_sent(bare)  # the usage-only chunk and the usage: null fields hidden
    assert not [c for c in bare if not c.choices] and all("usage" not in c.model_fields_set for c in bare)
    plans = [r.plan for r in rec.sim.requests()]
    assert plans[0] == plans[1] == plans[2]  # the same answer (stream_options changes only the framing)
    plan = plans[0]
    assert plan is not None and plan.cache_read_tokens == 0
    assert asked[-1].usage is not None and not asked[-1].choices  # asked for by the app: it gets it
    assert (asked[-1].usage.prompt_tokens, asked[-1].usage.completion_tokens) == (
        plan.input_tokens,
        plan.output_tokens,
    )
    sql = "SELECT input_tokens, output_tokens, cost_usd FROM spans WHERE kind = 'llm' ORDER BY start_time"
    rows = stored(collector, tt, 2, sql)
    rates = describe_model("openai", MODEL, load_prices())
    assert rates.input is not None and rates.output is not None
    cost = (plan.input_tokens * rates.input + plan.output_tokens * rates.output) / 1e6
    for row in rows:
        assert (row["input_tokens"], row["output_tokens"]) == (plan.input_tokens, plan.output_tokens)
        assert row["cost_usd"] == pytest.approx(cost, rel=1e-9)


def test_stream_usage_switched_off_or_set_by_the_app_sends_the_request_as_it_is(rec: Recorder) -> None:
    tt, memory = isolated(openai_stream_usage=False)
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        tt.instrument_openai(client)
        off = list(client.chat.completions.create(**STREAMED))
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        own = list(  # the application's own stream_options are never overwritten
            client.chat.completions.create(**STREAMED, stream_options={"include_usage": False})
        )
    assert tt.force_flush(10)
    assert [c for c in off + own if not c.choices] == []
    (switched_off,) = (dict(s.attributes or {}) for s in memory.get_finished_spans())
    (app_set,) = (dict(s.attributes or {}) for s in rec.llm())
    for attrs in (switched_off, app_set):
        assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in attrs  # no counts, never zeros
        assert attrs[sc.TT_CHUNKS] == rec.plan().chunks
