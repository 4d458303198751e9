"""Importer for Amazon Bedrock model invocation logs.

Accepted inputs, told apart by their first line:

- NDJSON, one record per line: a CloudWatch Logs export or the gzip objects of the S3 delivery
  (``AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/*.json.gz``). Text before the first
  ``{`` of a line (the timestamp a CloudWatch export task writes) is ignored.
- The JSON that ``aws logs filter-log-events`` / ``get-log-events`` print: ``{"events": [{"message":
  "<record JSON>", "timestamp": ...}, ...]}``, and any pretty-printed JSON (a record, an array of records or
  events, several documents one after another). These are read with a small streaming reader, one value of
  the ``events`` array at a time, so memory stays bounded by the largest single event.

Walking a directory skips ``permission-check`` objects and the ``data/`` objects that hold large bodies.

Mapping (one record -> one ``Call`` with ``kind = 'llm'``, ``provider = 'aws.bedrock'``):
``timestamp`` -> start_time (end = start + latency); ``operation`` -> operation as logged (``Converse``,
``ConverseStream``, ``InvokeModel``, ``InvokeModelWithResponseStream``), the GenAI operation it amounts to
(``chat``, ``embeddings``, ...) -> the ``gen_ai.operation.name`` attribute and the span name; ``modelId`` ->
request_model (a foundation-model or inference-profile ARN is cut to its id; the ARN stays in
``aws.bedrock.model_id``); ``requestId`` -> response_id and the ids (md5 / sha1 of it, so a re-import or
the same record from CloudWatch and S3 is stored once); ``requestMetadata`` -> labels (by name and synonym)
and, whole, ``metadata``. Bedrock's ``inputTokenCount`` excludes the cache, so input_tokens = input + cache
read + cache write. A count the record's own counters lack is read from the body (``usage`` in any of the
spellings the models use, e.g. ``cache_read_input_tokens``), so a body's 0 is stored as 0; a count found
nowhere stays null. Latency comes from ``metrics.latencyMs`` or the last chunk's
``amazon-bedrock-invocationMetrics`` (``invocationLatency``; ``firstByteLatency`` -> ttft_ms). ``errorCode``
-> error_class by code. The record itself, minus prompt and response content (`_record.content_free`), is
kept in ``source_record`` for ``@message`` and JSON paths in queries; of the prompt only ``prompt_chars``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Final, TypeVar

from tokentrail.errors import classify_error
from tokentrail.ingest.values import to_float, to_int, to_str, to_time
from tokentrail.model import Call, ErrorClass, Source, SpanKind
from tokentrail.semconv import GEN_AI_OPERATION_NAME

from ._common import (
    ByteMeter,
    Cursor,
    FileReader,
    ProblemSink,
    as_dict,
    derive_rate,
    ids_for_key,
    line_key,
    metadata_value,
    numbered,
    place_in_time,
    read_guarded,
    text_chars,
)
from ._fields import labels_from, set_labels
from ._record import content_free

T = TypeVar("T")

PROVIDER: Final = "aws.bedrock"
SCHEMA_TYPE: Final = "ModelInvocationLog"
_LOG_DIR: Final = "BedrockModelInvocationLogs"
_SUFFIXES: Final = (".json", ".jsonl", ".ndjson", ".log", ".txt", ".gz")


def wanted(path: Path) -> bool:
    """Files taken when walking a directory."""
    return path.name.lower().endswith(_SUFFIXES)


def excluded(path: Path) -> bool:
    """``permission-check`` objects and large-body ``data/`` objects of the S3 layout."""
    if "permission-check" in path.name.lower():
        return True
    parts = path.parts
    return _LOG_DIR in parts and "data" in parts[parts.index(_LOG_DIR) :]


def iter_file(path: Path, problems: ProblemSink, meter: ByteMeter | None = None) -> Iterator[Call]:
    """The calls of one file; bad lines and records are reported to ``problems`` and skipped."""
    return read_guarded(path, problems, meter, _FileReader(path, problems).read)


@dataclasses.dataclass(slots=True)
class _FileReader(FileReader):
    """NDJSON or a JSON document, told apart by the first line that is not blank."""

    def read(self, text: IO[str], cursor: Cursor) -> Iterator[Call]:
        lines = numbered(text, cursor)
        head: list[tuple[int, str]] = []
        for line_no, line in lines:
            head.append((line_no, line))
            if line.strip():
                break
        if head and head[-1][1].strip() in ("{", "["):
            yield from self._document("".join(line for _, line in head), text, cursor)
        else:
            yield from self._ndjson(itertools.chain(head, lines))

    def _ndjson(self, lines: Iterable[tuple[int, str]]) -> Iterator[Call]:
        for line_no, line in lines:
            if not line.strip():
                continue
            try:
                items = _line_items(line.strip())
            except ValueError as exc:
                self.problem(line_no, f"invalid JSON: {exc}")
                continue
            key = line_key(self.file_key, line_no, line)
            for index, item in enumerate(items):
                call = self._call(item, f"{key}#{index}", line_no)
                if call is not None:
                    yield call

    def _document(self, head: str, text: IO[str], cursor: Cursor) -> Iterator[Call]:
        reader = JsonStreamReader(text, head)
        try:
            for index, (line_no, item) in enumerate(_document_items(reader)):
                cursor.line = line_no
                call = self._call(item, f"{self.file_key}@{line_no}#{index}", line_no)
                if call is not None:
                    yield call
        except ValueError as exc:
            self.problem(reader.line, f"invalid JSON document, rest of file skipped: {exc}")

    def _call(self, item: Any, fallback_key: str, line_no: int) -> Call | None:
        try:
            record, event_time = _unwrap_event(item)
            return record_to_call(record, fallback_key, event_time)
        except (ValueError, TypeError) as exc:
            self.problem(line_no, str(exc))
            return None


def _line_items(text: str) -> list[Any]:
    """The records or events of one NDJSON line (a compact ``{"events": [...]}`` envelope gives several)."""
    start = 0 if text[0] in "{[" else text.find("{")
    if start < 0:
        raise ValueError("no JSON object on the line")
    return _items(json.loads(text[start:]))


def _items(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and isinstance(value.get("events"), list):
        return list(value["events"])
    return [value]


def _is_record(value: Any) -> bool:
    return isinstance(value, dict) and (value.get("schemaType") == SCHEMA_TYPE or "modelId" in value)


def _unwrap_event(item: Any) -> tuple[dict[str, Any], dt.datetime | None]:
    """A record, and the log event's timestamp when the record came inside a CloudWatch event."""
    if _is_record(item):
        return item, None
    if isinstance(item, dict) and "message" in item:
        record = _message_record(item["message"])
        if _is_record(record):
            return record, to_time(item.get("timestamp"))
    raise ValueError("not a Bedrock model invocation log record")


def _message_record(message: Any) -> Any:
    if not isinstance(message, str):
        return message
    start = message.find("{")
    if start < 0:
        raise ValueError("the log event's message is not JSON")
    return json.loads(message[start:])


# --- streaming JSON documents -----------------------------------------------------------------------

_DECODER: Final = json.JSONDecoder()
_NON_SPACE: Final = re.compile(r"\S")
_CHUNK: Final = 1 << 16


class JsonStreamReader:
    """Reads JSON values from a text stream a piece at a time (the standard library's ``raw_decode`` over a
    growing buffer), so that the items of a large array need not all be in memory at once."""

    def __init__(self, text: IO[str], head: str = "") -> None:
        self._text = text
        self._buf = head
        self._pos = 0
        self._eof = False
        self._lines_before = 1  # line number of the buffer's start

    @property
    def line(self) -> int:
        """The line of the reading position (1-based)."""
        return self._lines_before + self._buf.count("\n", 0, self._pos)

    def peek(self) -> str:
        """The next non-blank character, or "" at the end."""
        while True:
            match = _NON_SPACE.search(self._buf, self._pos)
            if match is not None:
                self._pos = match.start()
                return self._buf[self._pos]
            self._pos = len(self._buf)
            if not self._fill():
                return ""

    def take(self, char: str) -> bool:
        """Consume ``char`` if it comes next."""
        if self.peek() == char:
            self._pos += 1
            return True
        return False

    def value(self) -> Any:
        """Decode the next JSON value."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError:
                if not self._fill():
                    raise
                continue
            if end == len(self._buf) and self._fill():  # a number might go on in the next piece
                continue
            self._pos = end
            return value

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._text.read(max(_CHUNK, len(self._buf) - self._pos))
        self._lines_before += self._buf.count("\n", 0, self._pos)
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        self._eof = not data
        return bool(data)


def _document_items(reader: JsonStreamReader) -> Iterator[tuple[int, Any]]:
    """``(line, item)`` for each record or event in a sequence of JSON documents."""
    while char := reader.peek():
        if char == "[":
            yield from _array_items(reader)
        elif char == "{":
            yield from _object_items(reader)
        else:
            raise ValueError(f"unexpected {char!r} at line {reader.line}")


def _array_items(reader: JsonStreamReader) -> Iterator[tuple[int, Any]]:
    reader.take("[")
    if reader.take("]"):
        return
    while True:
        reader.peek()
        line = reader.line
        yield line, reader.value()
        if reader.take("]"):
            return
        if not reader.take(","):
            raise ValueError(f"expected ',' or ']' at line {reader.line}")


def _object_items(reader: JsonStreamReader) -> Iterator[tuple[int, Any]]:
    """The events of an ``{"events": [...]}`` envelope, streamed; any other object is one item."""
    start = reader.line
    reader.take("{")
    rest: dict[str, Any] = {}
    events = False
    while not reader.take("}"):
        if rest or events:
            _expect(reader, ",")
        key = reader.value()
        _expect(reader, ":")
        if key == "events" and reader.peek() == "[":
            events = True
            yield from _array_items(reader)
        else:
            rest[str(key)] = reader.value()
    if not events:
        yield start, rest


def _expect(reader: JsonStreamReader, char: str) -> None:
    if not reader.take(char):
        raise ValueError(f"expected {char!r} at line {reader.line}")


# --- record -> Call ---------------------------------------------------------------------------------

_OPERATIONS: Final = {"Converse": "chat", "ConverseStream": "chat", "StartAsyncInvoke": "generate_content"}
_MODEL_ARN: Final = re.compile(
    r"^arn:aws[\w-]*:bedrock:[^:]*:[^:]*:(?:foundation-model|inference-profile)/(.+)$"
)
_FAILED: Final = frozenset({"failed", "failure", "error"})


def record_to_call(record: dict[str, Any], fallback_key: str, event_time: dt.datetime | None = None) -> Call:
    """One invocation log record as a Call. ``fallback_key`` names the record when it has no requestId."""
    request_id = to_str(record.get("requestId"))
    trace_id, span_id = ids_for_key(request_id or fallback_key)
    operation = to_str(record.get("operation"))
    model_id = to_str(record.get("modelId"))
    request, response = as_dict(record.get("input")), as_dict(record.get("output"))
    body = response.get("outputBodyJson")
    call = Call(
        trace_id,
        span_id,
        kind=SpanKind.LLM,
        provider=PROVIDER,
        operation=operation,
        request_model=_model_name(model_id),
        response_id=request_id,
        stream=(operation or "").endswith("Stream"),
        source=Source.BEDROCK_LOG,
        source_record=content_free(record),
    )
    gen_ai_operation = _gen_ai_operation(operation or "", model_id, request.get("inputBodyJson"))
    if gen_ai_operation is not None:
        call.attributes[GEN_AI_OPERATION_NAME] = gen_ai_operation
    call.name = " ".join(part for part in (gen_ai_operation, call.request_model) if part)
    views = _views(body)
    _set_usage(call, request, response, views)
    _set_timing(call, to_time(record.get("timestamp")) or event_time, body, views)
    _set_outcome(call, record, body, views)
    _set_request_metadata(call, record.get("requestMetadata"))
    _set_attributes(call, record, request, response)
    if request.get("inputBodyJson") is not None:
        call.prompt_chars = text_chars(request["inputBodyJson"])
    derive_rate(call)
    return call


def _gen_ai_operation(operation: str, model_id: str | None, body: Any) -> str | None:
    """The GenAI operation name (``chat``, ``embeddings``, ...) a Bedrock API call amounts to."""
    if operation in _OPERATIONS:
        return _OPERATIONS[operation]
    if not operation.startswith("InvokeModel"):
        return operation or None
    fields = as_dict(body)
    if "embed" in (model_id or "").lower():
        return "embeddings"
    if "messages" in fields:
        return "chat"
    if "taskType" in fields or "text_prompts" in fields:
        return "generate_content"
    if "prompt" in fields or "inputText" in fields:
        return "text_completion"
    return "chat"


def _model_name(model_id: str | None) -> str | None:
    match = _MODEL_ARN.match(model_id or "")
    return match.group(1) if match else model_id


def _views(body: Any) -> list[dict[str, Any]]:
    """The dicts where response facts live: each chunk (or the body), its dict members, and the first dict
    of each list member (``results[0]``, ``choices[0]``)."""
    views: list[dict[str, Any]] = []
    for chunk in body if isinstance(body, list) else [body]:
        if not isinstance(chunk, dict):
            continue
        views.append(chunk)
        for value in chunk.values():
            if isinstance(value, dict):
                views.append(value)
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                views.append(value[0])
    return views


def _last(views: list[dict[str, Any]], get: Callable[[dict[str, Any]], T | None]) -> T | None:
    for view in reversed(views):
        found = get(view)
        if found is not None:
            return found
    return None


def _invocation_metrics(views: list[dict[str, Any]]) -> dict[str, Any]:
    metrics = _last(views, lambda view: view.get("amazon-bedrock-invocationMetrics"))
    return as_dict(metrics)


# The record's own counter, then the spellings the bodies use (Converse and Nova, Anthropic, Llama, Titan).
# Every input count here leaves the cache out.
_COUNTS: Final = {
    "input": ("inputTokenCount", "inputTokens", "input_tokens", "prompt_token_count", "inputTextTokenCount"),
    "cache_read": ("cacheReadInputTokenCount", "cacheReadInputTokens", "cache_read_input_tokens"),
    "cache_write": ("cacheWriteInputTokenCount", "cacheWriteInputTokens", "cache_creation_input_tokens"),
    "output": ("outputTokenCount", "outputTokens", "output_tokens", "generation_token_count", "tokenCount"),
}


def _set_usage(
    call: Call, request: dict[str, Any], response: dict[str, Any], views: list[dict[str, Any]]
) -> None:
    metrics = _invocation_metrics(views)

    def count(section: dict[str, Any], kind: str) -> int | None:
        names = _COUNTS[kind]
        found = to_int(section.get(names[0]))
        found = to_int(metrics.get(names[0])) if found is None else found
        return _last(views, lambda view: _body_count(view, names)) if found is None else found

    base = count(request, "input")
    call.cache_read_tokens = count(request, "cache_read")
    call.cache_write_tokens = count(request, "cache_write")
    call.output_tokens = count(response, "output")
    parts = [n for n in (base, call.cache_read_tokens, call.cache_write_tokens) if n is not None]
    call.input_tokens = sum(parts) if parts else None


def _body_count(view: dict[str, Any], names: tuple[str, ...]) -> int | None:
    """The first of ``names`` with a count, in the view's ``usage`` or in the view itself."""
    for place in (as_dict(view.get("usage")), view):
        for name in names:
            found = to_int(place.get(name))
            if found is not None:
                return found
    return None


def _set_timing(call: Call, start: dt.datetime | None, body: Any, views: list[dict[str, Any]]) -> None:
    metrics = _invocation_metrics(views)
    latency = to_float(metrics.get("invocationLatency"))
    if latency is None:
        latency = _last(views, lambda view: to_float(as_dict(view.get("metrics")).get("latencyMs")))
    call.duration_ms = latency
    if call.stream:
        call.ttft_ms = to_float(metrics.get("firstByteLatency"))
        call.ttlt_ms = latency
        if latency is not None and call.ttft_ms is not None:
            call.stream_duration_ms = max(latency - call.ttft_ms, 0.0)
        call.chunks = len(body) if isinstance(body, list) else None
    place_in_time(call, start, None)


def _stop_reason(view: dict[str, Any]) -> str | None:
    for key in ("stopReason", "stop_reason", "completionReason", "finish_reason"):
        found = to_str(view.get(key))
        if found is not None:
            return found
    return None


def _set_outcome(call: Call, record: dict[str, Any], body: Any, views: list[dict[str, Any]]) -> None:
    code = to_str(record.get("errorCode")) or _stream_exception(body)
    if code is not None:
        call.status, call.error_class = "error", classify_error(code, None, PROVIDER)
        call.attributes["error.type"] = code
    elif (to_str(record.get("status")) or "").lower() in _FAILED:
        call.status, call.error_class = "error", ErrorClass.OTHER
    call.stop_reason = _last(views, _stop_reason)
    if body is not None:
        names = tool_use_names(body)
        call.tool_names = list(dict.fromkeys(names))
        call.tool_calls = len(names)


def _stream_exception(body: Any) -> str | None:
    """The exception event a stream ended with (``{"throttlingException": {...}}``), as a code."""
    for chunk in reversed(body if isinstance(body, list) else []):
        for key in chunk if isinstance(chunk, dict) else ():
            if isinstance(key, str) and key.endswith("Exception"):
                return key[:1].upper() + key[1:]
    return None


def tool_use_names(value: Any, depth: int = 0) -> list[str]:
    """Names of the tools the model asked for: Converse ``toolUse`` blocks (and stream starts), Anthropic
    ``tool_use`` blocks, OpenAI-style ``function`` tool calls."""
    if depth > 12:
        return []
    if isinstance(value, list):
        return [name for item in value for name in tool_use_names(item, depth + 1)]
    if not isinstance(value, dict):
        return []
    name = _tool_name(value)
    if name is not None:
        return [name]
    return [
        n for item in value.values() if isinstance(item, dict | list) for n in tool_use_names(item, depth + 1)
    ]


def _tool_name(block: dict[str, Any]) -> str | None:
    use = block.get("toolUse")
    if isinstance(use, dict) and isinstance(use.get("name"), str):
        return str(use["name"])
    if block.get("type") in ("tool_use", "server_tool_use") and isinstance(block.get("name"), str):
        return str(block["name"])
    function = block.get("function")
    if (
        block.get("type") == "function"
        and isinstance(function, dict)
        and isinstance(function.get("name"), str)
    ):
        return str(function["name"])
    return None


def _set_request_metadata(call: Call, metadata: Any) -> None:
    if not isinstance(metadata, dict):
        return
    pairs = ((str(key), metadata_value(value)) for key, value in metadata.items())
    call.metadata = {key: value for key, value in pairs if value is not None}
    set_labels(call, labels_from(call.metadata.items()))


def _set_attributes(
    call: Call, record: dict[str, Any], request: dict[str, Any], response: dict[str, Any]
) -> None:
    model_id = to_str(record.get("modelId"))
    facts = {
        "aws.region": record.get("region"),
        "aws.account.id": record.get("accountId"),
        "aws.identity.arn": as_dict(record.get("identity")).get("arn"),
        "aws.inference_region": record.get("inferenceRegion"),
        "aws.bedrock.model_id": model_id if model_id != call.request_model else None,
        "aws.bedrock.schema_version": record.get("schemaVersion"),
        "aws.bedrock.status": record.get("status"),
        "aws.bedrock.performance_latency": as_dict(record.get("performanceConfig")).get("latency"),
        "aws.bedrock.input_body_s3_path": request.get("inputBodyS3Path"),
        "aws.bedrock.output_body_s3_path": response.get("outputBodyS3Path"),
    }
    for name, value in facts.items():
        text = to_str(value)
        if text is not None:
            call.attributes[name] = text
