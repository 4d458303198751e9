"""Anthropic Messages API: ``POST /v1/messages``, plain and SSE, tool use, prompt-cache usage, errors.

Usage follows Anthropic: ``input_tokens`` excludes the cache, which is reported in
``cache_creation_input_tokens`` and ``cache_read_input_tokens`` (plan input = the three summed).
``message_delta`` usage is cumulative. A content filter stops with ``stop_reason: "refusal"`` after
the text sent so far (what Claude's streaming classifiers do); a midstream failure sends an ``error``
event (``overloaded_error`` for 529, ``api_error`` for 500, ...) which the anthropic SDK raises.

The builders here are shared with Bedrock's InvokeModel for Claude, which speaks the same format.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokentrail.simulator import text
from tokentrail.simulator.exchange import (
    Endpoint,
    ErrorReply,
    Event,
    Exchange,
    InvalidRequest,
    serve,
    sse_named,
)
from tokentrail.simulator.plan import Ask, Plan, Tool

PROVIDER = "anthropic"
STOP = {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use", "content_filter": "refusal"}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def anthropic_error(status: int, message: str) -> ErrorReply:
    return ErrorReply(status, error_body(status, message))


def parse(body: dict[str, Any], model: str | None) -> Ask:
    """Messages request → Ask. `model` comes from the URL on Bedrock, from the body on Anthropic."""
    model = model or body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: Field required")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise InvalidRequest("messages: must be a non-empty array")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise InvalidRequest("max_tokens: Field required (an integer >= 1)")
    tools = tuple(
        Tool(str(tool.get("name", "tool")), tool.get("input_schema"))
        for tool in body.get("tools") or []
        if isinstance(tool, dict)
    )
    return Ask(
        model=model,
        text=text.prompt_text(body.get("system"), body["messages"], body.get("tools")),
        max_tokens=max_tokens,
        tools=tools,
        stream=bool(body.get("stream")),
        cache_marked=text.has_cache_marker(body),
    )


def usage(plan: Plan, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": plan.uncached_input_tokens,
        "cache_creation_input_tokens": plan.cache_write_tokens,
        "cache_read_input_tokens": plan.cache_read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": plan.cache_write_tokens,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def message(
    ex: Exchange, content: list[dict[str, Any]], stop: str | None, use: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": ex.make_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": ex.ask.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": use,
    }


def _block(ex: Exchange, done: bool) -> dict[str, Any]:
    tool = ex.plan.tool
    if tool is None:
        return {"type": "text", "text": ex.plan.content if done else ""}
    arguments = json.loads(tool.arguments) if done else {}
    return {"type": "tool_use", "id": "toolu_" + tool.id_suffix, "name": tool.name, "input": arguments}


def plain(ex: Exchange) -> dict[str, Any]:
    return message(ex, [_block(ex, done=True)], STOP[ex.plan.finish], usage(ex.plan, ex.plan.output_tokens))


def stream_events(ex: Exchange, ping: bool = True) -> list[Event]:
    """The Messages stream as events whose data carry their ``type``."""
    plan, last = ex.plan, max(ex.plan.chunks - 1, 0)
    events = [
        Event(0, "message_start", {"message": message(ex, [], None, usage(plan, 1))}),
        Event(0, "content_block_start", {"index": 0, "content_block": _block(ex, done=False)}),
        *([Event(0, "ping", {})] if ping else []),
    ]
    kind, field = ("input_json_delta", "partial_json") if plan.tool else ("text_delta", "text")
    for i, piece in enumerate(plan.pieces):
        events.append(Event(i, "content_block_delta", {"index": 0, "delta": {"type": kind, field: piece}}))
    if plan.failure is not None and plan.failure.mode == "midstream":
        events.append(Event(last, "error", error_body(plan.failure.status, "stream interrupted (simulated)")))
    else:
        final_usage = {k: v for k, v in usage(plan, plan.output_tokens).items() if k != "service_tier"}
        delta = {"stop_reason": STOP[plan.finish], "stop_sequence": None}
        events += [
            Event(last, "content_block_stop", {"index": 0}),
            Event(last, "message_delta", {"delta": delta, "usage": final_usage}),
            Event(last, "message_stop", {}),
        ]
    return [Event(e.at, e.name, {"type": e.name, **e.data}) for e in events]


MESSAGES = Endpoint(
    PROVIDER, parse, plain, stream_events, sse_named, anthropic_error, request_id_header="request-id"
)

router = APIRouter()


@router.post("/v1/messages")
async def messages(request: Request) -> Response:
    return await serve(request, MESSAGES)
