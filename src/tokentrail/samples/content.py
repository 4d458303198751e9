"""The content document of one call, read from its span's attributes in whichever convention sent them.

A document is what a replay needs to rebuild the provider request, and what the call page shows::

    {"version": 1, "provider": "openai", "operation": "chat", "model": "gpt-4o-mini",
     "params": {"temperature": 0.2, "max_tokens": 256},
     "system": [{"type": "text", "content": "..."}],                        # or null
     "messages": [{"role": "user", "parts": [{"type": "text", "content": "..."}]}],
     "tools": [{"name": "search", "description": "...", "parameters": {...}}],  # or null
     "output": [{"role": "assistant", "parts": [...], "finish_reason": "stop"}],
     "prompt": {"name": "triage", "version": "3", "content_id": "...", "variables": {...}}}  # when labelled

``params`` may hold ``tool_choice``: ``auto``, ``none``, ``required`` or ``{"name": "search"}``. ``prompt`` is
the registry version the call was labelled with (``tokentrail.prompt``, or ``gen_ai.prompt.*``), with the
template variables when the instrumentation recorded them (OpenInference ``llm.prompt_template.variables``).

Messages and parts follow the GenAI semantic conventions' JSON shapes (``gen_ai.input.messages``,
``gen_ai.output.messages``, ``gen_ai.system_instructions``, ``gen_ai.tool.definitions``). Read from, newest
first: those attributes (JSON strings or structured), OpenLLMetry's flattened ``gen_ai.prompt.N.*`` and
``gen_ai.completion.N.*`` (with ``llm.request.functions.N.*``), OpenInference's ``llm.input_messages.N.*`` and
``llm.output_messages.N.*`` (with ``llm.tools.N.tool.json_schema`` and ``llm.invocation_parameters``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tokentrail import semconv as sc

VERSION = 1
Doc = dict[str, Any]

PARAMS = {  # request parameters a replay sends again: attribute -> document key
    sc.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    sc.GEN_AI_REQUEST_TOP_P: "top_p",
    sc.GEN_AI_REQUEST_TOP_K: "top_k",
    sc.GEN_AI_REQUEST_MAX_TOKENS: "max_tokens",
    sc.GEN_AI_REQUEST_STOP_SEQUENCES: "stop_sequences",
    sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: "frequency_penalty",
    sc.GEN_AI_REQUEST_PRESENCE_PENALTY: "presence_penalty",
    sc.GEN_AI_REQUEST_SEED: "seed",
    sc.TT_TOOL_CHOICE: "tool_choice",
}
VARIABLES = "llm.prompt_template.variables"
SEMCONV_KEYS = (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS)
FLAT_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.", "llm.input_messages.", "llm.output_messages.")


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return [{"type": "text", "content": value}]
    return value


def _list(value: Any) -> list[Any] | None:
    value = _json(value)
    return list(value) if isinstance(value, list | tuple) else None


def text_part(text: Any) -> dict[str, Any]:
    return {"type": "text", "content": text if isinstance(text, str) else json.dumps(text)}


def extract(
    attrs: Mapping[str, Any], provider: str | None, operation: str | None, model: str | None
) -> Doc | None:
    """The call's content document, or None when the span carries no content."""
    if any(key in attrs for key in SEMCONV_KEYS):
        doc = _semconv(attrs)
    elif any(key.startswith(FLAT_PREFIXES) for key in attrs):
        doc = _flattened(attrs)
    else:
        return None
    params = {
        name: _json(attrs[key]) if key == sc.TT_TOOL_CHOICE else attrs[key]
        for key, name in PARAMS.items()
        if key in attrs
    }
    params.update(_invocation_parameters(attrs))
    return document(doc, provider, operation, model, params)


def document(
    body: Doc, provider: str | None, operation: str | None, model: str | None, params: Doc | None = None
) -> Doc:
    """A whole document: the call's head, then `body` (system, messages, tools, output)."""
    head = {"version": VERSION, "provider": provider, "operation": operation, "model": model}
    return head | {"params": params or {}} | body


def prompt_ref(attrs: Mapping[str, Any], name: str, version: str | None, content_id: str | None) -> Doc:
    """The prompt version a call was labelled with, and its recorded variables when there are any."""
    ref: Doc = {"name": name, "version": version, "content_id": content_id}
    variables = _json(attrs.get(VARIABLES))
    if isinstance(variables, dict):
        ref["variables"] = variables
    return ref


def _semconv(attrs: Mapping[str, Any]) -> Doc:
    return {
        "system": _list(attrs.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS)),
        "messages": _list(attrs.get(sc.GEN_AI_INPUT_MESSAGES)) or [],
        "tools": _list(attrs.get(sc.GEN_AI_TOOL_DEFINITIONS)),
        "output": _list(attrs.get(sc.GEN_AI_OUTPUT_MESSAGES)) or [],
    }


def _invocation_parameters(attrs: Mapping[str, Any]) -> dict[str, Any]:
    raw = _json(attrs.get("llm.invocation_parameters"))
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if k not in ("model", "messages", "tools", "input")}


# --- flattened conventions --------------------------------------------------------------------------------


def indexed(attrs: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """``prefix.0.a.b = v`` ... → ``[{"a.b": v}, ...]`` in index order."""
    groups: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix) :].partition(".")
        if index.isdigit() and rest:
            groups.setdefault(int(index), {})[rest] = value
    return [groups[i] for i in sorted(groups)]


def _flattened(attrs: Mapping[str, Any]) -> Doc:
    if any(key.startswith("llm.input_messages.") or key.startswith("llm.output_messages.") for key in attrs):
        messages = [_oi_message(m) for m in indexed(attrs, "llm.input_messages.")]
        output = [_oi_message(m) for m in indexed(attrs, "llm.output_messages.")]
        tools = [_json(t.get("tool.json_schema")) for t in indexed(attrs, "llm.tools.")]
    else:
        messages = [_oll_message(m) for m in indexed(attrs, "gen_ai.prompt.")]
        output = [_oll_message(m) for m in indexed(attrs, "gen_ai.completion.")]
        tools = [_oll_tool(t) for t in indexed(attrs, "llm.request.functions.")]
    return {"system": None, "messages": messages, "tools": tools or None, "output": output}


def _tool_calls(flat: Mapping[str, Any], prefix: str, name: str, arguments: str, ident: str) -> list[Doc]:
    return [
        {"type": "tool_call", "id": c.get(ident), "name": c.get(name), "arguments": _json(c.get(arguments))}
        for c in indexed(flat, prefix)
    ]


def _message(role: Any, texts: list[Any], calls: list[Doc], extra: Mapping[str, Any]) -> Doc:
    message: Doc = {"role": role or "user", "parts": [text_part(t) for t in texts if t is not None] + calls}
    if extra.get("tool_call_id") and message["role"] == "tool":
        parts = message["parts"]
        message["parts"] = [
            {"type": "tool_call_response", "id": extra["tool_call_id"], "response": p["content"]}
            for p in parts
            if p["type"] == "text"
        ]
    if extra.get("finish_reason"):
        message["finish_reason"] = extra["finish_reason"]
    return message


def _oll_message(flat: Mapping[str, Any]) -> Doc:
    calls = _tool_calls(flat, "tool_calls.", "name", "arguments", "id")
    return _message(flat.get("role"), [flat.get("content")], calls, flat)


def _oll_tool(flat: Mapping[str, Any]) -> Doc:
    return {
        "name": flat.get("name"),
        "description": flat.get("description"),
        "parameters": _json(flat.get("parameters")),
    }


def _oi_message(flat: Mapping[str, Any]) -> Doc:
    texts = [flat.get("message.content")]
    texts += [c.get("message_content.text") for c in indexed(flat, "message.contents.")]
    calls = _tool_calls(
        flat, "message.tool_calls.", "tool_call.function.name", "tool_call.function.arguments", "tool_call.id"
    )
    extra = {"tool_call_id": flat.get("message.tool_call_id")}
    return _message(flat.get("message.role"), texts, calls, extra)
