"""Span → Call: every convention an LLM span arrives in today, mapped onto the one canonical record.

Conventions read (first match wins, newest spelling first):
- OTel GenAI semantic conventions, old and new spellings (``gen_ai.system`` / ``gen_ai.provider.name``,
  ``prompt_tokens`` / ``input_tokens``, ``cache_creation`` / ``cache_write``);
- OpenLLMetry, both attribute generations (``llm.*`` classic and ``gen_ai.*`` 0.5+, ``traceloop.*``);
- OpenInference (``llm.token_count.*``, ``llm.model_name``, ``openinference.span.kind``);
- tokentrail's own ``tokentrail.*`` extras.

Rules worth knowing:
- Input tokens include cache reads and writes (GenAI semconv). Instrumentations are told to sum Anthropic's
  three counters; when a span's input count is smaller than its cache counters together, it evidently did
  not, and the cache counters are added.
- Prompt and response text never reaches the Call's columns: content attributes are dropped after their
  length is counted into ``prompt_chars``. An LLM span's content is read into `Call.content`, held in memory
  only, for sampling and redaction (`tokentrail.samples`).
- Everything not mapped is kept in ``attributes``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import operator
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from tokentrail import semconv as sc
from tokentrail.errors import FILTERED_STOP_REASONS, classify_error
from tokentrail.ingest.values import to_bool, to_float, to_int
from tokentrail.model import (
    LABELS,
    TIMELINE_MAX_POINTS,
    Call,
    ErrorClass,
    Source,
    SpanKind,
    StreamTimeline,
)
from tokentrail.samples.content import extract as extract_content
from tokentrail.samples.content import prompt_ref

EPOCH = dt.datetime(1970, 1, 1)
_ERROR_CLASSES = frozenset(e.value for e in ErrorClass)

# --- attribute values ------------------------------------------------------------------------------------


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return finite_or_text(value.double_value)
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_dict(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None


def finite_or_text(number: float) -> float | str:
    """NaN and infinities as their OTLP JSON spelling: JSON (the attributes column) has no such numbers."""
    if math.isfinite(number):
        return number
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def attributes_dict(items: Iterable[KeyValue]) -> dict[str, Any]:
    # A non-empty string or non-zero integer settles the kind without asking for it (most values are).
    return {
        kv.key: value.string_value or value.int_value or any_value(value)
        for kv in items
        for value in (kv.value,)
    }


# --- small readers -------------------------------------------------------------------------------------


def first(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of `keys` that `attrs` holds, not None and not empty."""
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def name(attrs: Mapping[str, Any], key: str) -> str | None:
    """A string attribute read as a name to look up; None for any other value (a list or a map names
    nothing, and cannot be a key of a lookup table)."""
    value = attrs.get(key)
    return value if isinstance(value, str) else None


def ns_to_datetime(ns: int) -> dt.datetime:
    return EPOCH + dt.timedelta(0, 0, ns // 1000)  # (days, seconds, microseconds): positional is faster


# --- keys each field is read from ------------------------------------------------------------------------

INPUT_KEYS = (sc.GEN_AI_USAGE_INPUT_TOKENS, sc.GEN_AI_USAGE_PROMPT_TOKENS, sc.OI_PROMPT_TOKENS)
OUTPUT_KEYS = (sc.GEN_AI_USAGE_OUTPUT_TOKENS, sc.GEN_AI_USAGE_COMPLETION_TOKENS, sc.OI_COMPLETION_TOKENS)
CACHE_READ_KEYS = (sc.GEN_AI_USAGE_CACHE_READ, sc.OLL_CACHE_READ, sc.OI_CACHE_READ)
CACHE_WRITE_KEYS = (
    sc.GEN_AI_USAGE_CACHE_WRITE,
    sc.GEN_AI_USAGE_CACHE_CREATION,
    sc.OLL_CACHE_CREATION,
    sc.OI_CACHE_WRITE,
)
REASONING_KEYS = (sc.GEN_AI_USAGE_REASONING, sc.OLL_REASONING, sc.OLL_REASONING_OLD, sc.OI_REASONING)
PROVIDER_KEYS = (sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_SYSTEM, sc.OI_PROVIDER, sc.OI_SYSTEM)
REQUEST_MODEL_KEYS = (
    sc.GEN_AI_REQUEST_MODEL,
    "llm.request.model_name",
    sc.OI_MODEL_NAME,
    sc.OI_EMBEDDING_MODEL_NAME,
)
RESPONSE_MODEL_KEYS = (sc.GEN_AI_RESPONSE_MODEL, "llm.response.model_name")
STOP_KEYS = (
    sc.TT_STOP_REASON,
    sc.GEN_AI_RESPONSE_FINISH_REASONS,
    sc.OLL_FINISH_REASON,
    sc.OLL_STOP_REASON,
    sc.OLL_FINISH_REASON_OLD,
    sc.OLL_STOP_REASON_OLD,
    sc.OI_FINISH_REASON,
)
STREAM_KEYS = (sc.GEN_AI_REQUEST_STREAM, sc.OLL_IS_STREAMING, sc.OLL_IS_STREAMING_OLD)
SERVER_KEYS = (sc.SERVER_ADDRESS, sc.OLL_API_BASE)

# Attributes carrying prompt or response text: counted, never stored.
CONTENT_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.prompts",
    "llm.choices",
)
CONTENT_KEYS = frozenset(
    {
        sc.GEN_AI_INPUT_MESSAGES,
        sc.GEN_AI_OUTPUT_MESSAGES,
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "input.value",
        "output.value",
        "traceloop.entity.input",
        "traceloop.entity.output",
        "gen_ai.content.completion.chunk",
        "llm.content.completion.chunk",
        "gen_ai.headers",  # OpenLLMetry records request headers, credentials included
        "llm.headers",
        "llm.prompt_template.variables",  # the values filled into a template are content
        sc.TT_TOOL_CHOICE,
    }
)
PROMPT_CONTENT = ("gen_ai.prompt.", "llm.input_messages.", "llm.prompts")
PROMPT_KEYS = frozenset({sc.GEN_AI_INPUT_MESSAGES, "gen_ai.system_instructions", "input.value"})

OPERATION_KIND = {
    "chat": SpanKind.LLM,
    "text_completion": SpanKind.LLM,
    "generate_content": SpanKind.LLM,
    "embeddings": SpanKind.LLM,
    "execute_tool": SpanKind.TOOL,
    "invoke_agent": SpanKind.AGENT,
    "create_agent": SpanKind.AGENT,
    "invoke_workflow": SpanKind.CHAIN,
}
OPENINFERENCE_KIND = {
    "LLM": SpanKind.LLM,
    "EMBEDDING": SpanKind.LLM,
    "TOOL": SpanKind.TOOL,
    "AGENT": SpanKind.AGENT,
    "CHAIN": SpanKind.CHAIN,
    "RETRIEVER": SpanKind.CHAIN,
    "RERANKER": SpanKind.CHAIN,
}
OPENINFERENCE_OPERATION = {"LLM": "chat", "EMBEDDING": "embeddings"}
TRACELOOP_KIND = {
    "workflow": SpanKind.CHAIN,
    "task": SpanKind.CHAIN,
    "agent": SpanKind.AGENT,
    "tool": SpanKind.TOOL,
}
REQUEST_TYPE_OPERATION = {
    "chat": "chat",
    "completion": "text_completion",
    "embedding": "embeddings",
    "rerank": "rerank",
}

# --- the mapping ---------------------------------------------------------------------------------------


def span_kind(attrs: Mapping[str, Any], operation: str | None, has_model: bool) -> str:
    explicit = name(attrs, sc.TT_KIND)
    if explicit in SpanKind._value2member_map_:
        return str(explicit)
    oi = attrs.get(sc.OI_SPAN_KIND)
    if isinstance(oi, str) and oi.upper() in OPENINFERENCE_KIND:
        return OPENINFERENCE_KIND[oi.upper()].value
    if operation in OPERATION_KIND:
        return OPERATION_KIND[operation].value
    traceloop = name(attrs, sc.OLL_SPAN_KIND)
    if traceloop in TRACELOOP_KIND:
        return TRACELOOP_KIND[traceloop].value
    return SpanKind.LLM.value if has_model else SpanKind.OTHER.value


def read_operation(attrs: Mapping[str, Any]) -> str | None:
    op = attrs.get(sc.GEN_AI_OPERATION_NAME)
    if op:
        return str(op)
    request_type = name(attrs, sc.OLL_REQUEST_TYPE)
    if request_type in REQUEST_TYPE_OPERATION:
        return REQUEST_TYPE_OPERATION[request_type]
    oi = attrs.get(sc.OI_SPAN_KIND)
    return OPENINFERENCE_OPERATION.get(oi.upper()) if isinstance(oi, str) else None


def use_api_operation(call: Call, attrs: Mapping[str, Any]) -> None:
    """A Bedrock call's operation is its API name (``Converse``, ``InvokeModel``, ...), as in Bedrock's
    invocation logs; the GenAI operation (``chat``) moves to the ``gen_ai.operation.name`` attribute."""
    method = name(attrs, sc.RPC_METHOD)
    if call.provider == "aws.bedrock" and method in sc.BEDROCK_OPERATIONS:
        if call.operation is not None:
            call.attributes[sc.GEN_AI_OPERATION_NAME] = call.operation
        call.operation = str(method)


def operation_from_name(name: str, model: str | None) -> str | None:
    """GenAI span names are '{operation} {model}'; old spans may carry the operation only there."""
    head, _, rest = name.partition(" ")
    return head if model and rest == model and head in OPERATION_KIND else None


def read_stop_reason(attrs: Mapping[str, Any]) -> str | None:
    value = first(attrs, STOP_KEYS)
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def fill_usage(call: Call, attrs: Mapping[str, Any]) -> None:
    call.input_tokens = to_int(first(attrs, INPUT_KEYS))
    call.output_tokens = to_int(first(attrs, OUTPUT_KEYS))
    call.cache_read_tokens = to_int(first(attrs, CACHE_READ_KEYS))
    call.cache_write_tokens = to_int(first(attrs, CACHE_WRITE_KEYS))
    call.reasoning_tokens = to_int(first(attrs, REASONING_KEYS))
    cached = (call.cache_read_tokens or 0) + (call.cache_write_tokens or 0)
    if call.input_tokens is not None and call.input_tokens < cached:
        call.input_tokens += cached


def fill_streaming(
    call: Call, attrs: Mapping[str, Any], events: Iterable[tuple[str, int]], start_ns: int
) -> None:
    ttft = to_float(attrs.get(sc.TT_TTFT_MS))
    if ttft is None:
        seconds = to_float(attrs.get(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK))
        ttft = seconds * 1000 if seconds is not None else first_token_event_ms(events, start_ns)
    call.ttft_ms = ttft
    call.ttlt_ms = to_float(attrs.get(sc.TT_TTLT_MS))
    call.stream_duration_ms = to_float(attrs.get(sc.TT_STREAM_DURATION_MS))
    call.chunks = to_int(attrs.get(sc.TT_CHUNKS))
    call.itl_p50_ms = to_float(attrs.get(sc.TT_ITL_P50_MS))
    call.itl_p95_ms = to_float(attrs.get(sc.TT_ITL_P95_MS))
    call.itl_max_ms = to_float(attrs.get(sc.TT_ITL_MAX_MS))
    call.output_tokens_per_s = to_float(attrs.get(sc.TT_OUTPUT_TOKENS_PER_S))
    call.stream_timeline = read_timeline(attrs)
    streamed = to_bool(first(attrs, STREAM_KEYS))
    call.stream = bool(streamed) or ttft is not None
    if call.output_tokens_per_s is None and call.output_tokens and call.duration_ms:
        window = call.stream_duration_ms or (call.duration_ms - (ttft or 0.0))
        if window > 0:
            call.output_tokens_per_s = call.output_tokens / (window / 1000)


def read_timeline(attrs: Mapping[str, Any]) -> StreamTimeline | None:
    """A stream's arrival timeline (`model.StreamTimeline`), or None when absent or not well-formed:
    at most `TIMELINE_MAX_POINTS` finite offsets and as many ascending chunk numbers (sent only for a
    downsampled stream: without them the offsets are those of chunks 0, 1, 2, ...)."""
    offsets = attrs.get(sc.TT_TIMELINE_OFFSETS_MS)
    if not isinstance(offsets, list | tuple):
        return None
    chunks = attrs.get(sc.TT_TIMELINE_CHUNKS, range(len(offsets)))
    if not isinstance(chunks, list | tuple | range):
        return None
    if not 0 < len(chunks) == len(offsets) <= TIMELINE_MAX_POINTS:
        return None
    try:
        numbers = [operator.index(c) for c in chunks]
        times = [float(t) for t in offsets]
    except (TypeError, ValueError):
        return None
    ascending = numbers[0] >= 0 and all(a < b for a, b in itertools.pairwise(numbers))
    return StreamTimeline(numbers, times) if ascending and all(map(math.isfinite, times)) else None


def first_token_event_ms(events: Iterable[tuple[str, int]], start_ns: int) -> float | None:
    """OpenInference and others mark the first streamed token with a span event."""
    for name, time_ns in events:
        low = name.lower()
        if "first token" in low or "first_token" in low or low.endswith("completion.chunk"):
            return (time_ns - start_ns) / 1e6
    return None


def fill_outcome(call: Call, attrs: Mapping[str, Any], status_code: int) -> None:
    call.http_status = to_int(first(attrs, (sc.TT_HTTP_STATUS, sc.HTTP_RESPONSE_STATUS_CODE)))
    error_type = attrs.get(sc.ERROR_TYPE)
    explicit = name(attrs, sc.TT_ERROR_CLASS)
    failed = status_code == Status.STATUS_CODE_ERROR or bool(explicit) or bool(error_type)
    call.status = "error" if failed else "ok"
    if failed:
        call.error_class = (
            str(explicit)
            if explicit in _ERROR_CLASSES
            else classify_error(_str(error_type), call.http_status, call.provider).value
        )
    call.stop_reason = read_stop_reason(attrs)
    if call.stop_reason in FILTERED_STOP_REASONS:
        call.error_class = call.error_class or ErrorClass.CONTENT_FILTERED.value
    call.attempts = to_int(attrs.get(sc.TT_ATTEMPTS))
    degraded = attrs.get(sc.TT_DEGRADED)
    call.degraded = str(degraded) if degraded else None


LABEL_KEYS = tuple((label, sc.label_attribute(label)) for label in LABELS)
# Other conventions' spellings of a label, read when the span has no tokentrail.<label> (or an empty one).
LABEL_FALLBACKS = (
    ("conversation_id", (sc.GEN_AI_CONVERSATION_ID, sc.OI_SESSION_ID)),
    ("user_id", (sc.OI_USER_ID, sc.OLL_ASSOCIATION_PREFIX + "user_id")),
    ("prompt_name", (sc.GEN_AI_PROMPT_NAME, "traceloop.prompt.key")),
    ("prompt_version", (sc.GEN_AI_PROMPT_VERSION, "traceloop.prompt.version", "llm.prompt_template.version")),
)
ENVIRONMENT_KEYS = (sc.DEPLOYMENT_ENVIRONMENT, sc.DEPLOYMENT_ENVIRONMENT_OLD)


def fill_labels(call: Call, attrs: Mapping[str, Any], resource: Mapping[str, Any]) -> None:
    for label, key in LABEL_KEYS:
        value = attrs.get(key)
        if value is not None:
            setattr(call, label, str(value))
    for label, keys in LABEL_FALLBACKS:
        if not getattr(call, label):
            setattr(call, label, _str(first(attrs, keys)))
    if not call.environment:
        env = first(attrs, ENVIRONMENT_KEYS) or first(resource, ENVIRONMENT_KEYS)
        call.environment = _str(env)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def split_attributes(call: Call, attrs: Mapping[str, Any], mapped: frozenset[str]) -> bool:
    """Keep unmapped attributes; turn metadata into `metadata`; drop content after counting prompt size.
    True when the span carries content attributes."""
    rest: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    prompt_chars, content = 0, False
    for key, value in attrs.items():
        if key in mapped:
            continue
        if key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES):
            content = True
            if key in PROMPT_KEYS or key.startswith(PROMPT_CONTENT):
                prompt_chars += len(value) if isinstance(value, str) else 0
            continue
        if key.startswith(sc.TT_METADATA_PREFIX):
            metadata[key[len(sc.TT_METADATA_PREFIX) :]] = str(value)
        elif key.startswith(sc.OLL_ASSOCIATION_PREFIX):
            metadata[key[len(sc.OLL_ASSOCIATION_PREFIX) :]] = str(value)
        elif key == sc.OI_METADATA and isinstance(value, str):
            metadata.update(_json_object(value))
        else:
            rest[key] = value
    call.metadata = metadata
    call.attributes = rest
    explicit = to_int(attrs.get(sc.TT_PROMPT_CHARS))
    call.prompt_chars = explicit if explicit is not None else (prompt_chars or None)
    return content


def _json_object(text: str) -> dict[str, str]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def tool_names(attrs: Mapping[str, Any], kind: str) -> list[str]:
    names = attrs.get(sc.TT_TOOL_NAMES)
    if isinstance(names, list):
        return [str(n) for n in names]
    if kind == SpanKind.TOOL:
        name = first(attrs, (sc.GEN_AI_TOOL_NAME, sc.OI_TOOL_NAME))
        return [str(name)] if name else []
    found = [
        str(v)
        for k, v in attrs.items()
        if ".tool_calls." in k and (k.endswith(".name") or k.endswith("function.name")) and v
    ]
    output = attrs.get(sc.GEN_AI_OUTPUT_MESSAGES)
    if not found and isinstance(output, str) and '"tool_call"' in output:
        found = tool_call_parts(output)
    return found


def tool_call_parts(messages_json: str) -> list[str]:
    """Names of the tool_call parts in a gen_ai.output.messages JSON string."""
    try:
        messages = json.loads(messages_json)
    except ValueError:
        return []
    return [
        str(part.get("name"))
        for message in messages
        if isinstance(message, dict)
        for part in message.get("parts") or []
        if isinstance(part, dict) and part.get("type") == "tool_call"
    ]


def invocation_model(attrs: Mapping[str, Any]) -> str | None:
    """OpenInference puts the model asked for inside llm.invocation_parameters (JSON)."""
    params = attrs.get(sc.OI_INVOCATION_PARAMETERS)
    if not isinstance(params, str) or '"model"' not in params:
        return None
    try:
        model = json.loads(params).get("model")
    except (ValueError, AttributeError):
        return None
    return str(model) if model else None


MAPPED_KEYS = frozenset(
    {
        *INPUT_KEYS,
        *OUTPUT_KEYS,
        *CACHE_READ_KEYS,
        *CACHE_WRITE_KEYS,
        *REASONING_KEYS,
        *PROVIDER_KEYS,
        *REQUEST_MODEL_KEYS,
        *RESPONSE_MODEL_KEYS,
        *STOP_KEYS,
        *STREAM_KEYS,
        sc.GEN_AI_OPERATION_NAME,
        sc.GEN_AI_RESPONSE_ID,
        sc.GEN_AI_CONVERSATION_ID,
        sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
        sc.SERVER_ADDRESS,
        sc.TT_KIND,
        sc.TT_TTFT_MS,
        sc.TT_TTLT_MS,
        sc.TT_STREAM_DURATION_MS,
        sc.TT_CHUNKS,
        sc.TT_ITL_P50_MS,
        sc.TT_ITL_P95_MS,
        sc.TT_ITL_MAX_MS,
        sc.TT_OUTPUT_TOKENS_PER_S,
        sc.TT_TIMELINE_CHUNKS,
        sc.TT_TIMELINE_OFFSETS_MS,
        sc.TT_ATTEMPTS,
        sc.TT_DEGRADED,
        sc.TT_ERROR_CLASS,
        sc.TT_HTTP_STATUS,
        sc.TT_TOOL_NAMES,
        sc.TT_PROMPT_CHARS,
        sc.TT_COMPRESSION_RATIO,
        sc.TT_SOURCE,
        *(sc.TT_PREFIX + label for label in LABELS),
    }
)


def to_call(
    attrs: dict[str, Any],
    *,
    trace_id: str,
    span_id: str,
    parent_span_id: str | None,
    name: str,
    start_ns: int,
    end_ns: int,
    status_code: int = 0,
    events: Iterable[tuple[str, int]] = (),
    resource: Mapping[str, Any] | None = None,
    received_at: dt.datetime | None = None,
) -> Call:
    """Map one span's attributes (already a plain dict) onto a Call."""
    resource = resource or {}
    call = Call(trace_id=trace_id, span_id=span_id, parent_span_id=parent_span_id or None, name=name)
    call.service = _str(resource.get(sc.SERVICE_NAME))
    fill_times(call, start_ns, end_ns, received_at)
    fill_model(call, attrs, name)
    fill_usage(call, attrs)
    has_model = call.request_model is not None or call.input_tokens is not None
    call.kind = span_kind(attrs, call.operation, has_model)
    fill_streaming(call, attrs, events, start_ns)
    fill_outcome(call, attrs, status_code)
    fill_labels(call, attrs, resource)
    fill_tools(call, attrs)
    if split_attributes(call, attrs, MAPPED_KEYS):
        fill_content(call, attrs)
    use_api_operation(call, attrs)
    call.source = str(attrs.get(sc.TT_SOURCE) or Source.OTLP)
    call.received_at = received_at
    return call


def fill_times(call: Call, start_ns: int, end_ns: int, received_at: dt.datetime | None) -> None:
    """A span without a start time starts when it was received (else now); without an end, it ends there."""
    if start_ns:
        call.start_time = ns_to_datetime(start_ns)
    else:
        call.start_time = received_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    call.end_time = ns_to_datetime(end_ns) if end_ns else call.start_time
    call.duration_ms = (end_ns - start_ns) / 1e6 if end_ns and start_ns else None


def fill_model(call: Call, attrs: Mapping[str, Any], name: str) -> None:
    call.provider = sc.normalize_provider(_str(first(attrs, PROVIDER_KEYS)))
    call.request_model = _str(first(attrs, (sc.GEN_AI_REQUEST_MODEL,))) or invocation_model(attrs)
    call.request_model = call.request_model or _str(first(attrs, REQUEST_MODEL_KEYS))
    call.response_model = _str(first(attrs, (*RESPONSE_MODEL_KEYS, sc.OI_MODEL_NAME))) or call.request_model
    call.operation = read_operation(attrs) or operation_from_name(name, call.request_model)
    call.server_address = _str(first(attrs, SERVER_KEYS))
    call.response_id = _str(attrs.get(sc.GEN_AI_RESPONSE_ID))


def fill_tools(call: Call, attrs: Mapping[str, Any]) -> None:
    call.tool_names = tool_names(attrs, call.kind)
    call.tool_calls = len(call.tool_names) or None
    call.compression_ratio = to_float(attrs.get(sc.TT_COMPRESSION_RATIO))


def fill_content(call: Call, attrs: Mapping[str, Any]) -> None:
    """An LLM span's content, held in memory for sampling (`tokentrail.samples`), never stored as is."""
    if call.kind != SpanKind.LLM:
        return
    call.content = extract_content(attrs, call.provider, call.operation, call.request_model, call.stream)
    if call.content is not None and call.prompt_name:
        version, content_id = call.prompt_version, call.prompt_content_id
        call.content["prompt"] = prompt_ref(attrs, call.prompt_name, version, content_id)
