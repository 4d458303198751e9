"""The real anthropic client (sync and async) against the simulator: Messages, streamed, and the helper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tokentrail import semconv as sc

from .conftest import Recorder, assert_stream_timing, assert_usage, steer, timing_retries

MODEL = "claude-haiku-test"
MESSAGES = [{"role": "user", "content": "Find the latest release notes."}]
TOOLS = [{"name": "search", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
TIMED = {"ttft_ms": 40, "itl_ms": 15, "output_tokens": 10, "tokens_per_chunk": 1}
CACHED = {"input_tokens": 500, "cache_read_tokens": 300, "cache_write_tokens": 100}


@pytest.fixture
def client(rec: Recorder) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=rec.sim.url, api_key="test", max_retries=2) as c:
        yield c


@pytest.fixture
async def aclient(rec: Recorder) -> Any:
    async with anthropic.AsyncAnthropic(base_url=rec.sim.url, api_key="test", max_retries=2) as c:
        yield c


def test_messages_plain_sync_sums_cache_into_input(client: anthropic.Anthropic, rec: Recorder) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=100, messages=MESSAGES, extra_headers=steer(**CACHED)
    )
    assert message.usage.input_tokens == 100  # Anthropic reports input without the cache ...
    attrs = rec.one()
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 500  # ... the span follows the OTel rule
    assert_usage(attrs, rec.plan())
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == MODEL
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0] == message.stop_reason
    assert (attrs[sc.TT_ATTEMPTS], attrs[sc.TT_HTTP_STATUS]) == (1, 200)


@timing_retries
def test_messages_stream_sync(client: anthropic.Anthropic, rec: Recorder) -> None:
    stream = client.messages.create(
        model=MODEL, max_tokens=100, messages=MESSAGES, stream=True, extra_headers=steer(**TIMED, **CACHED)
    )
    for _ in stream:
        pass
    attrs = rec.one()
    assert_usage(attrs, rec.plan())
    assert_stream_timing(attrs, rec.plan(), itl_ms=15)


def test_stream_helper_sync_with_tool(client: anthropic.Anthropic, rec: Recorder) -> None:
    with client.messages.stream(
        model=MODEL, max_tokens=200, messages=MESSAGES, tools=TOOLS, extra_headers=steer(tool_call="search")
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    attrs = rec.one()
    assert attrs[sc.TT_TOOL_NAMES] == ("search",)
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0] == "tool_use"
    assert attrs[sc.TT_CHUNKS] == rec.plan().chunks
    assert_usage(attrs, rec.plan())


@pytest.mark.asyncio
@timing_retries
async def test_stream_helper_async(aclient: anthropic.AsyncAnthropic, rec: Recorder) -> None:
    async with aclient.messages.stream(
        model=MODEL, max_tokens=100, messages=MESSAGES, extra_headers=steer(**TIMED)
    ) as stream:
        async for _ in stream.text_stream:
            pass
    attrs = rec.one()
    assert_usage(attrs, rec.plan())
    assert_stream_timing(attrs, rec.plan(), itl_ms=15)


@pytest.mark.asyncio
async def test_async_stream_closed_early_is_cancelled(
    aclient: anthropic.AsyncAnthropic, rec: Recorder
) -> None:
    stream = await aclient.messages.create(
        model=MODEL, max_tokens=100, messages=MESSAGES, stream=True, extra_headers=steer(**TIMED)
    )
    # the SDK built the stream from the class tokentrail named as its ``stream_cls``: a timed subclass
    assert isinstance(stream, anthropic.AsyncStream) and type(stream) is not anthropic.AsyncStream
    assert type(stream).__name__ == "AsyncStream"
    events = []
    async for event in stream:
        events.append(event)
        if len(events) == 4:
            break
    await stream.close()
    assert len(events) == 4
    attrs = rec.one()
    assert attrs[sc.TT_ERROR_CLASS] == "cancelled"
    assert 1 <= attrs[sc.TT_CHUNKS] <= 3  # message_start is framing, not output


@pytest.mark.asyncio
async def test_messages_plain_async(aclient: anthropic.AsyncAnthropic, rec: Recorder) -> None:
    await aclient.messages.create(
        model=MODEL, max_tokens=100, messages=MESSAGES, extra_headers=steer(**CACHED)
    )
    assert_usage(rec.one(), rec.plan())


def test_429_retried(client: anthropic.Anthropic, rec: Recorder) -> None:
    client.messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=steer(fail=[429, 529])
    )
    attrs = rec.one()
    assert (attrs[sc.TT_ATTEMPTS], attrs[sc.TT_HTTP_STATUS]) == (3, 200)
    assert sc.TT_ERROR_CLASS not in attrs


@pytest.mark.asyncio
async def test_overloaded_exhausted_async(aclient: anthropic.AsyncAnthropic, rec: Recorder) -> None:
    with pytest.raises(anthropic.InternalServerError):
        await aclient.with_options(max_retries=1).messages.create(
            model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=steer(fail=[529, 529])
        )
    attrs = rec.one()
    assert (attrs[sc.TT_ATTEMPTS], attrs[sc.TT_HTTP_STATUS], attrs[sc.TT_ERROR_CLASS]) == (
        2,
        529,
        "server_error",
    )


def test_timeout(client: anthropic.Anthropic, rec: Recorder) -> None:
    with pytest.raises(anthropic.APITimeoutError):
        client.with_options(timeout=0.25, max_retries=1).messages.create(
            model=MODEL,
            max_tokens=50,
            messages=MESSAGES,
            extra_headers=steer(fail=["timeout"] * 2, hang_ms=3000),
        )
    attrs = rec.one()
    assert (attrs[sc.TT_ATTEMPTS], attrs[sc.TT_ERROR_CLASS]) == (2, "timeout")


def test_refusal_is_content_filtered(client: anthropic.Anthropic, rec: Recorder) -> None:
    with client.messages.stream(
        model=MODEL,
        max_tokens=100,
        messages=MESSAGES,
        extra_headers=steer(fail=["content_filter"], fail_after=2),
    ) as stream:
        stream.until_done()
    attrs = rec.one()
    assert (attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0], attrs[sc.TT_ERROR_CLASS], attrs[sc.TT_CHUNKS]) == (
        "refusal",
        "content_filtered",
        2,
    )


def test_midstream_overloaded(client: anthropic.Anthropic, rec: Recorder) -> None:
    stream = client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=MESSAGES,
        stream=True,
        extra_headers=steer(fail=[529], fail_mode="midstream", fail_after=3),
    )
    with pytest.raises(anthropic.APIStatusError):
        for _ in stream:
            pass
    attrs = rec.one()
    assert attrs[sc.TT_CHUNKS] == 3
    assert attrs[sc.TT_ERROR_CLASS] == "server_error"  # by the error body's type, overloaded_error
    assert attrs[sc.TT_HTTP_STATUS] == 200
