"""Bedrock InvokeModel / InvokeModelWithResponseStream in each model family's native body format.

The family comes from the model id (``anthropic.``, ``amazon.nova``, ``meta.llama``, with any
inference-profile prefix such as ``us.``), else from the body's shape.

- Anthropic: Messages JSON with ``anthropic_version: bedrock-2023-05-31``; the stream is the Anthropic
  event sequence (no ``ping``), each event base64 JSON in a ``chunk``.
- Amazon Nova: ``{"messages", "system", "inferenceConfig": {"max_new_tokens"}, "toolConfig"}`` →
  ``{"output": {"message"}, "stopReason", "usage"}``; stream chunks ``messageStart``,
  ``contentBlockDelta``, ``contentBlockStop``, ``messageStop``, ``metadata``.
- Meta Llama: ``{"prompt", "max_gen_len"}`` → ``{"generation", "prompt_token_count",
  "generation_token_count", "stop_reason"}``; stream chunks carry ``generation`` pieces. A content filter
  gives ``stop_reason: "content_filtered"`` (a simulator choice; Llama has no such reason of its own).

The last chunk of every stream carries ``amazon-bedrock-invocationMetrics`` (planned latencies, ms).
Plain invocations answer with the ``X-Amzn-Bedrock-*-Token-Count`` and ``-Invocation-Latency`` headers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tokentrail.simulator import anthropic_routes
from tokentrail.simulator.bedrock_converse import (
    STOP,
    content_block,
    encode_chunk,
    endpoint,
    message_events,
    parse_messages,
    stream_exception,
)
from tokentrail.simulator.exchange import Endpoint, Event, Exchange, InvalidRequest
from tokentrail.simulator.plan import Ask, Plan

LLAMA_STOP = {"stop": "stop", "length": "length", "tool": "stop", "content_filter": "content_filtered"}


def invocation_metrics(plan: Plan, cache: bool = True) -> dict[str, int]:
    metrics = {
        "inputTokenCount": plan.uncached_input_tokens,
        "outputTokenCount": plan.output_tokens,
        "invocationLatency": round(plan.total_ms),
        "firstByteLatency": round(plan.ttft_ms),
    }
    if cache:
        metrics["cacheReadInputTokenCount"] = plan.cache_read_tokens
        metrics["cacheWriteInputTokenCount"] = plan.cache_write_tokens
    return metrics


def _headers(ex: Exchange) -> dict[str, str]:
    if ex.ask.stream:
        return {}
    plan = ex.plan
    return {
        "X-Amzn-Bedrock-Input-Token-Count": str(plan.uncached_input_tokens),
        "X-Amzn-Bedrock-Output-Token-Count": str(plan.output_tokens),
        "X-Amzn-Bedrock-Invocation-Latency": str(round(plan.total_ms)),
        "X-Amzn-Bedrock-Cache-Read-Input-Token-Count": str(plan.cache_read_tokens),
        "X-Amzn-Bedrock-Cache-Write-Input-Token-Count": str(plan.cache_write_tokens),
    }


def _with_metrics(events: list[Event], ex: Exchange, cache: bool = True) -> list[Event]:
    """Attach the invocation metrics to the last event, unless the stream ends in an exception."""
    if not events or events[-1].exception:
        return events
    last = events[-1]
    data = {**last.data, "amazon-bedrock-invocationMetrics": invocation_metrics(ex.plan, cache)}
    return [*events[:-1], dataclasses.replace(last, data=data)]


# ---- Anthropic Claude -----------------------------------------------------------------------------------
def _parse_anthropic(body: dict[str, Any], model: str | None) -> Ask:
    if body.get("anthropic_version") is None:
        raise InvalidRequest("anthropic_version: required (e.g. bedrock-2023-05-31)")
    return anthropic_routes.parse(body, model)


def _anthropic_events(ex: Exchange) -> list[Event]:
    return _with_metrics(anthropic_routes.stream_events(ex, ping=False), ex)


# ---- Amazon Nova ------------------------------------------------------------------------------------------
def _parse_nova(body: dict[str, Any], model: str | None) -> Ask:
    return parse_messages(body, model, ("max_new_tokens", "maxTokens"))


def _nova_usage(plan: Plan) -> dict[str, int]:
    return {
        "inputTokens": plan.uncached_input_tokens,
        "outputTokens": plan.output_tokens,
        "totalTokens": plan.input_tokens + plan.output_tokens,
        "cacheReadInputTokenCount": plan.cache_read_tokens,
        "cacheWriteInputTokenCount": plan.cache_write_tokens,
    }


def _nova_plain(ex: Exchange) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [content_block(ex)]}},
        "stopReason": STOP[ex.plan.finish],
        "usage": _nova_usage(ex.plan),
    }


def _nova_events(ex: Exchange) -> list[Event]:
    metadata = {"usage": _nova_usage(ex.plan), "metrics": {}, "trace": {}}
    events = message_events(ex, metadata, converse=False)
    wrapped = [e if e.exception else Event(e.at, e.name, {e.name: e.data}) for e in events]
    return _with_metrics(wrapped, ex)


# ---- Meta Llama -------------------------------------------------------------------------------------------
def _parse_llama(body: dict[str, Any], model: str | None) -> Ask:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequest("prompt: required string")
    max_tokens = body.get("max_gen_len")
    return Ask(model or "", prompt, max_tokens if isinstance(max_tokens, int) else None)


def _llama_plain(ex: Exchange) -> dict[str, Any]:
    plan = ex.plan
    return {
        "generation": plan.content,
        "prompt_token_count": plan.input_tokens,
        "generation_token_count": plan.output_tokens,
        "stop_reason": LLAMA_STOP[plan.finish],
    }


def _llama_events(ex: Exchange) -> list[Event]:
    plan, sent, events = ex.plan, 0, []
    for i, piece in enumerate(plan.pieces):
        sent = (
            plan.output_tokens if i == plan.chunks - 1 else sent + max(1, plan.output_tokens // plan.chunks)
        )
        first = plan.input_tokens if i == 0 else None
        data = {
            "generation": piece,
            "prompt_token_count": first,
            "generation_token_count": sent,
            "stop_reason": None,
        }
        events.append(Event(i, "chunk", data))
    last = max(plan.chunks - 1, 0)
    if plan.failure is not None and plan.failure.mode == "midstream":
        return [*events, stream_exception(last, plan.failure.status, converse=False)]
    final = {
        "generation": "",
        "prompt_token_count": None,
        "generation_token_count": plan.output_tokens,
        "stop_reason": LLAMA_STOP[plan.finish],
    }
    return _with_metrics([*events, Event(last, "chunk", final)], ex, cache=False)


# ---- dispatch -------------------------------------------------------------------------------------------
def _streaming(parse: Callable[[dict[str, Any], str | None], Ask], stream: bool) -> Any:
    return lambda body, model: dataclasses.replace(parse(body, model), stream=stream)


def _unknown(body: dict[str, Any], model: str | None) -> Ask:
    raise InvalidRequest(f"The provided model identifier is not supported by the simulator: {model}")


_FAMILIES: dict[str, tuple[Any, Any, Any]] = {
    "anthropic": (_parse_anthropic, anthropic_routes.plain, _anthropic_events),
    "nova": (_parse_nova, _nova_plain, _nova_events),
    "llama": (_parse_llama, _llama_plain, _llama_events),
    "unknown": (_unknown, _llama_plain, _llama_events),
}

INVOKE: dict[tuple[str, bool], Endpoint] = {
    (family, stream): endpoint(
        _streaming(parse, stream),
        plain,
        events,
        encode_chunk,
        extra_headers=_headers,
        stream_headers={"X-Amzn-Bedrock-Content-Type": "application/json"},
    )
    for family, (parse, plain, events) in _FAMILIES.items()
    for stream in (False, True)
}


def family(model_id: str, body: Any) -> str:
    """anthropic | nova | llama | unknown, from the model id, else from the body's keys."""
    name = model_id.lower()
    for marker, found in (("anthropic.", "anthropic"), ("amazon.nova", "nova"), ("meta.llama", "llama")):
        if marker in name:
            return found
    if isinstance(body, dict):
        if "anthropic_version" in body:
            return "anthropic"
        if "prompt" in body:
            return "llama"
        if "messages" in body:
            return "nova"
    return "unknown"
