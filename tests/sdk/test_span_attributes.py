"""`call.add_attributes`: what is read after a call reaches its span as the OpenTelemetry SDK would have
stored it, straight into the span when no check is needed, through the SDK's checks otherwise."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tokentrail.sdk.call import add_attributes

ENDED = {
    "count": 3,
    "ratio": 0.5,
    "flag": True,
    "model": "gpt-4o-mini-2024-07-18",
    "offsets": [1.5, 2.25, 4.0],  # a list, as `stream.timeline` makes it
    "reasons": ("stop",),
}


def record(attrs: dict[str, Any], limits: SpanLimits | None = None) -> dict[str, Any]:
    """The attributes of a span started with one attribute, given `attrs` by `add_attributes`, and ended."""
    sink = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(sink))
    span = provider.get_tracer("test").start_span("chat", attributes={"start": "known"})
    add_attributes(span, attrs)
    span.end()
    (finished,) = sink.get_finished_spans()
    return dict(finished.attributes or {})


def sdk_record(attrs: dict[str, Any], limits: SpanLimits | None = None) -> dict[str, Any]:
    """The same through the SDK's own ``set_attributes``: what `add_attributes` must match."""
    sink = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(sink))
    span = provider.get_tracer("test").start_span("chat", attributes={"start": "known"})
    span.set_attributes(attrs)
    span.end()
    (finished,) = sink.get_finished_spans()
    return dict(finished.attributes or {})


def test_plain_values_are_stored_as_the_sdk_stores_them() -> None:
    stored = record(ENDED)
    assert stored == sdk_record(ENDED)
    assert stored["offsets"] == (1.5, 2.25, 4.0) and isinstance(stored["offsets"], tuple)
    assert stored["start"] == "known"


def test_other_values_go_through_the_sdks_checks() -> None:
    odd = {"nested": [1, "a"], "maybe": [1, None], "dict": {"a": 1}}
    assert record({**ENDED, **odd}) == sdk_record({**ENDED, **odd})


def test_span_limits_are_kept() -> None:
    cut = SpanLimits(max_attribute_length=4)
    assert record(ENDED, cut)["model"] == "gpt-"
    assert record(ENDED, cut) == sdk_record(ENDED, cut)
    few = SpanLimits(max_span_attributes=3)
    stored = record(ENDED, few)
    assert len(stored) == 3 and stored == sdk_record(ENDED, few)
