"""What a replay sends: each provider's request rebuilt from a content document (system, tool rounds, tool
definitions, tool choice, parameters), and `--prompt`'s replacement of the archived prompt version."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tokentrail.replay.prompts import Chosen, PromptMismatch, fill, parse_ref
from tokentrail.replay.providers import anthropic_request, bedrock_request, openai_request

SCHEMA = {"type": "object", "properties": {"number": {"type": "string"}}}
DOC: dict[str, Any] = {
    "provider": "openai",
    "model": "gpt-4o-mini",
    "params": {"temperature": 0.2, "max_tokens": 60, "seed": 7, "tool_choice": {"name": "track"}},
    "system": None,
    "messages": [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Where is <EMAIL_1>'s parcel?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "track", "arguments": {"number": "42"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "in the depot"}]},
    ],
    "tools": [{"type": "function", "name": "track", "description": "Track", "parameters": SCHEMA}],
    "output": [],
}


def test_openai_request_keeps_the_tool_round_tools_choice_and_parameters() -> None:
    assert openai_request(DOC) == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Where is <EMAIL_1>'s parcel?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "track", "arguments": json.dumps({"number": "42"})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "in the depot"},
        ],
        "temperature": 0.2,
        "max_tokens": 60,
        "seed": 7,
        "tools": [
            {"type": "function", "function": {"name": "track", "description": "Track", "parameters": SCHEMA}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "track"}},
    }


def test_anthropic_request_maps_system_tool_use_and_results() -> None:
    request = anthropic_request(DOC)
    assert request["system"] == "Be brief."
    assert request["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Where is <EMAIL_1>'s parcel?"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "c1", "name": "track", "input": {"number": "42"}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "in the depot"}],
        },
    ]
    assert request["tools"] == [{"name": "track", "description": "Track", "input_schema": SCHEMA}]
    assert request["tool_choice"] == {"type": "tool", "name": "track"}
    assert (request["temperature"], request["max_tokens"]) == (0.2, 60)
    assert "seed" not in request  # Anthropic has no seed


def test_bedrock_request_maps_to_converse() -> None:
    request = bedrock_request(DOC | {"params": {"tool_choice": "required", "stop_sequences": ["END"]}})
    assert request["system"] == [{"text": "Be brief."}]
    assert request["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "c1", "name": "track", "input": {"number": "42"}}}],
        },
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": "c1", "content": [{"text": "in the depot"}]}}],
        },
    ]
    assert request["inferenceConfig"] == {"maxTokens": 1024, "stopSequences": ["END"]}
    spec = {"name": "track", "description": "Track", "inputSchema": {"json": SCHEMA}}
    assert request["toolConfig"] == {"tools": [{"toolSpec": spec}], "toolChoice": {"any": {}}}


REGISTRY = {
    "name": "triage",
    "versions": [
        {"version": 1, "content_id": "aa", "template": "Triage this: {ticket} (from {who})", "params": {}},
        {
            "version": 2,
            "content_id": "bb",
            "messages": [
                {"role": "system", "content": "You triage tickets."},
                {"role": "user", "content": "Ticket: {ticket}; tone {tone}"},
            ],
            "model": "gpt-4.1-mini",
            "params": {"temperature": 0},
        },
    ],
}


def archived(text: str, **prompt: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "params": {"max_tokens": 50},
        "system": [{"type": "text", "content": "House rules."}],
        "messages": [{"role": "user", "parts": [{"type": "text", "content": text}]}],
        "prompt": {"name": "triage", "version": "1", "content_id": "aa"} | prompt,
    }


def texts(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], "".join(p["content"] for p in m["parts"])) for m in doc["messages"]]


def test_prompt_version_replaces_the_archived_one_with_matched_variables() -> None:
    chosen = Chosen.of(REGISTRY, 2)
    doc = chosen.apply(archived("Triage this: printer <EMAIL_1> down (from Jo)"))
    assert texts(doc) == [
        ("system", "House rules."),
        ("system", "You triage tickets."),
        ("user", "Ticket: printer <EMAIL_1> down; tone {tone}"),  # no value for tone: sent as it is
    ]
    assert doc["system"] is None and doc["params"] == {"max_tokens": 50, "temperature": 0}
    assert chosen.model == "gpt-4.1-mini"
    assert chosen.labels() == {"prompt_name": "triage", "prompt_version": "2", "prompt_content_id": "bb"}


def test_recorded_variables_win_and_a_version_is_found_by_number() -> None:
    doc = archived("Triage this: x (from y)", content_id=None, variables={"ticket": "T-1", "tone": "calm"})
    assert texts(Chosen.of(REGISTRY, 2).apply(doc))[-1] == ("user", "Ticket: T-1; tone calm")


def test_a_sample_without_its_version_text_is_a_mismatch() -> None:
    with pytest.raises(PromptMismatch, match="do not hold"):
        Chosen.of(REGISTRY, 2).apply(archived("Something else entirely"))
    with pytest.raises(PromptMismatch, match="not in the registry"):
        Chosen.of(REGISTRY, 2).apply(archived("x", version="9", content_id="zz"))


def test_prompt_references() -> None:
    assert parse_ref("triage@3") == ("triage", 3) and parse_ref("a.b-c@v12") == ("a.b-c", 12)
    for bad in ("triage", "triage@", "@3", "triage@0", "triage@latest", "tri age@1"):
        with pytest.raises(ValueError, match="NAME@VERSION"):
            parse_ref(bad)
    with pytest.raises(LookupError, match="no version 5"):
        Chosen.of(REGISTRY, 5)
    assert fill("{a} {b!r:>3} {{x}}", {"a": 1}) == "1 {b!r:>3} {x}"
