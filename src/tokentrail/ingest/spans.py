"""OTLP spans → Calls, with the limits and corrections the collector applies to each span.

A client's mistake in one span never fails the request: the span is rejected (unusable ids) or stored
with a correction, and both are counted in the response's `partial_success` (`Report.message`).
Corrections:
- a token count or measure that is NaN, infinite or beyond ±2^53 is dropped (stored as null);
- a start time more than a day after the request arrived is set to the time it arrived, an end time
  before the start is set to the start, and one more than a day in the future is set to the start;
- attributes past the first MAX_ATTRIBUTES of a span are not read; a stored attribute whose value is
  longer than MAX_VALUE_CHARS (as JSON) is dropped;
- only the first MAX_EVENTS_READ span events are read (to find the first token); events are not stored.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tokentrail import semconv as sc
from tokentrail.ingest import normalize as nz
from tokentrail.ingest.values import to_float, to_int
from tokentrail.model import Call

MAX_ATTRIBUTES = 1024
MAX_VALUE_CHARS = 16 * 1024
MAX_EVENTS_READ = 1000
MAX_FUTURE = dt.timedelta(days=1)

INT_KEYS = (
    *nz.INPUT_KEYS,
    *nz.OUTPUT_KEYS,
    *nz.CACHE_READ_KEYS,
    *nz.CACHE_WRITE_KEYS,
    *nz.REASONING_KEYS,
    sc.TT_CHUNKS,
    sc.TT_ATTEMPTS,
    sc.TT_HTTP_STATUS,
    sc.HTTP_RESPONSE_STATUS_CODE,
    sc.TT_PROMPT_CHARS,
)
FLOAT_KEYS = (
    sc.TT_TTFT_MS,
    sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    sc.TT_TTLT_MS,
    sc.TT_STREAM_DURATION_MS,
    sc.TT_ITL_P50_MS,
    sc.TT_ITL_P95_MS,
    sc.TT_ITL_MAX_MS,
    sc.TT_OUTPUT_TOKENS_PER_S,
    sc.TT_COMPRESSION_RATIO,
)

NUMBER_READERS = [(key, to_int) for key in INT_KEYS] + [(key, to_float) for key in FLOAT_KEYS]


class Report:
    """Spans rejected and spans corrected, counted by reason, for `partial_success`."""

    def __init__(self) -> None:
        self.rejected: collections.Counter[str] = collections.Counter()
        self.corrected: collections.Counter[str] = collections.Counter()

    @property
    def rejected_count(self) -> int:
        return sum(self.rejected.values())

    def message(self) -> str:
        parts = []
        if self.rejected:
            parts.append(f"rejected {self.rejected_count} span(s): {_reasons(self.rejected)}")
        if self.corrected:
            parts.append(f"accepted with corrections: {_reasons(self.corrected)}")
        return "; ".join(parts)


def _reasons(counts: collections.Counter[str]) -> str:
    return ", ".join(f"{reason} ({n})" for reason, n in counts.most_common())


def _looks_numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def unusable_numbers(attrs: Mapping[str, Any]) -> list[str]:
    """The numeric attributes the normaliser has to drop: non-finite or out of range."""
    return [
        key
        for key, read in NUMBER_READERS
        if key in attrs and read(attrs[key]) is None and _looks_numeric(attrs[key])
    ]


def fix_times(call: Call, received_at: dt.datetime) -> list[str]:
    fixes = []
    assert call.start_time is not None and call.end_time is not None
    if call.start_time > received_at + MAX_FUTURE:
        call.start_time = received_at
        fixes.append("start time over a day in the future set to the time received")
    if call.end_time < call.start_time:
        call.end_time = call.start_time
        fixes.append("end time before start set to the start")
    elif call.end_time > received_at + MAX_FUTURE:
        call.end_time = call.start_time
        fixes.append("end time over a day in the future set to the start")
    if fixes:
        call.duration_ms = (call.end_time - call.start_time) / dt.timedelta(milliseconds=1)
    return fixes


def _oversized(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) > MAX_VALUE_CHARS
    return isinstance(value, list | dict) and len(json.dumps(value, default=str)) > MAX_VALUE_CHARS


def drop_oversized(call: Call) -> list[str]:
    big = [key for key, value in call.attributes.items() if _oversized(value)]
    for key in big:
        del call.attributes[key]
    return ["attribute value over 16 KiB dropped"] if big else []


def span_to_call(span: Span, resource: Mapping[str, Any], received_at: dt.datetime) -> tuple[Call, list[str]]:
    """The span as a Call, and the corrections made to it."""
    fixes = []
    if len(span.attributes) > MAX_ATTRIBUTES:
        fixes.append(f"attributes past the first {MAX_ATTRIBUTES} ignored")
    attrs = nz.attributes_dict(span.attributes[:MAX_ATTRIBUTES])
    fixes += [f"{key} not a finite number in range, dropped" for key in unusable_numbers(attrs)]
    call = nz.to_call(
        attrs,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() or None,
        name=span.name,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        status_code=span.status.code,
        events=[(e.name, e.time_unix_nano) for e in span.events[:MAX_EVENTS_READ]],
        resource=resource,
        received_at=received_at,
    )
    return call, fixes + fix_times(call, received_at) + drop_oversized(call)


def valid_ids(span: Span) -> str | None:
    """Why a span must be rejected, or None when its ids are usable."""
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return "trace_id must be 16 non-zero bytes"
    if len(span.span_id) != 8 or not any(span.span_id):
        return "span_id must be 8 non-zero bytes"
    return None


def count_spans(request: Any) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def request_to_calls(request: Any, received_at: dt.datetime) -> tuple[list[Call], Report]:
    """All usable spans of an ExportTraceServiceRequest as Calls, and what was rejected or corrected."""
    calls: list[Call] = []
    report = Report()
    for resource_spans in request.resource_spans:
        resource = nz.attributes_dict(resource_spans.resource.attributes[:MAX_ATTRIBUTES])
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                problem = valid_ids(span)
                if problem:
                    report.rejected[problem] += 1
                    continue
                call, fixes = span_to_call(span, resource, received_at)
                if fixes:
                    report.corrected.update(dict.fromkeys(fixes, 1))  # once per span, in the order found
                calls.append(call)
    return calls, report
