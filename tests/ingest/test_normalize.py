"""Each convention's attribute set, recorded from a real instrumentation or built from its spec, maps onto
the one Call record."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from support import T0, load_fixture
from tokentrail.errors import classify_error
from tokentrail.ingest.normalize import to_call
from tokentrail.model import Call

START_NS = int((T0 - dt.datetime(1970, 1, 1)).total_seconds() * 1e9)


def normalise(attrs: dict[str, Any], events: list[tuple[str, float]] | None = None, **kw: Any) -> Call:
    return to_call(
        attrs,
        trace_id="ab" * 16,
        span_id="cd" * 8,
        parent_span_id=None,
        name=kw.pop("name", "openai.chat"),
        start_ns=START_NS,
        end_ns=START_NS + 800_000_000,
        events=[(n, START_NS + int(ms * 1e6)) for n, ms in events or []],
        **kw,
    )


def test_openllmetry_current_generation_recorded() -> None:
    plain, streamed = load_fixture("spans_openllmetry.json")
    call = normalise(plain["attributes"])
    assert (call.kind, call.provider, call.operation) == ("llm", "openai", "chat")
    assert (call.request_model, call.response_model) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens) == (120, 7, 100)
    assert call.reasoning_tokens == 2
    assert call.stop_reason == "tool_call"
    assert call.tool_names == ["search"]
    assert call.response_id == "chatcmpl-1"
    assert call.server_address == "http://sim/v1/"
    # content is counted, never stored
    assert "gen_ai.input.messages" not in call.attributes and "gen_ai.output.messages" not in call.attributes
    assert call.prompt_chars and call.prompt_chars > len("Say hello to the world")

    events = [(name, 40.0 + 10 * i) for i, name in enumerate(streamed["events"])]
    s = normalise(streamed["attributes"], events)
    assert s.stream is True
    assert s.ttft_ms == pytest.approx(40.0, abs=0.01)


def test_openinference_recorded() -> None:
    plain, streamed = load_fixture("spans_openinference.json")
    call = normalise(plain["attributes"], name="ChatCompletion")
    assert (call.kind, call.provider, call.operation) == ("llm", "openai", "chat")
    assert call.request_model == "gpt-4o-mini"
    assert call.response_model == "gpt-4o-mini-2024-07-18"
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens, call.reasoning_tokens) == (
        120,
        7,
        100,
        2,
    )
    assert call.tool_names == ["search"] and call.tool_calls == 1
    assert call.stop_reason == "tool_calls"
    assert not any(
        k.startswith(("input.value", "output.value", "llm.input_messages")) for k in call.attributes
    )
    assert call.prompt_chars and call.prompt_chars > 0

    s = normalise(streamed["attributes"], [("First Token Stream Event", 123.0)], name="ChatCompletion")
    assert s.stream is True and s.ttft_ms == pytest.approx(123.0, abs=0.01)


def test_openllmetry_classic_generation() -> None:
    # Attribute names of opentelemetry-semantic-conventions-ai <= 0.4 (specs.md 2.1 A).
    attrs = {
        "gen_ai.system": "Anthropic",
        "llm.request.type": "chat",
        "gen_ai.request.model": "claude-3-5-sonnet-20241022",
        "gen_ai.response.model": "claude-3-5-sonnet-20241022",
        "gen_ai.usage.prompt_tokens": 1200,
        "gen_ai.usage.completion_tokens": 80,
        "gen_ai.usage.cache_read_input_tokens": 1000,
        "gen_ai.usage.cache_creation_input_tokens": 150,
        "llm.usage.total_tokens": 1280,
        "llm.is_streaming": True,
        "llm.response.stop_reason": "end_turn",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "What is in my cart?",
        "gen_ai.completion.0.content": "Two items.",
        "gen_ai.completion.0.tool_calls.0.name": "cart_lookup",
        "traceloop.association.properties.user_id": "u-7",
        "traceloop.association.properties.session_id": "s-1",
    }
    call = normalise(attrs, name="anthropic.chat")
    assert (call.provider, call.operation, call.kind) == ("anthropic", "chat", "llm")
    assert (call.input_tokens, call.output_tokens) == (1200, 80)
    assert (call.cache_read_tokens, call.cache_write_tokens) == (1000, 150)
    assert call.stream is True and call.stop_reason == "end_turn"
    assert call.tool_names == ["cart_lookup"]
    assert call.user_id == "u-7" and call.metadata["session_id"] == "s-1"
    assert call.prompt_chars == len("What is in my cart?") + len("user")
    assert not any(k.startswith("gen_ai.completion.") for k in call.attributes)


def test_genai_semconv_old_spelling() -> None:
    attrs = {
        "gen_ai.system": "az.ai.openai",
        "gen_ai.request.model": "gpt-4",
        "gen_ai.usage.prompt_tokens": 10,
        "gen_ai.usage.completion_tokens": 3,
    }
    call = normalise(attrs, name="chat gpt-4")
    assert call.provider == "azure.ai.openai"
    assert call.operation == "chat"
    assert (call.input_tokens, call.output_tokens) == (10, 3)


def test_genai_semconv_new_spelling_with_cache_write_and_ttfc() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "gen_ai.usage.input_tokens": 500,
        "gen_ai.usage.output_tokens": 40,
        "gen_ai.usage.cache_read.input_tokens": 300,
        "gen_ai.usage.cache_write.input_tokens": 100,
        "gen_ai.usage.reasoning.output_tokens": 12,
        "gen_ai.request.stream": True,
        "gen_ai.response.time_to_first_chunk": 0.25,
        "gen_ai.response.finish_reasons": ["end_turn"],
        "gen_ai.conversation.id": "conv-9",
        "aws.bedrock.guardrail.id": "g-1",
    }
    call = normalise(attrs)
    assert call.provider == "aws.bedrock"
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (500, 300, 100)
    assert call.reasoning_tokens == 12
    assert call.ttft_ms == pytest.approx(250.0)
    assert call.stream and call.conversation_id == "conv-9"
    assert call.attributes == {"aws.bedrock.guardrail.id": "g-1"}


def test_cache_creation_spelling_of_v140() -> None:
    call = normalise(
        {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.usage.input_tokens": 900,
            "gen_ai.usage.cache_creation.input_tokens": 800,
            "gen_ai.request.model": "claude",
        }
    )
    assert call.cache_write_tokens == 800 and call.input_tokens == 900


def test_anthropic_input_excluding_cache_is_summed() -> None:
    # An instrumentation that forgot the Anthropic rule: input (excluding cache) < cache counters.
    call = normalise(
        {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.cache_read.input_tokens": 2000,
            "gen_ai.usage.cache_creation.input_tokens": 300,
        }
    )
    assert call.input_tokens == 12 + 2000 + 300


def test_tokentrail_extras() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "tokentrail.kind": "llm",
        "tokentrail.ttft_ms": 210.5,
        "tokentrail.ttlt_ms": 790.0,
        "tokentrail.stream_duration_ms": 579.5,
        "tokentrail.chunks": 50,
        "tokentrail.itl.p50_ms": 10.0,
        "tokentrail.itl.p95_ms": 30.0,
        "tokentrail.itl.max_ms": 300.0,
        "tokentrail.attempts": 3,
        "tokentrail.degraded": "fallback_model",
        "tokentrail.feature": "search",
        "tokentrail.tenant": "acme",
        "tokentrail.prompt_version": "v7",
        "tokentrail.metadata.region_hint": "eu",
        "tokentrail.tool_names": ["lookup", "search"],
        "tokentrail.compression_ratio": 0.4,
        "gen_ai.usage.output_tokens": 58,
    }
    call = normalise(attrs)
    assert (call.ttft_ms, call.ttlt_ms, call.chunks, call.itl_max_ms) == (210.5, 790.0, 50, 300.0)
    assert call.attempts == 3 and call.degraded == "fallback_model"
    assert (call.feature, call.tenant, call.prompt_version) == ("search", "acme", "v7")
    assert call.metadata == {"region_hint": "eu"}
    assert call.tool_names == ["lookup", "search"] and call.tool_calls == 2
    assert call.compression_ratio == 0.4
    assert call.output_tokens_per_s == pytest.approx(58 / 0.5795)
    assert call.attributes == {}


@pytest.mark.parametrize(
    ("attrs", "status", "expected"),
    [
        ({"error.type": "RateLimitError"}, 2, "throttled"),
        ({"error.type": "botocore.ThrottlingException"}, 2, "throttled"),
        ({"error.type": "_OTHER", "http.response.status_code": 503}, 2, "server_error"),
        ({"error.type": "APITimeoutError"}, 2, "timeout"),
        ({"tokentrail.error_class": "auth"}, 2, "auth"),
        ({"http.response.status_code": 400}, 2, "invalid_request"),
        ({}, 2, "other"),
    ],
)
def test_error_classes(attrs: dict[str, Any], status: int, expected: str) -> None:
    call = normalise({"gen_ai.request.model": "m", **attrs}, status_code=status)
    assert call.status == "error" and call.error_class == expected


def test_content_filter_stop_reason_is_classed() -> None:
    call = normalise({"gen_ai.request.model": "m", "gen_ai.response.finish_reasons": ["content_filter"]})
    assert call.error_class == "content_filtered" and call.status == "ok"


def test_span_kinds() -> None:
    assert normalise({"openinference.span.kind": "TOOL", "tool.name": "search"}).kind == "tool"
    assert normalise({"openinference.span.kind": "TOOL", "tool.name": "search"}).tool_names == ["search"]
    assert normalise({"gen_ai.operation.name": "invoke_agent"}).kind == "agent"
    assert normalise({"traceloop.span.kind": "workflow"}).kind == "chain"
    assert normalise({"http.method": "GET"}, name="GET /").kind == "other"


def test_environment_from_resource_and_service() -> None:
    call = normalise(
        {"gen_ai.request.model": "m"},
        resource={"service.name": "shop", "deployment.environment.name": "prod"},
    )
    assert call.service == "shop" and call.environment == "prod"


def test_classify_error_never_reads_message_text() -> None:
    assert classify_error("Rate limit exceeded, please retry", None) == "other"
    assert classify_error(None, 429) == "throttled"
