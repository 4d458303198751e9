"""Each provider's request (the keyword arguments of its official client's call) built from a content
document, the call itself, and the answer as compared (its text and the names of the tools it called)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tokentrail.replay.requests import (
    DEFAULT_MAX_TOKENS,
    Doc,
    arguments,
    choice,
    message_text,
    parts_of,
    pick_params,
    split_system,
    tool_specs,
)

# --- OpenAI Chat Completions ------------------------------------------------------------------------------

OPENAI_PARAMS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "stop_sequences": "stop",
}


def openai_messages(message: Doc) -> list[Doc]:
    role = message.get("role") or "user"
    if role == "tool":
        return [
            {"role": "tool", "tool_call_id": p.get("id") or "", "content": message_text({"parts": [p]})}
            for p in parts_of(message, "tool_call_response")
        ]
    calls = [
        {
            "id": p.get("id") or f"call_{n}",
            "type": "function",
            "function": {"name": p.get("name"), "arguments": json.dumps(arguments(p))},
        }
        for n, p in enumerate(parts_of(message, "tool_call"))
    ]
    out: Doc = {"role": role, "content": message_text(message) or (None if calls else "")}
    if calls:
        out["tool_calls"] = calls
    return [out]


def openai_choice(value: Any) -> Any:
    return {"type": "function", "function": value} if isinstance(value, dict) else value


def openai_request(doc: Doc) -> Doc:
    system = [{"role": "system", "content": "".join(p.get("content", "") for p in doc.get("system") or [])}]
    messages = system if doc.get("system") else []
    messages += [m for message in doc.get("messages") or [] for m in openai_messages(message)]
    request: Doc = {"messages": messages, **pick_params(doc, OPENAI_PARAMS)}
    tools = tool_specs(doc)
    if tools:
        request["tools"] = [{"type": "function", "function": t} for t in tools]
        if choice(doc) is not None:
            request["tool_choice"] = openai_choice(choice(doc))
    return request


def openai_answer(response: Any) -> str:
    message = response.choices[0].message
    names = [call.function.name for call in message.tool_calls or ()]
    return " ".join([message.content or "", *names]).strip()


# --- Anthropic Messages -----------------------------------------------------------------------------------

ANTHROPIC_PARAMS = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k"}
ANTHROPIC_PARAMS |= {"stop_sequences": "stop_sequences", "max_tokens": "max_tokens"}


def anthropic_block(part: Doc, n: int) -> Doc | None:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part.get("content", "")}
    if kind == "tool_call":
        return {
            "type": "tool_use",
            "id": part.get("id") or f"toolu_{n}",
            "name": part.get("name"),
            "input": arguments(part),
        }
    if kind == "tool_call_response":
        text = message_text({"parts": [part]})
        return {"type": "tool_result", "tool_use_id": part.get("id") or "", "content": text}
    return None


def merged(messages: list[Doc], block: Callable[[Doc, int], Any]) -> list[Doc]:
    """Messages as alternating user and assistant turns (tool results are the user's), empty ones dropped."""
    out: list[Doc] = []
    for message in messages:
        role = "assistant" if message.get("role") == "assistant" else "user"
        blocks = [b for n, p in enumerate(message.get("parts") or []) if (b := block(p, n)) is not None]
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"] += blocks
        else:
            out.append({"role": role, "content": blocks})
    return out


def anthropic_choice(value: Any) -> Doc:
    if isinstance(value, dict):
        return {"type": "tool", "name": value["name"]}
    return {"type": "any" if value == "required" else value}


def anthropic_request(doc: Doc) -> Doc:
    system, messages = split_system(doc)
    request: Doc = {"messages": merged(messages, anthropic_block), **pick_params(doc, ANTHROPIC_PARAMS)}
    request.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    if system:
        request["system"] = system
    tools = tool_specs(doc)
    if tools:
        schema = {"type": "object"}
        request["tools"] = [
            {k: v for k, v in t.items() if k != "parameters"}
            | {"input_schema": t.get("parameters") or schema}
            for t in tools
        ]
        if choice(doc) is not None:
            request["tool_choice"] = anthropic_choice(choice(doc))
    return request


def anthropic_answer(response: Any) -> str:
    return " ".join(str(getattr(b, "text", None) or getattr(b, "name", "")) for b in response.content).strip()


# --- Bedrock Converse -------------------------------------------------------------------------------------

BEDROCK_PARAMS = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP"}
BEDROCK_PARAMS |= {"stop_sequences": "stopSequences"}


def converse_block(part: Doc, n: int) -> Doc | None:
    kind = part.get("type")
    if kind == "text":
        return {"text": part.get("content", "")}
    if kind == "tool_call":
        use = {"toolUseId": part.get("id") or f"tool_{n}", "name": part.get("name"), "input": arguments(part)}
        return {"toolUse": use}
    if kind == "tool_call_response":
        text = message_text({"parts": [part]})
        return {"toolResult": {"toolUseId": part.get("id") or "", "content": [{"text": text}]}}
    return None


def converse_choice(value: Any) -> Doc | None:
    if isinstance(value, dict):
        return {"tool": {"name": value["name"]}}
    return {"auto": {}, "required": {"any": {}}}.get(value)


def bedrock_request(doc: Doc) -> Doc:
    system, messages = split_system(doc)
    config = pick_params(doc, BEDROCK_PARAMS)
    config.setdefault("maxTokens", DEFAULT_MAX_TOKENS)
    request: Doc = {"messages": merged(messages, converse_block), "inferenceConfig": config}
    if system:
        request["system"] = [{"text": system}]
    tools = tool_specs(doc)
    if tools:
        specs = [
            {"name": t["name"], "description": t.get("description") or t["name"]}
            | {"inputSchema": {"json": t.get("parameters") or {"type": "object"}}}
            for t in tools
        ]
        request["toolConfig"] = {"tools": [{"toolSpec": s} for s in specs]}
        if converse_choice(choice(doc)) is not None:
            request["toolConfig"]["toolChoice"] = converse_choice(choice(doc))
    return request


def bedrock_answer(response: Any) -> str:
    blocks = response["output"]["message"]["content"]
    return " ".join(b.get("text") or b.get("toolUse", {}).get("name", "") for b in blocks).strip()


# --- sending ----------------------------------------------------------------------------------------------


def send(provider: str, client: Any, doc: Doc, model: str) -> str:
    """Send the document's request to `model` through `client`; the answer as compared."""
    if provider == "openai":
        return openai_answer(client.chat.completions.create(model=model, **openai_request(doc)))
    if provider == "anthropic":
        return anthropic_answer(client.messages.create(model=model, **anthropic_request(doc)))
    return bedrock_answer(client.converse(modelId=model, **bedrock_request(doc)))


def make_client(provider: str, endpoint: str | None) -> Any:
    """The provider's official client; `endpoint` is its base URL (else the client's own settings)."""
    if provider == "openai":
        import openai

        return openai.OpenAI(base_url=endpoint) if endpoint else openai.OpenAI()
    if provider == "anthropic":
        import anthropic

        return anthropic.Anthropic(base_url=endpoint) if endpoint else anthropic.Anthropic()
    import boto3

    return boto3.client("bedrock-runtime", endpoint_url=endpoint or None)
