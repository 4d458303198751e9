"""Bedrock runtime: the error shape, event-stream encoders, and Converse / ConverseStream.

Errors carry ``x-amzn-ErrorType: <Code>:...`` and ``x-amzn-RequestId``, which botocore's rest-json parser
turns into a ``ClientError`` with that code. Midstream failures are event-stream ``exception`` messages
(``throttlingException``, ``internalServerException``, ...), raised by botocore as ``EventStreamError``.

Usage follows Bedrock: ``inputTokens`` excludes the cache (``cacheReadInputTokens`` /
``cacheWriteInputTokens``); ``totalTokens`` is everything. A content filter ends the output with
``stopReason: "content_filtered"``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

from tokentrail.simulator import eventstream, text
from tokentrail.simulator.exchange import Endpoint, ErrorReply, Event, Exchange, InvalidRequest
from tokentrail.simulator.plan import Ask, Plan, Tool

PROVIDER = "aws.bedrock"
STOP = {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use", "content_filter": "content_filtered"}
_ERROR_CODES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
    529: "ServiceUnavailableException",
}
_STREAM_EXCEPTIONS = {
    400: "validationException",
    408: "modelTimeoutException",
    429: "throttlingException",
    500: "internalServerException",
    503: "serviceUnavailableException",
    529: "serviceUnavailableException",
}


def bedrock_error(status: int, message: str) -> ErrorReply:
    code = _ERROR_CODES.get(status, "InternalServerException" if status >= 500 else "ValidationException")
    status = 503 if status == 529 else status
    headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    return ErrorReply(status, {"message": message}, headers)


def stream_exception(at: int, status: int, converse: bool) -> Event:
    name = _STREAM_EXCEPTIONS.get(status, "modelStreamErrorException")
    if converse and name == "modelTimeoutException":  # not a member of ConverseStreamOutput
        name = "modelStreamErrorException"
    return Event(at, name, {"message": "stream interrupted (simulated)"}, exception=True)


def encode_event(event: Event) -> bytes:
    """Converse-stream framing: the event's data is the message payload."""
    if event.exception:
        return eventstream.exception(event.name, str(event.data["message"]))
    return eventstream.event(event.name, event.data)


def encode_chunk(event: Event) -> bytes:
    """InvokeModelWithResponseStream framing: the event's data, base64 JSON inside a ``chunk``."""
    if event.exception:
        return eventstream.exception(event.name, str(event.data["message"]))
    raw = json.dumps(event.data, separators=(",", ":")).encode()
    return eventstream.event("chunk", {"bytes": base64.b64encode(raw).decode()})


def converse_tools(body: dict[str, Any]) -> tuple[Tool, ...]:
    config = body.get("toolConfig") or {}
    specs = [tool.get("toolSpec") for tool in config.get("tools") or [] if isinstance(tool, dict)]
    return tuple(
        Tool(str(spec.get("name", "tool")), (spec.get("inputSchema") or {}).get("json"))
        for spec in specs
        if isinstance(spec, dict)
    )


def parse_messages(body: dict[str, Any], model: str | None, max_keys: tuple[str, ...]) -> Ask:
    """Converse and Nova share the message shape; they name the max-tokens field differently."""
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise InvalidRequest("messages: must be a non-empty list")
    config = body.get("inferenceConfig") or {}
    max_tokens = next((config[k] for k in max_keys if isinstance(config.get(k), int)), None)
    return Ask(
        model=model or "",
        text=text.prompt_text(body.get("system"), body["messages"], body.get("toolConfig")),
        max_tokens=max_tokens,
        tools=converse_tools(body),
        cache_marked=text.has_cache_marker(body),
    )


def usage(plan: Plan) -> dict[str, int]:
    return {
        "inputTokens": plan.uncached_input_tokens,
        "outputTokens": plan.output_tokens,
        "totalTokens": plan.input_tokens + plan.output_tokens,
        "cacheReadInputTokens": plan.cache_read_tokens,
        "cacheWriteInputTokens": plan.cache_write_tokens,
    }


def content_block(ex: Exchange) -> dict[str, Any]:
    tool = ex.plan.tool
    if tool is None:
        return {"text": ex.plan.content}
    return {
        "toolUse": {
            "toolUseId": "tooluse_" + tool.id_suffix,
            "name": tool.name,
            "input": json.loads(tool.arguments),
        }
    }


def _converse_plain(ex: Exchange) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [content_block(ex)]}},
        "stopReason": STOP[ex.plan.finish],
        "usage": usage(ex.plan),
        "metrics": {"latencyMs": round(ex.plan.total_ms)},
    }


def message_events(ex: Exchange, final_usage: dict[str, Any], converse: bool) -> list[Event]:
    """messageStart … metadata, as Converse streams them (Nova's invoke stream reuses them)."""
    plan, last = ex.plan, max(ex.plan.chunks - 1, 0)
    events = [Event(0, "messageStart", {"role": "assistant"})]
    if plan.tool is not None:
        start = {"toolUse": {"toolUseId": "tooluse_" + plan.tool.id_suffix, "name": plan.tool.name}}
        events.append(Event(0, "contentBlockStart", {"contentBlockIndex": 0, "start": start}))
    for i, piece in enumerate(plan.pieces):
        delta = {"toolUse": {"input": piece}} if plan.tool is not None else {"text": piece}
        events.append(Event(i, "contentBlockDelta", {"contentBlockIndex": 0, "delta": delta}))
    if plan.failure is not None and plan.failure.mode == "midstream":
        return [*events, stream_exception(last, plan.failure.status, converse)]
    return [
        *events,
        Event(last, "contentBlockStop", {"contentBlockIndex": 0}),
        Event(last, "messageStop", {"stopReason": STOP[plan.finish]}),
        Event(last, "metadata", final_usage),
    ]


def _converse_events(ex: Exchange) -> list[Event]:
    metadata = {"usage": usage(ex.plan), "metrics": {"latencyMs": round(ex.plan.total_ms)}}
    return message_events(ex, metadata, converse=True)


def _parse_converse(stream: bool) -> Any:
    def parse(body: dict[str, Any], model: str | None) -> Ask:
        return dataclasses.replace(parse_messages(body, model, ("maxTokens",)), stream=stream)

    return parse


def endpoint(parse: Any, plain: Any, events: Any, encode: Any, **extra: Any) -> Endpoint:
    return Endpoint(
        PROVIDER,
        parse,
        plain,
        events,
        encode,
        bedrock_error,
        media_type=eventstream.CONTENT_TYPE,
        timeout_status=408,
        request_id_header="x-amzn-RequestId",
        **extra,
    )


CONVERSE = endpoint(_parse_converse(False), _converse_plain, _converse_events, encode_event)
CONVERSE_STREAM = endpoint(_parse_converse(True), _converse_plain, _converse_events, encode_event)
