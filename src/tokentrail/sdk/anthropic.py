"""Anthropic: which endpoint a request is, and what Messages responses and stream events say.

Covered: Messages (``/v1/messages``, beta included), sync and async, streamed or not, and the
``messages.stream()`` helper (it reads the same raw stream, so it is timed by the same wrapper). The patching
is shared with openai in `tokentrail.sdk.stainless`. The readers take SDK models or plain dicts alike, so
Bedrock reuses them for Anthropic-format bodies; the anthropic SDK is imported only by `target`.

Usage rule (`tokentrail.usage.normalize_usage`): Anthropic's ``input_tokens`` excludes the cache, so
input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens. In a stream, ``message_start``
carries the input side and ``message_delta`` cumulative counts; the latest value of each field wins.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from tokentrail.model import ErrorClass
from tokentrail.sdk.call import CallRecord, ProviderErrors, Request
from tokentrail.sdk.fields import as_mapping, get, str_or_none
from tokentrail.sdk.stainless import Public, Target
from tokentrail.usage import Deferred, normalize_usage

if TYPE_CHECKING:
    from tokentrail.sdk.config import Settings

PROVIDER = "anthropic"
TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def provider_of(client: Any) -> str:
    name = type(client).__name__
    if "Bedrock" in name:
        return "aws.bedrock"
    if "Vertex" in name:
        return "gcp.vertex_ai"
    return PROVIDER


def read_message(msg: Any, call: CallRecord) -> None:
    call.response_model = str_or_none(get(msg, "model"))
    call.response_id = str_or_none(get(msg, "id"))
    call.stop_reason = get(msg, "stop_reason")
    usage = get(msg, "usage")
    if usage is not None:
        call.usage = normalize_usage(PROVIDER, as_mapping(usage))
    for block in get(msg, "content") or ():
        if get(block, "type") in TOOL_BLOCKS:
            call.add_tool(get(block, "name"))


def _merge_usage(call: CallRecord, usage: Any) -> None:
    if usage is None:
        return
    raw: dict[str, Any] = call.scratch.setdefault("usage", {})
    raw.update({k: v for k, v in as_mapping(usage).items() if v is not None})
    call.usage = Deferred(PROVIDER, raw)  # a later event's usage supersedes it: normalised once, when read


def classify_event(event: Any) -> str | None:
    """A Messages stream event, on the caller's thread: a text or thinking delta's text, else None (kept)."""
    if event.type == "content_block_delta":
        delta = event.delta
        dtype = delta.type
        if dtype == "text_delta":
            text: str | None = delta.text
            return text
        if dtype == "thinking_delta":
            thinking: str | None = delta.thinking
            return thinking
    return None


def observe_event(event: Any, call: CallRecord) -> str | bool | None:
    """One kept Messages stream event (on the worker): an SDK model, or a decoded Bedrock chunk
    (`AttrDict`)."""
    kind = event.type
    if kind == "content_block_delta":
        delta = event.delta
        if delta.type in ("text_delta", "thinking_delta"):
            return classify_event(event)
        return delta.type == "input_json_delta" and bool(delta.partial_json)
    if kind == "content_block_start":
        block = event.content_block
        if block.type in TOOL_BLOCKS:
            call.add_tool(block.name)
    elif kind == "message_start":
        message = event.message
        call.response_model = str_or_none(message.model)
        call.response_id = str_or_none(message.id)
        _merge_usage(call, message.usage)
    elif kind == "message_delta":
        call.stop_reason = event.delta.stop_reason or call.stop_reason
        _merge_usage(call, event.usage)
    elif kind == "error":  # the SDK raises it; a Bedrock InvokeModel stream only delivers it as a chunk
        call.failure_code = str_or_none(event.error.type)
    return None


class AttrDict(dict[str, Any]):
    """Decoded JSON whose keys read as attributes (missing ones as None), so dict bodies share the readers.
    ``dict.get`` itself answers a missing attribute: no Python frame per read."""

    __slots__ = ()
    __getattr__ = dict.get


def describe(client: Any, options: Any, stream: bool, settings: Settings) -> Request | None:
    if options is None or options.method.lower() != "post":
        return None
    if options.url.split("?", 1)[0] != "/v1/messages":
        return None
    body = options.json_data if isinstance(options.json_data, dict) else {}
    return Request(
        provider=provider_of(client),
        operation="chat",
        model=str_or_none(body.get("model")),
        stream=stream,
        read=read_message,
        observe=observe_event,
        classify=classify_event,
        messages=body.get("messages"),
        body=body,
        content_format="anthropic",
    )


def error_info(exc: BaseException) -> tuple[int | None, str | None]:
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "type", None)
    return (status if isinstance(status, int) else None, code if isinstance(code, str) else None)


def attempt_status(result: Any) -> int | None:
    response = result[0] if isinstance(result, tuple) else result
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


@functools.cache
def target() -> Target:
    import anthropic
    import httpx2
    from anthropic._response import BaseAPIResponse
    from anthropic.resources import messages
    from anthropic.resources.beta import messages as beta

    types: dict[type, ErrorClass | None] = {
        anthropic.APITimeoutError: ErrorClass.TIMEOUT,
        anthropic.APIConnectionError: ErrorClass.CONNECTION,
        anthropic.APIStatusError: None,
        httpx2.TimeoutException: ErrorClass.TIMEOUT,
        httpx2.TransportError: ErrorClass.CONNECTION,
    }
    return Target(
        sync_client=anthropic._base_client.SyncAPIClient,
        async_client=anthropic._base_client.AsyncAPIClient,
        attempt_method="_attempt_request",
        attempt_status=attempt_status,
        describe=describe,
        errors=ProviderErrors(types, error_info),
        stream_types=(anthropic.Stream, anthropic.AsyncStream),
        raw_types=(BaseAPIResponse,),
        public=(
            Public("messages", messages.Messages, messages.AsyncMessages, ("create", "parse")),
            Public("beta.messages", beta.Messages, beta.AsyncMessages, ("create", "parse")),
        ),
    )
