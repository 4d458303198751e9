"""Field meaning shared by the importers: label synonyms and the mapping of a flat
key/value record (a ``METRIC|`` line or a JSONL object) onto a `Call`.

Keys are compared normalised (``latencyMs``, ``latency-ms`` and ``latency_ms`` are one key). Rules that a
reader of imported data should know:

- Durations are milliseconds (``ms``, ``ms_total``, ``latency_ms``, ``duration_ms``, ``elapsed_ms``,
  ``ttft_ms``, ``ttft``), or seconds for the ``_s`` spellings.
- Input tokens are taken as the total input, cache included (the GenAI convention), except when the cache
  counts use Anthropic's spelling (``cache_read_input_tokens``, ``cache_creation_input_tokens``) or exceed
  the input count: the input count then excludes the cache, and the cache counts are added to it.
- Errors are classified by exception class name or code, else by HTTP status (`tokentrail.errors`); never
  by message text. Free text (``msg``, ``message``) is kept in attributes, cut to 500 characters.
- Prompt and response text (``input``/``output`` when not numbers, ``prompt``, ``messages``, ...) is
  never kept; only its length (``prompt_chars``) is.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

from tokentrail.errors import classify_error
from tokentrail.ingest.values import to_bool, to_float, to_int, to_str, to_time
from tokentrail.model import LABELS, Call, ErrorClass, SpanKind
from tokentrail.semconv import normalize_provider

from ._common import clip, hex_id, ids_for_key, place_in_time, text_chars

T = TypeVar("T")

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=4096)
def norm_key(key: str) -> str:
    """``cacheReadInputTokens`` -> ``cache_read_input_tokens``; ``-`` and ``.`` become ``_``."""
    return _CAMEL.sub("_", key.strip()).lower().replace("-", "_").replace(".", "_")


# --- labels -----------------------------------------------------------------------------------------

LABEL_SYNONYMS: Final[dict[str, str]] = {
    **{label: label for label in LABELS},
    "application": "app",
    "application_name": "app",
    "app_name": "app",
    "tenant_id": "tenant",
    "costcenter": "cost_center",
    "cost_centre": "cost_center",
    "userid": "user_id",
    "env": "environment",
    "deployment_environment": "environment",
    "deployment_environment_name": "environment",
    "experiment_id": "experiment",
    "experiment_name": "experiment",
}


@functools.lru_cache(maxsize=4096)
def _label_key(key: str) -> str:
    return norm_key(key).removeprefix("tokentrail_")


def labels_from(items: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """Known labels found among ``items`` by name or synonym; an exact name wins over a synonym."""
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    for key, value in items:
        name = _label_key(key)
        label = LABEL_SYNONYMS.get(name)
        text = to_str(value)
        if label is not None and text is not None:
            (exact if name == label else loose).setdefault(label, text)
    return loose | exact


def set_labels(call: Call, labels: Mapping[str, str]) -> None:
    """Fill the label columns that are still empty."""
    for label, value in labels.items():
        if getattr(call, label) is None:
            setattr(call, label, value)


_ERROR_CLASS_VALUES: Final = frozenset(item.value for item in ErrorClass)
_SPAN_KINDS: Final = frozenset(item.value for item in SpanKind)


def span_kind(value: Any) -> SpanKind | None:
    text = (to_str(value) or "").lower()
    return SpanKind(text) if text in _SPAN_KINDS else None


# --- flat records -----------------------------------------------------------------------------------

# Keys whose non-numeric values are prompt or response text: never stored.
CONTENT_KEYS: Final = frozenset(
    {
        "input",
        "output",
        "prompt",
        "completion",
        "response",
        "messages",
        "text",
        "content",
        "system",
        "system_prompt",
        "question",
        "answer",
        "query",
        "reply",
        "choices",
        "prompt_text",
        "response_text",
        "completion_text",
        "input_text",
        "output_text",
    }
)
_PROMPT_KEYS: Final = (
    "input",
    "prompt",
    "messages",
    "system",
    "system_prompt",
    "question",
    "query",
    "prompt_text",
    "input_text",
)


class Flat:
    """A flat record seen through normalised keys; remembers which keys the mapping consumed."""

    def __init__(self, record: Mapping[str, Any]) -> None:
        self.values: dict[str, Any] = {}
        self.original: dict[str, str] = {}
        self.used: set[str] = set()
        for key, value in record.items():
            name = norm_key(key)
            self.values[name] = value
            self.original[name] = key

    def take(self, keys: Iterable[str], convert: Callable[[Any], T | None]) -> T | None:
        """The first of ``keys`` whose value converts; that key is marked as consumed."""
        for key in keys:
            if key in self.values:
                result = convert(self.values[key])
                if result is not None:
                    self.used.add(key)
                    return result
        return None

    def leftovers(self) -> dict[str, Any]:
        """Unconsumed values under their original keys; text is clipped and content is dropped."""
        rest: dict[str, Any] = {}
        for key, value in self.values.items():
            if key in self.used or key in CONTENT_KEYS or (key == "message" and not isinstance(value, str)):
                continue
            rest[self.original[key]] = clip(value) if isinstance(value, str) else value
        return rest


def apply_flat(call: Call, flat: Flat) -> None:
    """Map the fields every flat importer shares onto ``call``."""
    _model_fields(call, flat)
    _timing_fields(call, flat)
    _usage_fields(call, flat)
    _outcome_fields(call, flat)
    _shape_fields(call, flat)
    set_labels(call, _flat_labels(flat))


def flat_ids(flat: Flat, fallback_key: str) -> tuple[str, str, str | None]:
    """``(trace_id, span_id, parent_span_id)``: valid ids in the record win; a ``request_id`` groups the
    spans of one request into one trace; otherwise ids derive from ``fallback_key`` (file, line, content)."""
    trace_id = flat.take(("trace_id",), lambda value: hex_id(value, 32))
    span_id = flat.take(("span_id",), lambda value: hex_id(value, 16))
    parent = flat.take(("parent_span_id", "parent_id"), lambda value: hex_id(value, 16))
    own_trace, own_span = ids_for_key(fallback_key)
    if trace_id is None:
        group = next((to_str(flat.values[k]) for k in _GROUP_KEYS if to_str(flat.values.get(k))), None)
        trace_id = ids_for_key("request:" + group)[0] if group else own_trace
    return trace_id, span_id or own_span, parent


_GROUP_KEYS: Final = ("request_id", "req_id", "trace_id", "traceid")
_START_KEYS: Final = ("start_time", "started_at", "start")
_END_KEYS: Final = ("end_time", "ended_at", "end")
_TS_KEYS: Final = ("ts", "timestamp", "@timestamp", "time", "datetime", "created_at", "date")


def flat_times(flat: Flat) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``(start, end)`` from the record. A bare ``ts``/``timestamp``/``time`` is the END of the call: logs
    are written when a call finishes (that is how they know its latency)."""
    start = flat.take(_START_KEYS, to_time)
    end = flat.take(_END_KEYS, to_time) or flat.take(_TS_KEYS, to_time)
    return start, end


TIME_SOURCE: Final = "tokentrail.import.time_source"


def place_flat(call: Call, start: dt.datetime | None, end: dt.datetime | None, mtime: dt.datetime) -> None:
    """Place the call in time; with no time in the record, it ends at the file's mtime (and says so)."""
    if start is None and end is None:
        end = mtime
        call.attributes[TIME_SOURCE] = "file_mtime"
    place_in_time(call, start, end)


def _model_fields(call: Call, flat: Flat) -> None:
    call.request_model = flat.take(
        ("model", "model_id", "model_name", "request_model", "gen_ai_request_model"), to_str
    )
    call.response_model = flat.take(("response_model", "gen_ai_response_model"), to_str)
    provider = flat.take(("provider", "provider_name", "llm_provider", "gen_ai_provider_name"), to_str)
    call.provider = normalize_provider(provider)
    call.operation = flat.take(("operation", "operation_name", "gen_ai_operation_name"), to_str)
    call.service = flat.take(("service", "service_name"), to_str)
    call.response_id = flat.take(("response_id", "gen_ai_response_id"), to_str)


def _millis(flat: Flat, ms_keys: tuple[str, ...], s_keys: tuple[str, ...]) -> float | None:
    millis = flat.take(ms_keys, to_float)
    if millis is None:
        seconds = flat.take(s_keys, to_float)
        millis = seconds * 1000 if seconds is not None else None
    return millis


def _timing_fields(call: Call, flat: Flat) -> None:
    call.duration_ms = _millis(
        flat,
        ("duration_ms", "latency_ms", "ms_total", "total_ms", "elapsed_ms", "ms"),
        ("duration_s", "latency_s", "elapsed_s"),
    )
    call.ttft_ms = _millis(flat, ("ttft_ms", "ttft", "time_to_first_token_ms", "first_token_ms"), ("ttft_s",))
    call.ttlt_ms = _millis(flat, ("ttlt_ms", "ttlt"), ("ttlt_s",))
    call.chunks = flat.take(("chunks",), to_int)
    stream = flat.take(("stream", "streaming", "is_streaming"), to_bool)
    call.stream = stream if stream is not None else call.ttft_ms is not None


_ANTHROPIC_CACHE_KEYS: Final = ("cache_read_input_tokens", "cache_creation_input_tokens")


def _usage_fields(call: Call, flat: Flat) -> None:
    base = flat.take(("input_tokens", "prompt_tokens", "tokens_in", "in", "input"), to_int)
    call.output_tokens = flat.take(
        ("output_tokens", "completion_tokens", "tokens_out", "out", "output"), to_int
    )
    read = flat.take(("cache_read_tokens", "cache_read_input_tokens", "cache_read", "cached_tokens"), to_int)
    write = flat.take(
        ("cache_write_tokens", "cache_creation_input_tokens", "cache_write", "cache_creation_tokens"), to_int
    )
    call.cache_read_tokens, call.cache_write_tokens = read, write
    call.reasoning_tokens = flat.take(("reasoning_tokens", "reasoning"), to_int)
    excludes = any(key in flat.used for key in _ANTHROPIC_CACHE_KEYS)
    call.input_tokens = total_input(base, read, write, excludes_cache=excludes)
    cost = flat.take(("cost_usd", "cost"), to_float)
    if cost is not None:
        call.cost_usd, call.price_source = cost, "imported"


def total_input(base: int | None, read: int | None, write: int | None, *, excludes_cache: bool) -> int | None:
    """All input tokens. ``base`` excludes the cache when told so, or when the cache counts exceed it."""
    if base is None:
        return None
    cache = (read or 0) + (write or 0)
    return base + cache if excludes_cache or cache > base else base


_HTTP_KEYS: Final = ("http_status", "status_code", "http_status_code", "http_response_status_code")
_STATUS_KEYS: Final = ("status", "outcome", "result")
_ERROR_KEYS: Final = (
    "error_type",
    "error",
    "exception",
    "exc_type",
    "exception_type",
    "error_name",
    "error_code",
)
_ERROR_WORDS: Final = frozenset({"error", "errored", "failed", "fail", "failure", "exception", "err", "ko"})
_OK_WORDS: Final = frozenset({"ok", "success", "succeeded", "successful", "completed", "done", "pass"})
_NO_ERROR: Final = frozenset({"", "none", "null", "false", "0", "no", "ok", "nil"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][\w.:\-]{0,199}$|^\d{3}$")


def _http_code(value: Any) -> int | None:
    code = to_int(value)
    return code if code is not None and 100 <= code <= 599 else None


def _status_value(value: Any) -> str | int | None:
    code = _http_code(value)
    if code is not None:
        return code
    text = (to_str(value) or "").lower()
    return "error" if text in _ERROR_WORDS else "ok" if text in _OK_WORDS else None


def _outcome_fields(call: Call, flat: Flat) -> None:
    call.http_status = flat.take(_HTTP_KEYS, _http_code)
    status = flat.take(_STATUS_KEYS, _status_value)
    if isinstance(status, int):
        call.http_status = call.http_status or status
        status = "error" if status >= 400 else "ok"
    success = flat.take(("ok", "success"), to_bool)
    has_error, error_name = _error_value(call, flat)
    explicit = flat.take(("error_class",), _explicit_class)
    http_failed = status != "ok" and (call.http_status or 0) >= 400
    if has_error or explicit or status == "error" or success is False or http_failed:
        call.status = "error"
        call.error_class = explicit or classify_error(error_name, call.http_status, call.provider)


def _explicit_class(value: Any) -> ErrorClass | None:
    text = (to_str(value) or "").lower()
    return ErrorClass(text) if text in _ERROR_CLASS_VALUES else None


def _error_value(call: Call, flat: Flat) -> tuple[bool, str | None]:
    """Whether an error key says the call failed, and the error's class name or code if it gives one."""
    for key in _ERROR_KEYS:
        if key not in flat.values:
            continue
        value = flat.values[key]
        flat.used.add(key)
        if isinstance(value, dict):
            name, message = to_str(value.get("type") or value.get("code")), value.get("message")
        elif value is True:
            name, message = None, None
        elif value is None or value is False or str(value).strip().lower() in _NO_ERROR:
            continue
        else:
            text = str(value).strip()
            name, message = (text, None) if _IDENTIFIER.match(text) else (None, text)
        if name:
            call.attributes["error.type"] = name
        if isinstance(message, str):
            call.attributes["error.message"] = clip(message)
        return True, name
    return False, None


def _degraded(value: Any) -> str | None:
    if value is True:
        return "fallback"
    if value is None or value is False or str(value).strip().lower() in _NO_ERROR:
        return None
    return to_str(value)


def _tool_names(value: Any) -> list[str] | None:
    if isinstance(value, str):
        names = [name.strip() for name in value.split(",")]
    elif isinstance(value, list):
        names = [to_str(item) or "" for item in value]
    else:
        return None
    return [name for name in names if name] or None


def _shape_fields(call: Call, flat: Flat) -> None:
    call.stop_reason = flat.take(("stop_reason", "finish_reason", "stop", "completion_reason"), to_str)
    call.attempts = flat.take(("attempts",), to_int)
    retries = flat.take(("retries", "retry_count"), to_int)
    if call.attempts is None and retries is not None:
        call.attempts = retries + 1
    call.degraded = flat.take(("degraded", "fallback", "fallback_reason"), _degraded)
    call.tool_names = flat.take(("tool_names", "tools"), _tool_names) or []
    call.tool_calls = flat.take(("tool_calls",), to_int)
    if call.tool_calls is None and call.tool_names:
        call.tool_calls = len(call.tool_names)
    call.prompt_chars = flat.take(("prompt_chars",), to_int) or _prompt_chars(flat)
    call.compression_ratio = flat.take(("compression_ratio",), to_float)


def _prompt_chars(flat: Flat) -> int | None:
    texts = [flat.values[k] for k in _PROMPT_KEYS if isinstance(flat.values.get(k), str | list | dict)]
    return sum(text_chars(text) for text in texts) if texts else None


def _flat_labels(flat: Flat) -> dict[str, str]:
    keys = [key for key in flat.values if _label_key(key) in LABEL_SYNONYMS]
    labels = labels_from((key, flat.values[key]) for key in keys)
    flat.used.update(key for key in keys if LABEL_SYNONYMS[_label_key(key)] in labels)
    return labels
