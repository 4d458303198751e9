"""Importer for application log lines carrying ``METRIC|key=value|key=value...``.

Examples::

    2025-01-15 14:30:00,123 INFO app: METRIC|event=span|name=ask_llm_total|ms=812|provider=openai|model=gpt-4o
    METRIC|event=request|path=/api/chat/x|provider=bedrock|model=claude|ms_total=1234|ts=2025-01-15T14:30:01Z

Lines without ``METRIC|`` are ignored (they are other log output, not problems). A ``METRIC|`` line with no
``key=value`` pair is a problem.

Mapping decisions:

- Time: an ISO-8601 or ``YYYY-MM-DD HH:MM:SS,mmm`` timestamp in the text before ``METRIC|``, else a
  ``ts``/``time``/``timestamp`` key (ISO-8601 or epoch), else the file's mtime, marked with the attribute
  ``tokentrail.import.time_source = file_mtime``. A timestamp without a zone is UTC. The timestamp is taken
  as the END of the span (the line is logged when the span finishes); start = end - duration.
- ``ms``/``ms_total``/``latency_ms``/``duration_ms`` -> duration_ms; provider is normalised; the flat-field
  rules of `_fields` apply (tokens, status, error class, labels).
- ``path`` stays in the attributes and is also the ``feature`` when the line has no feature key.
- kind: a ``kind`` key wins; ``event=request`` is a ``chain`` span (a request wraps LLM calls and other
  work, so its latency is not an LLM latency, and counting it as a call would count its LLM call twice),
  even when it names a model; ``event=llm|tool|agent|chain`` give that kind; otherwise a line naming a model
  or provider, or whose name looks like an LLM call (``llm``, ``chat``, ``gpt``, ``claude``...), is ``llm``;
  the rest is ``other``.
- Ids derive from the file path, line number and a hash of the line, so a re-import adds nothing; a
  ``request_id`` key groups the lines of one request into one trace.
- Every other key is kept in ``attributes`` (text cut to 500 characters).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from tokentrail.ingest.values import to_str, to_time
from tokentrail.model import Call, Source, SpanKind

from ._common import ByteMeter, ProblemSink, clip, derive_rate, read_lines
from ._fields import Flat, apply_flat, flat_ids, flat_times, place_flat, span_kind

MARKER: Final = "METRIC|"
_PREFIX_TIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:\s?(?:Z|[+-]\d{2}:?\d{2}))?(?![\d:])"
)
_LLM_NAME: Final = re.compile(
    r"llm|gpt|claude|chat|complet|bedrock|openai|anthropic|gemini|mistral|llama|embed|generat|converse|invoke",
    re.IGNORECASE,
)


def wanted(path: Path) -> bool:
    """Any file found when walking a directory (rotated logs have no fixed suffix)."""
    return True


def excluded(path: Path) -> bool:
    return False


def iter_file(path: Path, problems: ProblemSink, meter: ByteMeter | None = None) -> Iterator[Call]:
    """The calls of one file; bad ``METRIC|`` lines are reported to ``problems`` and skipped."""
    return read_lines(path, problems, meter, parse_line, _has_marker)


def _has_marker(line: str) -> bool:
    return MARKER in line


def parse_line(line: str, key: str, mtime: dt.datetime) -> Call:
    """One ``...METRIC|k=v|...`` line as a Call; ``key`` names the line, ``mtime`` is the fallback time."""
    line = line.rstrip("\r\n")
    at = line.index(MARKER)
    pairs, extra = _pairs(line[at + len(MARKER) :])
    if not pairs:
        raise ValueError("METRIC line has no key=value pairs")
    flat = Flat(pairs)
    trace_id, span_id, parent = flat_ids(flat, key)
    call = Call(trace_id, span_id, parent_span_id=parent, source=Source.METRIC_LINE)
    apply_flat(call, flat)
    call.kind = _kind(flat, call)
    call.name = _name(flat)
    if call.feature is None:
        call.feature = to_str(flat.values.get("path"))
    start, end = flat_times(flat)
    place_flat(call, start, _prefix_time(line[:at]) or end, mtime)
    derive_rate(call)
    call.attributes.update(flat.leftovers())
    if extra:
        call.attributes["metric.extra"] = extra
    return call


def _pairs(body: str) -> tuple[dict[str, str], list[str]]:
    """``k=v`` parts (values unquoted) and the parts without ``=``."""
    pairs: dict[str, str] = {}
    extra: list[str] = []
    for part in body.split("|"):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if sep and key:
            pairs[key] = _unquote(value)
        elif part.strip():
            extra.append(clip(part.strip()))
    return pairs, extra


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _prefix_time(prefix: str) -> dt.datetime | None:
    match = _PREFIX_TIME.search(prefix)
    return to_time(re.sub(r"\s(?=[Z+-])", "", match.group())) if match else None


def _kind(flat: Flat, call: Call) -> SpanKind:
    explicit = flat.take(("kind", "span_kind"), span_kind)
    if explicit is not None:
        return explicit
    event = (to_str(flat.values.get("event")) or "").lower()
    if event == "request":
        return SpanKind.CHAIN
    if (kind := span_kind(event)) is not None:
        return kind
    if call.request_model or call.response_model or call.provider:
        return SpanKind.LLM
    name = to_str(flat.values.get("name")) or ""
    return SpanKind.LLM if _LLM_NAME.search(name) else SpanKind.OTHER


def _name(flat: Flat) -> str:
    name = flat.take(("name", "span", "span_name"), to_str)
    if name is not None:
        return name
    path = to_str(flat.values.get("path"))
    method = to_str(flat.values.get("method"))
    if path is not None:
        return f"{method} {path}" if method else path
    return to_str(flat.values.get("event")) or "metric"
