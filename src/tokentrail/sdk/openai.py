"""OpenAI: which endpoint a request is, and what its responses and stream chunks say (small pure readers).

Covered: Chat Completions (``/chat/completions``), Responses (``/responses``), embeddings
(``/embeddings``) and legacy completions (``/completions``), sync and async, streamed or not. The patching
itself is shared with anthropic in `tokentrail.sdk.stainless`. Imported only by ``instrument_openai``.

Usage rule (`tokentrail.usage.normalize_usage`): ``prompt_tokens`` / ``input_tokens`` already include
``cached_tokens``, and output includes ``reasoning_tokens``, so counts are copied as they are. A streamed
Chat Completion reports usage only when the request asks for it (``stream_options={"include_usage": True}``),
so tokentrail adds that to streamed requests that set no ``stream_options`` of their own (Azure's excepted:
its older API versions refuse the field), and hides what that changes from the application (`without_usage`):
it iterates exactly what it would have without tokentrail. ``configure(openai_stream_usage=False)`` (or
``TOKENTRAIL_OPENAI_STREAM_USAGE=0``) sends requests unchanged; such streams then have no token counts.

Streams: the ``classify_*`` functions run on the caller's thread for every chunk and only tell plain output
chunks from the rest; the ``observe_*`` functions read the rest on the span worker (`tokentrail.sdk.stream`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import httpx2
import openai
from openai._legacy_response import LegacyAPIResponse
from openai._response import BaseAPIResponse

from tokentrail import semconv as sc
from tokentrail.errors import error_class_of_name
from tokentrail.model import ErrorClass
from tokentrail.sdk.call import CallRecord, ProviderErrors, Request
from tokentrail.sdk.fields import as_mapping, get, str_or_none
from tokentrail.sdk.stainless import Public, Target
from tokentrail.sdk.types import Classifier, Observer, Reader
from tokentrail.usage import normalize_usage

if TYPE_CHECKING:
    from tokentrail.sdk.config import Settings

PROVIDER = "openai"


# --- responses (complete) -------------------------------------------------------------------------------


def _usage(call: CallRecord, usage: Any) -> None:
    if usage is not None:
        call.usage = normalize_usage(PROVIDER, as_mapping(usage))


def _head(obj: Any, call: CallRecord) -> None:
    call.response_model = str_or_none(get(obj, "model")) or call.response_model
    call.response_id = str_or_none(get(obj, "id")) or call.response_id


def read_chat(resp: Any, call: CallRecord) -> None:
    _head(resp, call)
    _usage(call, get(resp, "usage"))
    choices = get(resp, "choices") or ()
    if choices:
        call.stop_reason = get(choices[0], "finish_reason")
    for choice in choices:
        for tool_call in get(get(choice, "message"), "tool_calls") or ():
            call.add_tool(get(get(tool_call, "function"), "name"))


def read_completion(resp: Any, call: CallRecord) -> None:
    _head(resp, call)
    _usage(call, get(resp, "usage"))
    choices = get(resp, "choices") or ()
    if choices:
        call.stop_reason = get(choices[0], "finish_reason")


def read_embeddings(resp: Any, call: CallRecord) -> None:
    call.response_model = str_or_none(get(resp, "model"))
    _usage(call, get(resp, "usage"))


def read_response(resp: Any, call: CallRecord) -> None:
    """A Responses API ``Response`` (also the payload of ``response.completed``)."""
    _head(resp, call)
    _usage(call, get(resp, "usage"))
    incomplete = get(get(resp, "incomplete_details"), "reason")
    call.stop_reason = incomplete or get(resp, "status") or call.stop_reason
    if not call.timer:  # a stream already counted its tool calls as they arrived
        for item in get(resp, "output") or ():
            if get(item, "type") in ("function_call", "custom_tool_call"):
                call.add_tool(get(item, "name"))


# --- stream chunks --------------------------------------------------------------------------------------


def classify_chat(chunk: Any) -> str | None:
    """A ChatCompletionChunk, on the caller's thread: a plain text delta's text, else None (kept)."""
    choices = chunk.choices
    if choices:
        choice = choices[0]
        delta = choice.delta
        if delta is not None and not choice.finish_reason:
            return delta.content or None
    return None


def observe_chat(chunk: Any, call: CallRecord) -> str | bool | None:
    """A kept ChatCompletionChunk: the first chunk, tool calls, refusals, the finish reason, usage."""
    if call.response_model is None:
        _head(chunk, call)
    if chunk.usage is not None:
        _usage(call, chunk.usage)
    choices = chunk.choices
    if not choices:
        return None
    choice = choices[0]
    delta = choice.delta
    if choice.finish_reason:
        call.stop_reason = choice.finish_reason
    if delta is None:
        return None
    tool_calls = delta.tool_calls
    if tool_calls:
        arguments = False
        for tool_call in tool_calls:
            function = tool_call.function
            call.add_tool(get(function, "name"))
            arguments = arguments or bool(get(function, "arguments"))
        return arguments
    return delta.content or delta.refusal or getattr(delta, "reasoning_content", None)


def classify_completion(chunk: Any) -> str | None:
    choices = chunk.choices
    if choices and not choices[0].finish_reason:
        return choices[0].text or None
    return None


def observe_completion(chunk: Any, call: CallRecord) -> str | bool | None:
    if call.response_model is None:
        _head(chunk, call)
    if chunk.usage is not None:
        _usage(call, chunk.usage)
    choices = chunk.choices
    if not choices:
        return None
    if choices[0].finish_reason:
        call.stop_reason = choices[0].finish_reason
    text: str | None = choices[0].text
    return text


_TEXT_EVENTS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
    }
)
_TOOL_EVENTS = frozenset(
    {
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.mcp_call_arguments.delta",
    }
)
_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def classify_response_event(event: Any) -> str | bool | None:
    kind = event.type
    if kind in _TEXT_EVENTS:
        delta: str | None = event.delta
        return delta
    return True if kind in _TOOL_EVENTS else None


def observe_response_event(event: Any, call: CallRecord) -> str | bool | None:
    kind = event.type
    if kind in _TEXT_EVENTS:
        delta: str | None = event.delta
        return delta
    if kind in _TOOL_EVENTS:
        return True
    if kind == "response.output_item.added":
        item = event.item
        if get(item, "type") in ("function_call", "custom_tool_call"):
            call.add_tool(get(item, "name"))
        return None
    if kind in _FINAL_EVENTS:
        read_response(event.response, call)
    elif kind == "response.created":
        _head(event.response, call)
    return None


# --- requests -------------------------------------------------------------------------------------------

Stream = tuple[Classifier, Observer[CallRecord]] | None
ENDPOINTS: dict[str, tuple[str, dict[str, Any], Reader[CallRecord], Stream]] = {
    # path: (operation, extra span attributes, read, (classify, observe) of stream chunks)
    "/chat/completions": (
        "chat",
        {sc.OPENAI_API_TYPE: "chat_completions"},
        read_chat,
        (classify_chat, observe_chat),
    ),
    "/responses": (
        "chat",
        {sc.OPENAI_API_TYPE: "responses"},
        read_response,
        (classify_response_event, observe_response_event),
    ),
    "/embeddings": ("embeddings", {}, read_embeddings, None),
    "/completions": ("text_completion", {}, read_completion, (classify_completion, observe_completion)),
}
STREAM_USAGE = {"stream_options": {"include_usage": True}}
CONTENT_FORMATS = {
    "/chat/completions": "openai_chat",
    "/responses": "openai_responses",
    "/completions": "openai_completion",
}


def provider_of(client: Any) -> str:
    return "azure.ai.openai" if "Azure" in type(client).__name__ else PROVIDER


def describe(client: Any, options: Any, stream: bool, settings: Settings) -> Request | None:
    """What a request is, or None when it is not an LLM call (files, models, ...)."""
    if options is None or options.method.lower() != "post":
        return None
    entry = ENDPOINTS.get(options.url)
    if entry is None:
        return None
    operation, attributes, read, chunks = entry
    body = options.json_data if isinstance(options.json_data, dict) else {}
    classify, observe = chunks or (None, None)
    ask_usage = (
        stream
        and settings.openai_stream_usage
        and options.url == "/chat/completions"
        and "stream_options" not in body
        and provider_of(client) == PROVIDER  # not Azure: its older API versions refuse stream_options
    )
    return Request(
        provider=provider_of(client),
        operation=operation,
        model=str_or_none(body.get("model")),
        stream=stream,
        read=read,
        observe=observe,
        classify=classify,
        messages=body.get("messages", body.get("input", body.get("prompt"))),
        body=body,
        content_format=CONTENT_FORMATS.get(options.url),
        attributes=attributes,
        body_changes=STREAM_USAGE if ask_usage else None,
        shown=without_usage if ask_usage else None,
    )


def without_usage(chunk: Any) -> Any:
    """A chunk as the application would have received it had the request not asked for usage: the last,
    usage-only chunk (no choices) is hidden (None), and the others lose their ``"usage": null`` field."""
    if chunk.usage is not None and not chunk.choices:
        return None
    chunk.model_fields_set.discard("usage")
    return chunk


# --- errors and attempts --------------------------------------------------------------------------------


def error_info(exc: BaseException) -> tuple[int | None, str | None]:
    """The HTTP status and the error body's code, else its type, when `tokentrail.errors` knows it (a
    mid-stream error has no HTTP status)."""
    status = getattr(exc, "status_code", None)
    code, kind = getattr(exc, "code", None), getattr(exc, "type", None)
    if not _known(code) and _known(kind):
        code = kind
    return (status if isinstance(status, int) else None, code if isinstance(code, str) else None)


def _known(code: Any) -> bool:
    return isinstance(code, str) and error_class_of_name(code) is not None


def attempt_status(response: Any) -> int | None:
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


@functools.cache
def target() -> Target:
    from openai.resources import completions, embeddings, responses
    from openai.resources.chat import completions as chat

    types: dict[type, ErrorClass | None] = {
        openai.APITimeoutError: ErrorClass.TIMEOUT,
        openai.APIConnectionError: ErrorClass.CONNECTION,
        openai.APIStatusError: None,
        openai.ContentFilterFinishReasonError: ErrorClass.CONTENT_FILTERED,
        httpx2.TimeoutException: ErrorClass.TIMEOUT,
        httpx2.TransportError: ErrorClass.CONNECTION,
    }
    return Target(
        sync_client=openai._base_client.SyncAPIClient,
        async_client=openai._base_client.AsyncAPIClient,
        attempt_method="_send_request",
        attempt_status=attempt_status,
        describe=describe,
        errors=ProviderErrors(types, error_info),
        stream_types=(openai.Stream, openai.AsyncStream),
        raw_types=(LegacyAPIResponse, BaseAPIResponse),
        public=(
            Public("chat.completions", chat.Completions, chat.AsyncCompletions, ("create", "parse")),
            Public("responses", responses.Responses, responses.AsyncResponses, ("create", "parse")),
            Public("completions", completions.Completions, completions.AsyncCompletions),
            Public("embeddings", embeddings.Embeddings, embeddings.AsyncEmbeddings),
        ),
    )
