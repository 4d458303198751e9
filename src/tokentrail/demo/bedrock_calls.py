"""Bedrock through boto3: Converse and ConverseStream, and InvokeModel(WithResponseStream) with each model
family's native body (Amazon Nova, Anthropic Claude). Usage is read as Bedrock reports it (input excludes
the cache there) and normalised for the ledger; a stream's invoke usage comes from the
``amazon-bedrock-invocationMetrics`` of its last chunk."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tokentrail.demo.calls import Reply, ToolCall, _finish
from tokentrail.demo.ledger import Entry
from tokentrail.demo.providers import Directive, Providers

PROVIDER = "aws.bedrock"
ANTHROPIC_VERSION = "bedrock-2023-05-31"


# How each response shape names (uncached input, output, cache read, cache write).
USAGE_KEYS = {
    "converse": ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens"),
    "metrics": (
        "inputTokenCount",
        "outputTokenCount",
        "cacheReadInputTokenCount",
        "cacheWriteInputTokenCount",
    ),
    "nova": ("inputTokens", "outputTokens", "cacheReadInputTokenCount", "cacheWriteInputTokenCount"),
    "claude": ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"),
}


def _usage(entry: Entry, usage: Mapping[str, Any], shape: str) -> None:
    uncached, output, read, write = (usage.get(key) or 0 for key in USAGE_KEYS[shape])
    entry.input_tokens = uncached + read + write
    entry.output_tokens = output
    entry.cache_read_tokens, entry.cache_write_tokens = read, write


def converse(
    p: Providers,
    model: str,
    text: str,
    *,
    system: str | None = None,
    stream: bool = False,
    max_tokens: int = 1024,
    directive: Directive | None = None,
) -> Reply:
    args: dict[str, Any] = {
        "modelId": model,
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"maxTokens": max_tokens},
    }
    if system:
        args["system"] = [{"text": system}]
    with p.call(PROVIDER, model, "converse", stream, directive) as entry:
        if not stream:
            resp = p.bedrock.converse(**args)
            _usage(entry, resp["usage"], "converse")
            blocks = resp["output"]["message"]["content"]
            reply = Reply("".join(b.get("text", "") for b in blocks), stop=resp["stopReason"])
            return _finish(entry, reply)
        reply = Reply()
        for event in p.bedrock.converse_stream(**args)["stream"]:
            _converse_event(entry, reply, event)
        return _finish(entry, reply)


def _converse_event(entry: Entry, reply: Reply, event: Mapping[str, Any]) -> None:
    if "contentBlockDelta" in event:
        reply.text += event["contentBlockDelta"]["delta"].get("text", "")
    elif "contentBlockStart" in event:
        tool = event["contentBlockStart"]["start"].get("toolUse")
        if tool:
            reply.tool_calls.append(ToolCall(tool["toolUseId"], tool["name"], ""))
    elif "messageStop" in event:
        reply.stop = event["messageStop"]["stopReason"]
    elif "metadata" in event:
        _usage(entry, event["metadata"]["usage"], "converse")


def nova_body(text: str, system: str | None, max_tokens: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"max_new_tokens": max_tokens},
    }
    if system:
        body["system"] = [{"text": system}]
    return body


def claude_body(text: str, system: str | None, max_tokens: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "anthropic_version": ANTHROPIC_VERSION,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
    }
    if system:
        body["system"] = system
    return body


def invoke(
    p: Providers,
    model: str,
    text: str,
    *,
    system: str | None = None,
    stream: bool = False,
    max_tokens: int = 1024,
    directive: Directive | None = None,
) -> Reply:
    """InvokeModel with the native body of the model's family (Claude or Nova)."""
    claude = "anthropic." in model
    body = (claude_body if claude else nova_body)(text, system, max_tokens)
    with p.call(PROVIDER, model, "invoke", stream, directive) as entry:
        if not stream:
            resp = p.bedrock.invoke_model(modelId=model, body=json.dumps(body))
            data = json.loads(resp["body"].read())
            return _finish(entry, _claude_plain(entry, data) if claude else _nova_plain(entry, data))
        resp = p.bedrock.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
        reply = Reply()
        for event in resp["body"]:
            chunk = json.loads(event["chunk"]["bytes"])
            _invoke_chunk(reply, chunk)
            metrics = chunk.get("amazon-bedrock-invocationMetrics")
            if metrics:
                _usage(entry, metrics, "metrics")
        return _finish(entry, reply)


def _claude_plain(entry: Entry, data: Mapping[str, Any]) -> Reply:
    _usage(entry, data.get("usage") or {}, "claude")
    text = "".join(block.get("text", "") for block in data.get("content") or ())
    return Reply(text, stop=data.get("stop_reason"))


def _nova_plain(entry: Entry, data: Mapping[str, Any]) -> Reply:
    _usage(entry, data.get("usage") or {}, "nova")
    blocks = data["output"]["message"]["content"]
    return Reply("".join(b.get("text", "") for b in blocks), stop=data.get("stopReason"))


def _invoke_chunk(reply: Reply, chunk: Mapping[str, Any]) -> None:
    """Text and stop reason from a Claude (``content_block_delta``) or Nova (``contentBlockDelta``) chunk."""
    if chunk.get("type") == "content_block_delta":
        reply.text += chunk["delta"].get("text", "")
    elif chunk.get("type") == "message_delta":
        reply.stop = chunk["delta"].get("stop_reason")
    elif "contentBlockDelta" in chunk:
        reply.text += chunk["contentBlockDelta"]["delta"].get("text", "")
    elif "messageStop" in chunk:
        reply.stop = chunk["messageStop"].get("stopReason")
