"""OpenAI Responses API: ``POST /v1/responses``, plain and streaming.

Stream order: ``response.created``, ``response.in_progress``, then per output item ``output_item.added``,
(``content_part.added``), deltas, the ``.done`` events, and last ``response.completed`` (or
``response.incomplete`` when max_output_tokens or a content filter cut the output, or ``response.failed``
for a midstream failure). Every event has ``type`` and an increasing ``sequence_number``.
"""

from __future__ import annotations

import time
from typing import Any

from tokentrail.simulator import text
from tokentrail.simulator.exchange import Event, Exchange, InvalidRequest, require_model, sse_named
from tokentrail.simulator.plan import Ask, Plan, Tool

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}

encode = sse_named


def parse(body: dict[str, Any], _: str | None) -> Ask:
    model = require_model(body)
    if not isinstance(body.get("input"), str | list) or not body["input"]:
        raise InvalidRequest("'input' must be a non-empty string or array of items")
    tools = tuple(
        Tool(str(tool.get("name", "tool")), tool.get("parameters"))
        for tool in body.get("tools") or []
        if isinstance(tool, dict) and tool.get("type") == "function"
    )
    max_tokens = body.get("max_output_tokens")
    return Ask(
        model=model,
        text=text.prompt_text(body.get("instructions"), body["input"], body.get("tools")),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        tools=tools,
        stream=bool(body.get("stream")),
    )


def usage(plan: Plan) -> dict[str, Any]:
    return {
        "input_tokens": plan.input_tokens,
        "input_tokens_details": {
            "cached_tokens": plan.cache_read_tokens,
            "cache_write_tokens": plan.cache_write_tokens,
        },
        "output_tokens": plan.output_tokens,
        "output_tokens_details": {"reasoning_tokens": plan.reasoning_tokens},
        "total_tokens": plan.input_tokens + plan.output_tokens,
    }


def plain(ex: Exchange) -> dict[str, Any]:
    return _response(ex, _final_status(ex.plan), _items(ex), usage(ex.plan))


def _final_status(plan: Plan) -> str:
    if plan.finish == "error":
        return "failed"
    return "incomplete" if plan.finish in _INCOMPLETE else "completed"


def _response(ex: Exchange, status: str, output: list[dict[str, Any]], use: Any) -> dict[str, Any]:
    reason = _INCOMPLETE.get(ex.plan.finish) if status == "incomplete" else None
    error = (
        {"code": "server_error", "message": "stream interrupted (simulated)"} if status == "failed" else None
    )
    return {
        "id": ex.make_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": ex.ask.model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": ex.body.get("tool_choice", "auto"),
        "tools": ex.body.get("tools") or [],
        "instructions": ex.body.get("instructions"),
        "max_output_tokens": ex.body.get("max_output_tokens"),
        "usage": use,
        "error": error,
        "incomplete_details": {"reason": reason} if reason else None,
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
        "metadata": ex.body.get("metadata") or {},
        "service_tier": "default",
    }


def _reasoning_item(ex: Exchange) -> dict[str, Any]:
    return {"id": ex.make_id("rs_"), "type": "reasoning", "summary": []}


def _main_item(ex: Exchange, done: bool) -> dict[str, Any]:
    status = "completed" if done else "in_progress"
    if ex.plan.tool is not None:
        return {
            "id": ex.make_id("fc_"),
            "type": "function_call",
            "status": status,
            "call_id": "call_" + ex.plan.tool.id_suffix,
            "name": ex.plan.tool.name,
            "arguments": ex.plan.tool.arguments if done else "",
        }
    content = [_text_part(ex.plan.content)] if done else []
    return {
        "id": ex.make_id("msg_"),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _text_part(value: str) -> dict[str, Any]:
    return {"type": "output_text", "text": value, "annotations": [], "logprobs": []}


def _items(ex: Exchange) -> list[dict[str, Any]]:
    reasoning = [_reasoning_item(ex)] if ex.plan.reasoning_tokens else []
    return [*reasoning, _main_item(ex, done=True)]


def events(ex: Exchange) -> list[Event]:
    plan, last = ex.plan, max(ex.plan.chunks - 1, 0)
    index = 1 if plan.reasoning_tokens else 0
    item_id = _main_item(ex, done=False)["id"]
    raw: list[tuple[int, str, dict[str, Any]]] = [
        (0, "response.created", {"response": _response(ex, "in_progress", [], None)}),
        (0, "response.in_progress", {"response": _response(ex, "in_progress", [], None)}),
    ]
    if plan.reasoning_tokens:
        item = _reasoning_item(ex)
        raw += [
            (0, f"response.output_item.{step}", {"output_index": 0, "item": item})
            for step in ("added", "done")
        ]
    raw.append((0, "response.output_item.added", {"output_index": index, "item": _main_item(ex, done=False)}))
    where = {"item_id": item_id, "output_index": index}
    raw += _tool_events(ex, where) if plan.tool is not None else _text_events(ex, where)
    if plan.finish == "error":
        raw.append((last, "response.failed", {"response": _response(ex, "failed", [], None)}))
    else:
        raw.append(
            (last, "response.output_item.done", {"output_index": index, "item": _main_item(ex, done=True)})
        )
        final = _final_status(plan)
        raw.append((last, f"response.{final}", {"response": _response(ex, final, _items(ex), usage(plan))}))
    return [
        Event(at, name, {"type": name, "sequence_number": n, **data})
        for n, (at, name, data) in enumerate(raw)
    ]


def _text_events(ex: Exchange, where: dict[str, Any]) -> list[tuple[int, str, dict[str, Any]]]:
    plan, last = ex.plan, max(ex.plan.chunks - 1, 0)
    part = {**where, "content_index": 0}
    out = [(0, "response.content_part.added", {**part, "part": _text_part("")})]
    out += [
        (i, "response.output_text.delta", {**part, "delta": p, "logprobs": []})
        for i, p in enumerate(plan.pieces)
    ]
    if plan.finish != "error":
        out.append((last, "response.output_text.done", {**part, "text": plan.content, "logprobs": []}))
        out.append((last, "response.content_part.done", {**part, "part": _text_part(plan.content)}))
    return out


def _tool_events(ex: Exchange, where: dict[str, Any]) -> list[tuple[int, str, dict[str, Any]]]:
    plan, last = ex.plan, max(ex.plan.chunks - 1, 0)
    assert plan.tool is not None
    out = [
        (i, "response.function_call_arguments.delta", {**where, "delta": p})
        for i, p in enumerate(plan.pieces)
    ]
    if plan.finish != "error":
        done = {**where, "arguments": plan.tool.arguments, "name": plan.tool.name}
        out.append((last, "response.function_call_arguments.done", done))
    return out
