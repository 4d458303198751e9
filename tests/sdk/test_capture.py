"""Content capture with the real clients against the simulator: off by default; on per labels block or per
instance, every provider's request and response (plain and streamed) go out as GenAI content attributes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

import tokentrail
from tokentrail import semconv as sc

from .conftest import BedrockClient, Recorder, isolated, steer

CONTENT_KEYS = (
    sc.GEN_AI_INPUT_MESSAGES,
    sc.GEN_AI_OUTPUT_MESSAGES,
    sc.GEN_AI_SYSTEM_INSTRUCTIONS,
    sc.GEN_AI_TOOL_DEFINITIONS,
)
QUESTION = "Where is my parcel? Write to me at jo@example.com"
SYSTEM = "You are a courteous support agent."
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {"name": "track", "description": "Track a parcel", "parameters": {"type": "object"}},
    }
]


@pytest.fixture
def oai(rec: Recorder) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as c:
        yield c


@pytest.fixture
def ant(rec: Recorder) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=rec.sim.url, api_key="test") as c:
        yield c


def content(attrs: dict[str, Any]) -> dict[str, Any]:
    return {key: json.loads(attrs[key]) for key in CONTENT_KEYS if key in attrs}


def output_text(attrs: dict[str, Any]) -> str:
    (message,) = json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES])
    assert message["role"] == "assistant"
    return "".join(p["content"] for p in message["parts"] if p["type"] == "text")


def test_off_by_default_sends_no_content(oai: openai.OpenAI, ant: anthropic.Anthropic, rec: Recorder) -> None:
    oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": QUESTION}])
    for _ in ant.messages.create(
        model="claude-x",
        max_tokens=20,
        system=SYSTEM,
        stream=True,
        messages=[{"role": "user", "content": QUESTION}],
    ):
        pass
    spans = rec.llm()
    assert len(spans) == 2
    for span in spans:
        attrs = dict(span.attributes or {})
        assert not set(CONTENT_KEYS) & attrs.keys()
        assert not any("jo@example.com" in str(v) or SYSTEM in str(v) for v in attrs.values())


def test_openai_chat_plain(oai: openai.OpenAI, rec: Recorder) -> None:
    messages: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    with tokentrail.labels(feature="support", capture_content=True):
        reply = oai.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            tools=OPENAI_TOOLS,
            temperature=0.2,
            max_tokens=50,
            extra_headers=steer(tool_call="track"),
        )
    messages.append({"role": "assistant", "content": "later"})  # the app's list changes after the call
    attrs = rec.one()
    found = content(attrs)
    assert found[sc.GEN_AI_INPUT_MESSAGES] == [
        {"role": "system", "parts": [{"type": "text", "content": SYSTEM}]},
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]},
    ]
    assert found[sc.GEN_AI_TOOL_DEFINITIONS][0]["name"] == "track"
    (asked,) = reply.choices[0].message.tool_calls or ()  # the simulator was told to call the tool
    ((part,),) = (m["parts"] for m in found[sc.GEN_AI_OUTPUT_MESSAGES])
    assert part == {
        "type": "tool_call",
        "id": asked.id,
        "name": "track",
        "arguments": json.loads(asked.function.arguments),
    }
    assert attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.2 and attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert attrs[sc.label_attribute("feature")] == "support"  # capture_content is not a label
    assert not any(k.startswith(sc.TT_METADATA_PREFIX) for k in attrs)


def test_openai_chat_stream_assembles_the_output(oai: openai.OpenAI, rec: Recorder) -> None:
    with tokentrail.labels(capture_content=True):
        stream = oai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    attrs = rec.one()
    assert output_text(attrs) == text == rec.plan().content
    assert attrs[sc.TT_CHUNKS] == rec.plan().chunks  # timing still measured


def test_openai_responses(oai: openai.OpenAI, rec: Recorder) -> None:
    with tokentrail.labels(capture_content=True):
        response = oai.responses.create(model="gpt-4o-mini", input=QUESTION, instructions=SYSTEM)
    found = content(rec.one())
    assert found[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": SYSTEM}]
    assert found[sc.GEN_AI_INPUT_MESSAGES] == [
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]}
    ]
    assert output_text(rec.one()) == response.output_text


def test_anthropic_plain_with_tools(ant: anthropic.Anthropic, rec: Recorder) -> None:
    tools: Any = [{"name": "track", "description": "Track a parcel", "input_schema": {"type": "object"}}]
    with tokentrail.labels(capture_content=True):
        message = ant.messages.create(
            model="claude-x",
            max_tokens=40,
            system=SYSTEM,
            tools=tools,
            messages=[{"role": "user", "content": [{"type": "text", "text": QUESTION}]}],
        )
    attrs = rec.one()
    found = content(attrs)
    assert found[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": SYSTEM}]
    assert found[sc.GEN_AI_INPUT_MESSAGES][0]["parts"] == [{"type": "text", "content": QUESTION}]
    assert found[sc.GEN_AI_TOOL_DEFINITIONS][0]["parameters"] == {"type": "object"}
    used = [b for b in message.content if b.type == "tool_use"]
    calls = [p for p in found[sc.GEN_AI_OUTPUT_MESSAGES][0]["parts"] if p["type"] == "tool_call"]
    assert [(c["id"], c["name"], c["arguments"]) for c in calls] == [(b.id, b.name, b.input) for b in used]
    assert attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 40


def test_anthropic_stream(ant: anthropic.Anthropic, rec: Recorder) -> None:
    with (
        tokentrail.labels(capture_content=True),
        ant.messages.stream(
            model="claude-x", max_tokens=40, system=SYSTEM, messages=[{"role": "user", "content": QUESTION}]
        ) as events,
    ):
        text = "".join(events.text_stream)
    attrs = rec.one()
    assert content(attrs)[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": SYSTEM}]
    assert output_text(attrs) == text == rec.plan().content


def test_bedrock_converse_plain_and_streamed(bedrock: BedrockClient, rec: Recorder) -> None:
    params: dict[str, Any] = {
        "modelId": "amazon.nova-lite-v1:0",
        "system": [{"text": SYSTEM}],
        "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
        "inferenceConfig": {"maxTokens": 64, "temperature": 0.5},
    }
    with tokentrail.labels(capture_content=True):
        reply = bedrock.client.converse(**params)
        streamed = "".join(
            e["contentBlockDelta"]["delta"].get("text", "")
            for e in bedrock.client.converse_stream(**params)["stream"]
            if "contentBlockDelta" in e
        )
    plain, stream = rec.llm()
    for span, text in ((plain, reply["output"]["message"]["content"][0]["text"]), (stream, streamed)):
        attrs = dict(span.attributes or {})
        assert content(attrs)[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": SYSTEM}]
        assert content(attrs)[sc.GEN_AI_INPUT_MESSAGES][0]["parts"][0]["content"] == QUESTION
        assert output_text(attrs) == text and text
        assert attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 64 and attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5


def test_bedrock_invoke_model_anthropic_body(bedrock: BedrockClient, rec: Recorder) -> None:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 80,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": QUESTION}],
    }
    with tokentrail.labels(capture_content=True):
        response = bedrock.client.invoke_model(
            modelId="anthropic.claude-3-haiku-20240307-v1:0", body=json.dumps(body)
        )
    answer = json.loads(response["body"].read())  # the application still reads the whole body
    attrs = rec.one()
    assert content(attrs)[sc.GEN_AI_INPUT_MESSAGES][0]["parts"][0]["content"] == QUESTION
    assert output_text(attrs) == answer["content"][0]["text"]


def test_instance_setting_and_labels_override(rec: Recorder) -> None:
    tt, memory = isolated(capture_content=True)
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        tt.instrument_openai(client)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": QUESTION}])
        with tokentrail.labels(capture_content=False):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": QUESTION}])
    assert tt.force_flush(10)
    first, second = (dict(s.attributes or {}) for s in memory.get_finished_spans())
    assert sc.GEN_AI_INPUT_MESSAGES in first and sc.GEN_AI_OUTPUT_MESSAGES in first
    assert not set(CONTENT_KEYS) & second.keys()
    tt.shutdown()
