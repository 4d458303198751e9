"""OpenAI: Chat Completions (plain and SSE, tool calls, include_usage), Embeddings, and the error shape.

The Responses API lives in `openai_responses`. Content filtering ends a chat completion with
``finish_reason: "content_filter"`` after the content sent so far; a midstream failure sends
``data: {"error": {...}}`` and closes the stream without ``[DONE]``, which the openai SDK raises as an
``APIError``.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokentrail.simulator import openai_responses, text
from tokentrail.simulator.exchange import (
    Endpoint,
    ErrorReply,
    Event,
    Exchange,
    InvalidRequest,
    require_model,
    serve,
    sse_data,
)
from tokentrail.simulator.plan import Ask, Plan, Tool

PROVIDER = "openai"
FINISH = {"stop": "stop", "length": "length", "tool": "tool_calls", "content_filter": "content_filter"}
_ERROR_KINDS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", "timeout"),
    429: ("requests", "rate_limit_exceeded"),
    504: ("timeout", "timeout"),
}


def openai_error(status: int, message: str) -> ErrorReply:
    kind, code = _ERROR_KINDS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return ErrorReply(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


def _parse_chat(body: dict[str, Any], _: str | None) -> Ask:
    model = require_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array")
    tools = tuple(
        Tool(str(tool["function"].get("name", "tool")), tool["function"].get("parameters"))
        for tool in body.get("tools") or []
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
    )
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    return Ask(
        model=model,
        text=text.prompt_text(messages, body.get("tools")),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        tools=tools,
        stream=bool(body.get("stream")),
    )


def chat_usage(plan: Plan) -> dict[str, Any]:
    prompt_details: dict[str, int] = {"cached_tokens": plan.cache_read_tokens, "audio_tokens": 0}
    if plan.cache_write_tokens:
        prompt_details["cache_write_tokens"] = plan.cache_write_tokens
    return {
        "prompt_tokens": plan.input_tokens,
        "completion_tokens": plan.output_tokens,
        "total_tokens": plan.input_tokens + plan.output_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {
            "reasoning_tokens": plan.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_call(ex: Exchange, arguments: str) -> dict[str, Any]:
    assert ex.plan.tool is not None
    call_id = "call_" + ex.plan.tool.id_suffix
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": ex.plan.tool.name, "arguments": arguments},
    }


def _chat_plain(ex: Exchange) -> dict[str, Any]:
    plan = ex.plan
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    if plan.tool is not None:
        message["tool_calls"] = [_tool_call(ex, plan.tool.arguments)]
    else:
        message["content"] = plan.content
    choice = {"index": 0, "message": message, "finish_reason": FINISH[plan.finish], "logprobs": None}
    return {**_chat_head(ex, "chat.completion"), "choices": [choice], "usage": chat_usage(plan)}


def _chat_head(ex: Exchange, kind: str) -> dict[str, Any]:
    return {
        "id": ex.make_id("chatcmpl-"),
        "object": kind,
        "created": int(time.time()),
        "model": ex.ask.model,
        "system_fingerprint": "fp_tokentrail_sim",
        "service_tier": "default",
    }


def _chat_events(ex: Exchange) -> list[Event]:
    plan, head = ex.plan, _chat_head(ex, "chat.completion.chunk")
    with_usage = bool((ex.body.get("stream_options") or {}).get("include_usage"))

    def chunk(at: int, delta: dict[str, Any], finish: str | None = None) -> Event:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return Event(at, "chunk", {**head, "choices": [choice], **({"usage": None} if with_usage else {})})

    first: dict[str, Any]
    if plan.tool is not None:
        first = {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **_tool_call(ex, "")}]}
        deltas: list[dict[str, Any]] = [
            {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]} for piece in plan.pieces
        ]
    else:
        first = {"role": "assistant", "content": "", "refusal": None}
        deltas = [{"content": piece} for piece in plan.pieces]
    events = [chunk(0, first), *(chunk(i, delta) for i, delta in enumerate(deltas))]
    last = max(plan.chunks - 1, 0)
    if plan.failure is not None and plan.failure.mode == "midstream":
        return [*events, Event(last, "error", openai_error(plan.failure.status, "stream interrupted").body)]
    events.append(chunk(last, {}, FINISH[plan.finish]))
    if with_usage:
        events.append(Event(last, "usage", {**head, "choices": [], "usage": chat_usage(plan)}))
    return [*events, Event(last, "done", "[DONE]")]


def _parse_embeddings(body: dict[str, Any], _: str | None) -> Ask:
    model = require_model(body)
    inputs = _embedding_inputs(body.get("input"))
    tokens = sum(len(item) if isinstance(item, list) else text.count_tokens(item) for item in inputs)
    return Ask(model=model, text=text.prompt_text(inputs), generates=False, input_tokens=tokens)


def _embedding_inputs(raw: Any) -> list[str | list[int]]:
    if isinstance(raw, str) and raw:
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(item, int) for item in raw):
        return [list(raw)]
    if isinstance(raw, list) and raw and all(isinstance(item, str | list) and item for item in raw):
        return list(raw)
    raise InvalidRequest("'input' must be a non-empty string, array of strings, or array of token arrays")


def _embeddings_plain(ex: Exchange) -> dict[str, Any]:
    inputs = _embedding_inputs(ex.body.get("input"))
    dimensions = ex.body.get("dimensions") or ex.settings.embedding_dimensions
    as_base64 = ex.body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        vector = text.embedding(str(item), int(dimensions), ex.seed)
        value: Any = base64.b64encode(text.float32_bytes(vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = ex.plan.input_tokens
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": ex.ask.model, "usage": usage}


def _no_events(ex: Exchange) -> list[Event]:
    raise InvalidRequest("embeddings do not stream")


CHAT = Endpoint(PROVIDER, _parse_chat, _chat_plain, _chat_events, sse_data, openai_error)
EMBEDDINGS = Endpoint(PROVIDER, _parse_embeddings, _embeddings_plain, _no_events, sse_data, openai_error)
RESPONSES = Endpoint(
    PROVIDER,
    openai_responses.parse,
    openai_responses.plain,
    openai_responses.events,
    openai_responses.encode,
    openai_error,
)

router = APIRouter()


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    return await serve(request, CHAT)


@router.post("/v1/responses")
async def responses(request: Request) -> Response:
    return await serve(request, RESPONSES)


@router.post("/v1/embeddings")
async def embeddings(request: Request) -> Response:
    return await serve(request, EMBEDDINGS)
