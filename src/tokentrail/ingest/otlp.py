"""Decoding OTLP/HTTP request bodies (protobuf or JSON, optionally gzip) into protobuf messages.

The OTLP JSON mapping differs from plain proto3 JSON in one way that matters here: trace and span ids are
hex strings, not base64. They are converted before `json_format.ParseDict`, which then accepts 64-bit
integers as strings or numbers, enums as integers, and ignores unknown fields.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tokentrail.exceptions import InputError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
DEFAULT_MAX_BODY = 64 * 1024 * 1024

M = TypeVar("M", bound=Message)

__all__ = [
    "JSON",
    "PROTOBUF",
    "BadPayload",
    "ExportLogsServiceRequest",
    "ExportLogsServiceResponse",
    "ExportMetricsServiceRequest",
    "ExportMetricsServiceResponse",
    "ExportTraceServiceRequest",
    "ExportTraceServiceResponse",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "decode",
    "encode_response",
    "gunzip",
    "media_type",
]


class BadPayload(InputError):
    """The body could not be decoded (HTTP 400)."""


class PayloadTooLarge(InputError):
    """The body, after decompression, is over the limit (HTTP 413)."""


class UnsupportedMediaType(InputError):
    """Neither protobuf nor JSON (HTTP 415)."""


def media_type(content_type: str | None) -> str:
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base in (PROTOBUF, JSON):
        return base
    raise UnsupportedMediaType(f"unsupported content type {content_type!r}; use {PROTOBUF} or {JSON}")


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body, refusing to inflate past `limit` bytes."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadPayload(f"invalid gzip body: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body exceeds {limit} bytes")
    if not inflater.eof:
        raise BadPayload("truncated gzip body")
    return out


def decode(body: bytes, kind: str, message_type: type[M]) -> tuple[M, int]:
    """An Export*ServiceRequest from protobuf or OTLP JSON bytes, and how many JSON attribute values
    nested past MAX_VALUE_DEPTH were cut (protobuf has its own limit of 100 nested messages: 400)."""
    message: M = message_type()
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise BadPayload(f"invalid protobuf body: {exc}") from None
        return message, 0
    data = _load_json(body)
    try:
        cut = _prepare_json(data)
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except RecursionError:
        raise BadPayload("JSON body nested too deeply") from None
    except (json_format.ParseError, BadPayload, ValueError, TypeError) as exc:
        raise BadPayload(f"invalid OTLP JSON: {exc}") from None
    return message, cut


def _load_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise BadPayload("JSON body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BadPayload(f"invalid JSON body at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise BadPayload("JSON body nested too deeply") from None
    if not isinstance(data, dict):
        raise BadPayload("JSON body must be an object")
    return data


_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_NESTING_KEYS = frozenset({"arrayValue", "kvlistValue", "array_value", "kvlist_value"})
MAX_VALUE_DEPTH = 16
CUT_VALUE = f"[nested deeper than {MAX_VALUE_DEPTH} levels: cut]"


def _prepare_json(data: dict[str, Any]) -> int:
    """Re-encode hex ids as base64 (json_format expects base64 for bytes) and replace attribute values
    (AnyValue arrays and key-value lists) nested past MAX_VALUE_DEPTH; returns how many were cut.
    Iterative, so no nesting depth reaches Python's recursion limit."""
    cut = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, list):
            stack.extend((item, depth) for item in node if isinstance(item, dict | list))
            continue
        if not _NESTING_KEYS.isdisjoint(node):
            depth += 1
            if depth > MAX_VALUE_DEPTH:
                node.clear()
                node["stringValue"] = CUT_VALUE
                cut += 1
                continue
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = _hex_to_b64(key, value)
            elif isinstance(value, dict | list):
                stack.append((value, depth))
    return cut


def _hex_to_b64(key: str, value: str) -> str:
    if value == "":
        return ""
    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except ValueError:
        raise BadPayload(f"{key} {value[:40]!r} is not a hex string") from None


def encode_response(message: Message, kind: str) -> bytes:
    if kind == PROTOBUF:
        return bytes(message.SerializeToString())
    return json.dumps(json_format.MessageToDict(message, use_integers_for_enums=True)).encode()
