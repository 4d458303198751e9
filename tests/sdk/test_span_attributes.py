"""`call.add_attributes`: what is read after a call reaches its span as the OpenTelemetry SDK would have
stored it, straight into the span when no check is needed, through the SDK's checks otherwise; and a
sampler that may decide on attributes is shown those known when the call began (`call.reads_attributes`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import SpanLimits, TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

from tokentrail import semconv as sc
from tokentrail.sdk.call import add_attributes, reads_attributes

from .conftest import Recorder, isolated

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


class Remembering(Sampler):
    """A sampler that decides on attributes: it keeps those it is shown and samples every span with them
    (a span starts with the attributes its sampler returns, as the SDK's samplers do)."""

    def __init__(self) -> None:
        self.shown: list[dict[str, Any]] = []

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        attributes = kwargs.get("attributes", args[4] if len(args) > 4 else None)
        self.shown.append(dict(attributes or {}))
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "Remembering"


@dataclasses.dataclass
class Keyed(Remembering):
    """A sampler with a field, as a dataclass: compared by value, so not hashable."""

    rate: float = 1.0


@pytest.mark.parametrize(
    ("sampler", "reads"),
    [
        (sampling.ALWAYS_ON, False),
        (sampling.ALWAYS_OFF, False),
        (sampling.TraceIdRatioBased(0.5), False),
        (sampling.DEFAULT_ON, False),  # the SDK's default: parent-based, always on at the root
        (sampling.ParentBasedTraceIdRatio(0.25), False),
        (sampling.ParentBased(sampling.ALWAYS_OFF), False),
        (Remembering(), True),
        (sampling.ParentBased(Remembering()), True),
        (sampling.ParentBased(sampling.ALWAYS_ON, remote_parent_sampled=Remembering()), True),
        (Keyed(), True),
        (sampling.ParentBased(Keyed()), True),
        (None, True),  # not the OpenTelemetry SDK's tracer
    ],
)
def test_only_samplers_that_may_read_attributes_are_shown_them(sampler: Any, reads: bool) -> None:
    assert reads_attributes(sampler) is reads


def test_a_sampler_that_reads_attributes_is_shown_those_known_at_the_start(rec: Recorder) -> None:
    tt, memory = isolated()
    remembering = Remembering()
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        tt.instrument_openai(client)
        tt.tracer.sampler = remembering  # type: ignore[attr-defined]  # the SDK tracer's sampler
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert tt.force_flush(10)
        tt.uninstrument()
    (shown,) = remembering.shown
    assert shown[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini" and shown[sc.GEN_AI_PROVIDER_NAME] == "openai"
    (span,) = memory.get_finished_spans()
    stored = dict(span.attributes or {})
    assert {k: (v, stored.get(k)) for k, v in shown.items() if stored.get(k) != v} == {}
    assert (span.attributes or {})[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0  # and what was read after the call
