"""Content documents from each convention's attributes: GenAI semconv (the current OpenLLMetry, recorded),
OpenInference (recorded) and OpenLLMetry's older flattened attributes."""

from __future__ import annotations

from typing import Any

from support import load_fixture
from tokentrail.ingest.normalize import to_call
from tokentrail.samples.content import extract

TEXT = [{"type": "text", "content": "Say hello to the world"}]


def call_of(attrs: dict[str, Any]) -> Any:
    return to_call(
        dict(attrs),
        trace_id="a" * 32,
        span_id="b" * 16,
        parent_span_id=None,
        name="chat",
        start_ns=1,
        end_ns=2,
    )


def test_openllmetry_semconv_attributes_become_a_document() -> None:
    plain, _ = load_fixture("spans_openllmetry.json")
    call = call_of(plain["attributes"])
    doc = call.content
    assert doc["version"] == 1 and doc["provider"] == "openai" and doc["model"] == "gpt-4o-mini"
    assert doc["messages"] == [{"role": "user", "parts": TEXT}]
    assert doc["output"][0]["parts"][0] == {"content": "Hello", "type": "text"}
    assert doc["output"][0]["parts"][1]["name"] == "search"
    assert "gen_ai.input.messages" not in call.attributes and call.prompt_chars  # never a column


def test_openinference_flattened_messages_become_a_document() -> None:
    plain, _ = load_fixture("spans_openinference.json")
    doc = call_of(plain["attributes"]).content
    assert doc["messages"] == [{"role": "user", "parts": TEXT}]
    hello, called = doc["output"][0]["parts"]
    assert hello == {"type": "text", "content": "Hello"}
    assert called == {"type": "tool_call", "id": "t1", "name": "search", "arguments": {}}
    assert doc["output"][0]["role"] == "assistant"


def test_older_openllmetry_prompt_and_completion_attributes() -> None:
    attrs = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.temperature": 0.3,
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "Be brief",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "Hi",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "Hello",
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.completion.0.tool_calls.0.name": "lookup",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"q": 1}',
        "llm.request.functions.0.name": "lookup",
    }
    doc = extract(attrs, "openai", "chat", "gpt-4o")
    assert doc is not None
    assert [m["role"] for m in doc["messages"]] == ["system", "user"]
    assert doc["output"] == [
        {
            "role": "assistant",
            "finish_reason": "stop",
            "parts": [
                {"type": "text", "content": "Hello"},
                {"type": "tool_call", "id": None, "name": "lookup", "arguments": {"q": 1}},
            ],
        }
    ]
    assert doc["tools"] == [{"name": "lookup", "description": None, "parameters": None}]
    assert doc["params"] == {"temperature": 0.3}


def test_a_span_without_content_has_no_document() -> None:
    assert call_of({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}).content is None
    assert extract({"gen_ai.request.model": "m"}, None, None, "m") is None
