"""Rebuild a provider request from a sample's content document, send it through the provider's official
client, and read the answer's text. Placeholders such as ``<EMAIL_1>`` are sent as they are."""

from __future__ import annotations

import json
from typing import Any

Doc = dict[str, Any]
PROVIDERS = ("openai", "anthropic", "aws.bedrock")
DEFAULT_MAX_TOKENS = 1024  # Anthropic and Bedrock need a limit when the original call named none


def part_text(part: Doc) -> str:
    if part.get("type") == "text":
        return str(part.get("content", ""))
    if part.get("type") == "tool_call_response":
        response = part.get("response")
        return response if isinstance(response, str) else json.dumps(response)
    return ""


def message_text(message: Doc) -> str:
    return "".join(part_text(p) for p in message.get("parts", []))


def system_text(doc: Doc) -> str | None:
    parts = doc.get("system") or []
    return "".join(part_text(p) for p in parts) or None


def output_text(doc: Doc) -> str:
    return "\n".join(message_text(m) for m in doc.get("output") or [])


def turns(doc: Doc) -> list[tuple[str, str]]:
    """(user|assistant, text) turns; system messages go to `system_text`, tool results become user text."""
    out = []
    for message in doc.get("messages", []):
        role = message.get("role")
        if role == "system":
            continue
        out.append(("assistant" if role == "assistant" else "user", message_text(message)))
    return out


def openai_call(client: Any, doc: Doc, model: str) -> str:
    params = doc.get("params") or {}
    messages = [{"role": "system", "content": system_text(doc)}] if system_text(doc) else []
    messages += [{"role": r, "content": t} for r, t in turns(doc)]
    kwargs = {k: params[k] for k in ("temperature", "top_p", "max_tokens", "seed") if k in params}
    if "stop_sequences" in params:
        kwargs["stop"] = params["stop_sequences"]
    response = client.chat.completions.create(model=model, messages=messages, **kwargs)
    return str(response.choices[0].message.content or "")


def anthropic_call(client: Any, doc: Doc, model: str) -> str:
    params = doc.get("params") or {}
    kwargs = {k: params[k] for k in ("temperature", "top_p", "top_k", "stop_sequences") if k in params}
    if system_text(doc):
        kwargs["system"] = system_text(doc)
    messages = [{"role": r, "content": t} for r, t in turns(doc)]
    max_tokens = params.get("max_tokens") or DEFAULT_MAX_TOKENS
    response = client.messages.create(model=model, max_tokens=max_tokens, messages=messages, **kwargs)
    return "".join(getattr(block, "text", "") for block in response.content)


def bedrock_call(client: Any, doc: Doc, model: str) -> str:
    params = doc.get("params") or {}
    names = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP"}
    config = {names[k]: params[k] for k in names if params.get(k) is not None}
    config.setdefault("maxTokens", DEFAULT_MAX_TOKENS)
    if "stop_sequences" in params:
        config["stopSequences"] = params["stop_sequences"]
    kwargs: dict[str, Any] = {"inferenceConfig": config}
    if system_text(doc):
        kwargs["system"] = [{"text": system_text(doc)}]
    messages = [{"role": r, "content": [{"text": t}]} for r, t in turns(doc)]
    response = client.converse(modelId=model, messages=messages, **kwargs)
    return "".join(c.get("text", "") for c in response["output"]["message"]["content"])


SENDERS = {"openai": openai_call, "anthropic": anthropic_call, "aws.bedrock": bedrock_call}


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
