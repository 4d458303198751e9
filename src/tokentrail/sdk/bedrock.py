"""Amazon Bedrock Runtime through boto3/botocore: the choke point and the readers of its four operations.

**Choke point:** botocore's ``BaseClient._make_api_call(operation_name, api_params)`` (class level, so every
client, or on one client), acting only for service ``bedrock-runtime``: ``Converse``, ``ConverseStream``,
``InvokeModel`` and ``InvokeModelWithResponseStream``. Attempts are counted with botocore's
``response-received.bedrock-runtime`` event, emitted once per HTTP attempt (timeouts included), registered
once per client. Inside a budget guard (`tokentrail.sdk.budget`) the call may be refused first, or sent
with a copy of the parameters whose ``modelId`` names the cheaper model.

**Bodies of InvokeModel(WithResponseStream)**, recognised by model id, else by shape: Anthropic Messages
(``anthropic.*``: read with `tokentrail.sdk.anthropic`'s readers), Amazon Nova (``amazon.nova*``: the
Converse shapes, so the Converse readers serve it) and Meta Llama (``meta.llama*``: ``generation``,
``prompt_token_count``, ``generation_token_count``, ``stop_reason``). The ``InvokeModel`` body is read
once and replaced by an identical in-memory ``StreamingBody``. The ``amazon-bedrock-invocationMetrics`` block
of the last chunk, when present, gives Bedrock's own token counts and latencies, and wins.

**Usage rule:** Bedrock's ``inputTokens`` / ``inputTokenCount`` exclude the cache, so cache reads and
writes are added (`tokentrail.usage.normalize_usage`); Anthropic-format bodies follow Anthropic's rule.

**requestMetadata:** for Converse and ConverseStream the labels in force are also sent as
``requestMetadata`` so that AWS's invocation logs carry them: at most 16 entries, keys 1-256 and values 0-256
characters of ``[a-zA-Z0-9\\s:_@$#=/+,-.]`` (other characters become ``_``, longer text is cut). Keys the
caller set are never overwritten; entries beyond 16 are dropped and counted in
``tokentrail.request_metadata_dropped``. With ``configure(hash_user_id=True)`` the ``user_id`` sent to AWS is
the first 32 hex characters of its SHA-256 (span attributes keep the value as given).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from tokentrail import semconv as sc
from tokentrail.model import ErrorClass
from tokentrail.sdk import anthropic as anthropic_format
from tokentrail.sdk import context as ctx
from tokentrail.sdk.call import ACTIVE_CALL, CallRecord, Engine, ProviderErrors, Request, capturing
from tokentrail.sdk.chokepoint import ChokePoint, record
from tokentrail.sdk.fields import get, str_or_none
from tokentrail.sdk.patching import PatchSet
from tokentrail.sdk.stream import StreamTimer, ending_close, timed_sync
from tokentrail.sdk.types import Classifier, Observer, Reader
from tokentrail.usage import normalize_usage

PROVIDER: Final = "aws.bedrock"
SERVICE: Final = "bedrock-runtime"
METRICS_KEY: Final = "amazon-bedrock-invocationMetrics"
MAX_METADATA: Final = 16
MAX_METADATA_CHARS: Final = 256
_NOT_ALLOWED: Final = re.compile(r"[^a-zA-Z0-9\s:_@$#=/+,\-.]")
_HOOKED: Final = "_tokentrail_hooked"


# --- Converse (and Nova bodies) -------------------------------------------------------------------------


def _usage(call: CallRecord, usage: Any) -> None:
    if isinstance(usage, Mapping):
        call.usage = normalize_usage(PROVIDER, usage)


def read_converse(resp: Any, call: CallRecord) -> None:
    """A Converse response, or an Amazon Nova InvokeModel body (same shape)."""
    call.stop_reason = get(resp, "stopReason") or call.stop_reason
    _usage(call, get(resp, "usage"))
    latency = get(get(resp, "metrics"), "latencyMs")
    if latency is not None:
        call.extra[sc.TT_BEDROCK_LATENCY_MS] = latency
    for block in get(get(get(resp, "output"), "message"), "content") or ():
        call.add_tool(get(get(block, "toolUse"), "name"))


def classify_converse(event: Mapping[str, Any]) -> str | None:
    """A ConverseStream event, on the caller's thread: a text delta's text, else None (kept)."""
    block = event.get("contentBlockDelta")
    if block is not None:
        text = (block.get("delta") or {}).get("text")
        if text:
            return str(text)
    return None


def observe_converse(event: Mapping[str, Any], call: CallRecord) -> str | bool | None:
    """A ConverseStream event, or a decoded Nova stream chunk (same members)."""
    if "contentBlockDelta" in event:
        delta = event["contentBlockDelta"].get("delta") or {}
        text = delta.get("text") or get(delta.get("reasoningContent"), "text")
        if text:
            return str(text)
        return bool(get(delta.get("toolUse"), "input"))
    if "contentBlockStart" in event:
        call.add_tool(get(get(get(event["contentBlockStart"], "start"), "toolUse"), "name"))
    elif "messageStop" in event:
        call.stop_reason = get(event["messageStop"], "stopReason")
    elif "metadata" in event:
        read_converse(event["metadata"], call)
    return None


# --- Meta Llama bodies ------------------------------------------------------------------------------------


def read_llama(body: Mapping[str, Any], call: CallRecord) -> None:
    call.stop_reason = body.get("stop_reason") or call.stop_reason
    raw = call.scratch.setdefault("usage", {})
    if body.get("prompt_token_count") is not None:
        raw["inputTokens"] = body["prompt_token_count"]
    if body.get("generation_token_count") is not None:
        raw["outputTokens"] = body["generation_token_count"]
    if "inputTokens" in raw:
        call.usage = normalize_usage(PROVIDER, raw)


def observe_llama(chunk: Mapping[str, Any], call: CallRecord) -> str | bool | None:
    read_llama(chunk, call)
    text = chunk.get("generation")
    return str(text) if text else None


# --- InvokeModel bodies ---------------------------------------------------------------------------------

FORMATS: Final[dict[str, tuple[Reader[CallRecord], Observer[CallRecord]]]] = {
    "anthropic": (anthropic_format.read_message, anthropic_format.observe_event),
    "nova": (read_converse, observe_converse),
    "llama": (read_llama, observe_llama),
}


def body_format(model_id: str | None, body: Mapping[str, Any] | None = None) -> str | None:
    """Which body format a model speaks: from its id, else (ARNs, profiles) from a body's shape."""
    low = (model_id or "").lower()
    for vendor, name in (("anthropic", "anthropic"), ("nova", "nova"), ("llama", "llama")):
        if vendor in low:
            return name
    if body is None:
        return None
    if "generation" in body or "prompt_token_count" in body:
        return "llama"
    if (
        "anthropic_version" in body
        or body.get("type") in ("message", "message_start")
        or "stop_reason" in body
    ):
        return "anthropic"
    if "output" in body or "messageStart" in body or "contentBlockDelta" in body or "stopReason" in body:
        return "nova"
    return None


def read_metrics(body: Mapping[str, Any], call: CallRecord) -> None:
    """The ``amazon-bedrock-invocationMetrics`` block: Bedrock's own counts win over the body's."""
    metrics = body.get(METRICS_KEY)
    if not isinstance(metrics, dict | Mapping):  # a dict's check is the cheap one
        return
    if metrics.get("inputTokenCount") is not None:
        call.usage = normalize_usage(PROVIDER, metrics)
    for key, attribute in (
        ("invocationLatency", sc.TT_BEDROCK_INVOCATION_LATENCY_MS),
        ("firstByteLatency", sc.TT_BEDROCK_FIRST_BYTE_LATENCY_MS),
    ):
        if metrics.get(key) is not None:
            call.extra[attribute] = metrics[key]


def _decode(raw: Any, hook: Any = None) -> Mapping[str, Any]:
    """JSON bytes (UTF-8, as Bedrock sends them) or text as a mapping ({} for anything else)."""
    if not raw:
        return {}
    value = _decoder(hook).decode(raw.decode() if isinstance(raw, bytes | bytearray) else raw)
    return value if isinstance(value, dict) else {}


@functools.cache
def _decoder(hook: Any) -> json.JSONDecoder:
    """One decoder per object hook: ``json.loads`` builds a new one per call when given a hook, and sniffs
    the encoding of bytes (together about half the time of decoding a stream event)."""
    return json.JSONDecoder(object_hook=hook)


def take_body(result: dict[str, Any]) -> dict[str, Any]:
    """On the caller's thread: read the InvokeModel body and put an identical unread one back; returns a
    copy of the result holding the body's bytes, for `read_invoke`."""
    from botocore.response import StreamingBody

    stream = result.get("body")
    if stream is None:
        return result
    data = stream.read()
    result["body"] = StreamingBody(io.BytesIO(data), len(data))
    return {**result, "body": data}


def read_invoke(result: dict[str, Any], call: CallRecord) -> None:
    """An InvokeModel result whose body is bytes (`take_body`)."""
    data = result.get("body")
    if data:
        body = _decode(data)
        fmt = body_format(call.request.model, body)
        if fmt is not None:
            FORMATS[fmt][0](body, call)
        read_metrics(body, call)
    if call.usage is None:  # InvokeModel also reports counts in headers
        headers = get(result.get("ResponseMetadata"), "HTTPHeaders") or {}
        if "x-amzn-bedrock-input-token-count" in headers:
            call.usage = normalize_usage(PROVIDER, headers)


_TEXT_DELTA_HEADS: Final = tuple(
    b'{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":"' % i for i in range(10)
)
"""The start of a text delta of blocks 0-9, as Bedrock writes it (compact JSON), all of one length: a
``startswith`` and one byte (the text is not empty) cost the caller about half a regex match."""
_HEAD_LEN: Final = len(_TEXT_DELTA_HEADS[0])

_TEXT_DELTA: Final = re.compile(
    rb'\{"type":"content_block_delta","index":\d+,"delta":\{"type":"text_delta","text":"[^"]'
).match
"""The same for any block (the heads' test first: a regex match per chunk was most of the caller's cost)."""

_NOTHING_TO_READ: Final = re.compile(
    rb'\{"type":"(?:ping"|content_block_stop","index":\d+'
    rb'|content_block_start","index":\d+,"content_block":\{"type":"text","text":""\})\}\Z'
).match
"""A whole event that tells the worker nothing (a ping, the end of a block, the start of a text block with no
text yet), as Bedrock writes it: two of the five framing chunks of a text answer, each a JSON decode less
on the worker."""


def classify_anthropic_chunk(event: Mapping[str, Any]) -> bool | None:
    """An InvokeModelWithResponseStream event of an Anthropic model, on the caller's thread, without decoding
    its JSON: True for a text delta with text, False for an event with nothing to read, as Bedrock writes
    them (compact JSON), else None (kept, decoded on the worker). Quotes inside JSON strings are escaped,
    so the markers cannot come from the text."""
    try:  # a try costs nothing until it catches (no chunk, no bytes, a head and nothing after it)
        data = event["chunk"]["bytes"]
        if data.startswith(_TEXT_DELTA_HEADS):
            return True if data[_HEAD_LEN] != 0x22 else None  # 0x22: '"', the text is empty
    except (KeyError, TypeError, AttributeError, IndexError):
        return None
    if _TEXT_DELTA(data):
        return True
    return False if _NOTHING_TO_READ(data) else None


def observe_invoke_chunk(event: Mapping[str, Any], call: CallRecord) -> str | bool | None:
    chunk = event.get("chunk")
    if chunk is None:
        return None
    fmt = call.scratch.get("format") or body_format(call.request.model)
    body = _decode(chunk.get("bytes"), anthropic_format.AttrDict if fmt == "anthropic" else None)
    if fmt is None:  # a model id that does not say (an ARN): the first chunk's shape does
        fmt = body_format(None, body)
        if fmt == "anthropic":
            body = _decode(chunk.get("bytes"), anthropic_format.AttrDict)
    call.scratch["format"] = fmt
    content = FORMATS[fmt][1](body, call) if fmt is not None else None
    if METRICS_KEY in body:
        read_metrics(body, call)
    return content


CONTENT_FORMATS = {"converse": "converse", "anthropic": "anthropic", "nova": "converse", "llama": "prompt"}
"""Bedrock body formats -> `tokentrail.sdk.content` formats."""


def _request_body(params: Mapping[str, Any], settings: Any) -> Any:
    """An InvokeModel request's JSON body, parsed only when content is captured."""
    if not capturing(settings):
        return None
    raw = params.get("body")
    try:
        return _decode(raw.encode() if isinstance(raw, str) else raw)
    except (ValueError, TypeError):
        return None


# --- requestMetadata ------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return _NOT_ALLOWED.sub("_", text)[:MAX_METADATA_CHARS]


def label_metadata(labels: ctx.LabelSet, hash_user_id: bool) -> list[tuple[str, str]]:
    """The labels as cleaned requestMetadata entries, in priority order (known labels first)."""
    entries = []
    for key, value in (*labels.labels.items(), *sorted(labels.metadata.items())):
        if key == "user_id" and hash_user_id:
            value = hashlib.sha256(value.encode()).hexdigest()[:32]
        entries.append((_clean(key), _clean(value)))
    return entries


def with_request_metadata(
    params: Mapping[str, Any], entries: list[tuple[str, str]]
) -> tuple[dict[str, Any], int]:
    """A copy of `params` whose ``requestMetadata`` also holds our entries; returns it and the drop count."""
    user = params.get("requestMetadata")
    merged: dict[str, str] = dict(user) if isinstance(user, Mapping) else {}
    dropped = 0
    for key, value in entries:
        if not key or key in merged or len(merged) >= MAX_METADATA:
            dropped += 1
            continue
        merged[key] = value
    return {**params, "requestMetadata": merged} if merged else dict(params), dropped


# --- the choke point ------------------------------------------------------------------------------------

OPERATIONS: Final = {  # name: (stream, read, observe, classify); InvokeModel stream classifier: by format
    "Converse": (False, read_converse, observe_converse, None),
    "ConverseStream": (True, read_converse, observe_converse, classify_converse),
    "InvokeModel": (False, read_invoke, None, None),
    "InvokeModelWithResponseStream": (True, read_invoke, observe_invoke_chunk, None),
}


def instrument(engine: Engine, patches: PatchSet, client: Any = None) -> bool:
    """Wrap ``_make_api_call``. botocore's extension points, its events (``before-call``, ``after-call``),
    are registered per client, so they cannot reach every client (those made before ``instrument()``
    too), and none surrounds the whole call, as the active call (a contextvar) and the duration need; they
    serve for what they fit, counting attempts (`_hook_client`)."""
    from botocore.client import BaseClient

    _timed_event_stream_class()  # built now rather than during the first call
    point = ChokePoint(describe=_describe, arguments=_arguments, returned=_returned, errors=_errors())
    owner = client if client is not None else BaseClient
    return patches.apply(owner, "_make_api_call", record(engine, point, is_async=False))


def _describe(engine: Engine, client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request | None:
    """What ``_make_api_call(operation_name, api_params)`` is; None for other services and operations."""
    operation, params = args
    found = OPERATIONS.get(operation)
    if found is None:
        return None
    server = _hook_client(client)
    if server is None:
        return None
    stream, read, observe, converse_classify = found
    classify: Classifier | None = converse_classify
    model = str_or_none(params.get("modelId"))
    fmt = None if operation.startswith("Converse") else body_format(model)
    if fmt == "anthropic" and stream:  # the other formats' chunks are all kept, decoded on the worker
        classify = classify_anthropic_chunk
    request = Request(
        PROVIDER,
        "text_completion" if fmt == "llama" else "chat",
        model,
        stream,
        read,
        observe,
        classify,
        messages=params.get("messages", params.get("body")),
        attributes=_rpc_attributes(operation),
        server=server,
    )
    request.content_format = CONTENT_FORMATS.get(fmt or "converse")
    request.body = params if fmt is None else _request_body(params, engine.settings)
    return request


def _arguments(
    engine: Engine, request: Request, args: tuple[Any, ...], kwargs: dict[str, Any], cheaper: str | None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The parameters to send: a copy naming the cheaper model, with the labels as requestMetadata."""
    operation, params = args
    if cheaper is not None:
        params = {**params, "modelId": cheaper}
    if operation.startswith("Converse"):
        params = _with_labels(engine, request, params)
    return (operation, params), kwargs


def _with_labels(engine: Engine, request: Request, params: dict[str, Any]) -> dict[str, Any]:
    """`params` with the labels in force as requestMetadata (entries derived once per label set)."""
    labels = ctx.current_labels()
    if not (labels.labels or labels.metadata):
        return params
    hashed = engine.settings.hash_user_id
    entries = labels.derived.get(("bedrock", hashed))
    if entries is None:
        entries = labels.derived[("bedrock", hashed)] = label_metadata(labels, hashed)
    params, dropped = with_request_metadata(params, entries)
    if dropped:
        request.attributes = {**(request.attributes or {}), sc.TT_REQUEST_METADATA_DROPPED: dropped}
    return params


@functools.cache
def _rpc_attributes(operation: str) -> dict[str, str]:
    """The API operation, as OTel's AWS SDK instrumentations spell it; the collector stores it as the
    call's ``operation`` (the GenAI name stays in ``gen_ai.operation.name``)."""
    return {sc.RPC_SYSTEM: "aws-api", sc.RPC_SERVICE: "Bedrock Runtime", sc.RPC_METHOD: operation}


def _hook_client(client: Any) -> tuple[str | None, int | None] | None:
    """Count attempts with botocore's per-attempt event (once per client); returns (host, port), or None
    for a client of another service (Bedrock Runtime's are marked the first time)."""
    found: tuple[str | None, int | None] | None = vars(client).get(_HOOKED)
    if found is None:
        if client.meta.service_model.service_name != SERVICE:
            return None
        client.meta.events.register(
            f"response-received.{SERVICE}", _on_attempt, unique_id="tokentrail-attempts"
        )
        parts = urlsplit(client.meta.endpoint_url or "")
        found = (parts.hostname, parts.port)
        setattr(client, _HOOKED, found)
    return found


def _on_attempt(response_dict: Any = None, exception: BaseException | None = None, **_: Any) -> None:
    call = ACTIVE_CALL.get()
    if call is None:
        return
    try:
        if exception is not None:
            call.attempt_failed(exception)
        else:
            call.attempt(get(response_dict, "status_code"))
    except Exception:
        call.internal_error()


def _returned(call: CallRecord, result: Any) -> None:
    """End the call with the result (an InvokeModel body is read first, see `take_body`), or time its event
    stream (ConverseStream's ``stream``, InvokeModelWithResponseStream's ``body``)."""
    if not isinstance(result, dict):
        call.end(result)
    elif call.request.stream:
        stream = result.get("stream" if "stream" in result else "body")
        if stream is not None and call.request.observe is not None:
            _time_event_stream(call, stream)
        else:
            call.end(result)
    elif "body" in result:  # InvokeModel (Converse answers in "output")
        call.end(take_body(result))
    else:
        call.end(result)


def _time_event_stream(call: CallRecord, stream: Any) -> None:
    """Give a botocore EventStream a timed iterator, keeping its class's behaviour (and isinstance).

    botocore has no extension point for this: its response parser builds the EventStream, of a class no
    caller chooses, so the instance's class is swapped for a subclass (`_timed_event_stream_class`)."""
    call.timer = stream._tokentrail_timer = StreamTimer(call, call.request.classify)
    stream.__class__ = _timed_event_stream_class()


@functools.cache
def _timed_event_stream_class() -> type:
    from botocore.eventstream import EventStream

    class TimedEventStream(EventStream):  # type: ignore[misc]
        close = ending_close(EventStream.close)  # close ends the timer too

        def __iter__(self) -> Any:
            return timed_sync(super().__iter__(), self._tokentrail_timer, owner=self)

        def __del__(self) -> None:
            """Never iterated nor closed: the stream ends, closed, when dropped (a finalizer registered per
            stream with `weakref.finalize` cost the caller about 1 µs more, and as much again when run)."""
            self._tokentrail_timer.end(closed=True)

    return TimedEventStream


def error_info(exc: BaseException) -> tuple[int | None, str | None]:
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return None, None
    status = get(response.get("ResponseMetadata"), "HTTPStatusCode")
    code = get(response.get("Error"), "Code")
    return (status if isinstance(status, int) else None, code.lower() if isinstance(code, str) else None)


@functools.cache
def _errors() -> ProviderErrors:
    from botocore import exceptions as bx

    types: dict[type, ErrorClass | None] = {
        bx.ReadTimeoutError: ErrorClass.TIMEOUT,
        bx.ConnectTimeoutError: ErrorClass.TIMEOUT,
        bx.ConnectionError: ErrorClass.CONNECTION,
        bx.HTTPClientError: ErrorClass.CONNECTION,
        bx.ClientError: None,
    }
    return ProviderErrors(types, error_info)
