"""Importer for per-call JSONL: one JSON object per line, one LLM call per object.

Examples::

    {"ts": "2025-01-15T14:30:00Z", "feature": "search", "model": "gpt-4o-mini", "latency_ms": 812,
     "input": 1200, "output": 85, "cache_read": 1024, "stop_reason": "stop"}
    {"ts": "2025-01-15T14:30:02Z", "feature": "search", "error": "RateLimitError", "msg": "Rate limit..."}

Keys follow the flat-field rules of `_fields` (common spellings are accepted: ``input_tokens``,
``prompt_tokens``, ``completion_tokens``, ``latency_ms``, ``ttft_ms``, ``provider``, ``tenant``, ``app``,
``cost_usd``...). Besides:

- A nested ``usage`` object (OpenAI or Anthropic shape) is read as if its keys were top-level.
- ``metadata``/``labels``/``tags`` objects become the ``metadata`` column (string to string); known labels
  in them fill label columns that top-level keys left empty.
- ``error`` holding an exception class name (``RateLimitError``, ``openai.APITimeoutError``) makes the call
  an error, classified by that name; ``msg`` is free text, kept in attributes (500 characters at most).
- ``ts``/``timestamp``/``time`` is the END of the call; ``start_time``/``end_time`` are taken as named.
  With no time at all, the file's mtime is used and the attribute ``tokentrail.import.time_source`` says so.
- ``cost_usd`` is kept with ``price_source = 'imported'``.
- kind is ``llm`` unless a ``kind`` key says otherwise; the name is ``name`` or "<operation> <model>".
- Ids derive from the file path, line number and a hash of the line (valid ``trace_id``/``span_id`` in the
  record win; a ``request_id`` groups lines into one trace), so a re-import adds nothing.
- Prompt and response text (``input``/``output`` strings, ``prompt``, ``messages``...) is never kept; the
  prompt's length goes to ``prompt_chars``. Other keys go to ``attributes``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from tokentrail.ingest.values import to_str
from tokentrail.model import Call, Source, SpanKind

from ._common import ByteMeter, ProblemSink, derive_rate, has_suffix, metadata_value, read_lines
from ._fields import (
    Flat,
    apply_flat,
    flat_ids,
    flat_times,
    labels_from,
    norm_key,
    place_flat,
    set_labels,
    span_kind,
)

_SUFFIXES: Final = (".jsonl", ".ndjson", ".json", ".log", ".txt")
_METADATA_KEYS: Final = frozenset({"metadata", "labels", "tags", "request_metadata"})


def wanted(path: Path) -> bool:
    """Files taken when walking a directory: JSON lines, JSON, logs and text, gzipped or not."""
    return has_suffix(path, _SUFFIXES)


def excluded(path: Path) -> bool:
    return False


def iter_file(path: Path, problems: ProblemSink, meter: ByteMeter | None = None) -> Iterator[Call]:
    """The calls of one file; bad lines are reported to ``problems`` and skipped (blank lines are no
    problem)."""
    return read_lines(path, problems, meter, parse_record, str.strip)


def parse_record(line: str, key: str, mtime: dt.datetime) -> Call:
    """One JSONL line as a Call; ``key`` names the line, ``mtime`` is the fallback time."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    fields, metadata = _split(record)
    flat = Flat(fields)
    trace_id, span_id, parent = flat_ids(flat, key)
    call = Call(trace_id, span_id, parent_span_id=parent, source=Source.JSONL, metadata=metadata)
    apply_flat(call, flat)
    set_labels(call, labels_from(metadata.items()))
    call.kind = flat.take(("kind", "span_kind"), span_kind) or SpanKind.LLM
    call.name = flat.take(("name", "span_name"), to_str) or _default_name(call)
    start, end = flat_times(flat)
    place_flat(call, start, end, mtime)
    derive_rate(call)
    call.attributes.update(flat.leftovers())
    return call


def _split(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Top-level fields with ``usage`` merged in, and the string metadata of metadata-like objects."""
    fields: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    usage: dict[str, Any] = {}
    for key, value in record.items():
        name = norm_key(key)
        if name in _METADATA_KEYS and isinstance(value, dict):
            metadata.update(
                {str(k): text for k, v in value.items() if (text := metadata_value(v)) is not None}
            )
        elif name == "usage" and isinstance(value, dict):
            usage = _flatten_usage(value)
        else:
            fields[key] = value
    for key, value in usage.items():
        fields.setdefault(key, value)
    return fields, metadata


def _flatten_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Usage counters, with one level of detail objects (``prompt_tokens_details.cached_tokens``) lifted."""
    flat = {key: value for key, value in usage.items() if not isinstance(value, dict)}
    for value in usage.values():
        if isinstance(value, dict):
            for key, inner in value.items():
                flat.setdefault(key, inner)
    return flat


def _default_name(call: Call) -> str:
    return " ".join(part for part in (call.operation, call.request_model) if part) or "llm"
