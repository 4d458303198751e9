"""Property-based fuzzing (hypothesis) of the OTLP decoder, the normaliser and the query parser.

Bounded: few examples and no per-example deadline, so the suite stays fast on a shared machine. What
holds for any input: the decoder raises only its own 4xx errors, a decoded request always becomes an
Arrow table (rejections and corrections are reported, never raised), the query language raises only
QueryError.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from support import make_request, make_span
from tokentrail.ingest import otlp
from tokentrail.ingest.normalize import MAPPED_KEYS
from tokentrail.ingest.pipeline import Pipeline
from tokentrail.query import QueryError, compile_query

BOUNDED = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
PIPELINE = Pipeline(None, max_spans=1000)
VALID = make_request([make_span({"gen_ai.usage.input_tokens": 5})]).SerializeToString()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)


def decodes_or_refuses(body: bytes, kind: str) -> None:
    with contextlib.suppress(otlp.BadPayload, otlp.PayloadTooLarge):
        PIPELINE.traces(body, kind)


@BOUNDED
@given(st.binary(max_size=2000))
def test_random_protobuf_bytes(body: bytes) -> None:
    decodes_or_refuses(body, otlp.PROTOBUF)


@BOUNDED
@given(st.integers(0, len(VALID)), st.binary(max_size=50))
def test_truncated_and_spliced_protobuf(cut: int, junk: bytes) -> None:
    decodes_or_refuses(VALID[:cut] + junk, otlp.PROTOBUF)


@BOUNDED
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    decodes_or_refuses(json.dumps(value).encode(), otlp.JSON)
    decodes_or_refuses(
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [value]}]}]}).encode(), otlp.JSON
    )


any_values = st.recursive(
    st.builds(AnyValue, string_value=st.text(max_size=30))
    | st.builds(AnyValue, int_value=st.integers(-(2**63), 2**63 - 1))
    | st.builds(AnyValue, double_value=st.floats())
    | st.builds(AnyValue, bool_value=st.booleans())
    | st.builds(AnyValue, bytes_value=st.binary(max_size=10)),
    lambda inner: st.lists(inner, max_size=3).map(
        lambda items: AnyValue(array_value={"values": items})  # type: ignore[arg-type]
    ),
    max_leaves=10,
)
keys = st.sampled_from(sorted(MAPPED_KEYS)) | st.text(max_size=20)
u64 = st.integers(0, 2**64 - 1)


@st.composite
def spans(draw: st.DrawFn) -> Span:
    span = Span(
        trace_id=draw(st.binary(min_size=0, max_size=17)),
        span_id=draw(st.binary(min_size=0, max_size=9)),
        name=draw(st.text(max_size=30)),
        start_time_unix_nano=draw(u64),
        end_time_unix_nano=draw(u64),
    )
    attrs = draw(st.dictionaries(keys, any_values, max_size=12))
    span.attributes.extend(KeyValue(key=k, value=v) for k, v in attrs.items())
    for name, at in draw(st.lists(st.tuples(st.text(max_size=15), u64), max_size=3)):
        span.events.add(name=name, time_unix_nano=at)
    span.status.code = draw(st.integers(0, 2))
    return span


@BOUNDED
@given(st.lists(spans(), min_size=1, max_size=5))
def test_any_span_becomes_a_row_or_a_reported_rejection(drawn: list[Span]) -> None:
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=drawn)])])
    table, rejected, message = PIPELINE.traces(request.SerializeToString(), otlp.PROTOBUF)
    assert table.num_rows + rejected == len(drawn)
    assert (rejected == 0) or message.startswith(f"rejected {rejected} span(s)")
    for start, end in zip(
        table.column("start_time").to_pylist(), table.column("end_time").to_pylist(), strict=True
    ):
        assert end >= start


query_words = st.sampled_from(
    [
        "fields",
        "filter",
        "stats",
        "sort",
        "limit",
        "parse",
        "display",
        "dedup",
        "by",
        "as",
        "count(*)",
        "sum(cost_usd)",
        "bin(5m)",
        "|",
        "=",
        "!=",
        "like",
        "/a(b+)+c/",
        "'x'",
        '"y"',
        "`f`",
        "and",
        "or",
        "not",
        "(",
        ")",
        ",",
        "99999999999999999999",
        "1e400",
        "-",
        "*",
        "feature",
        "model",
        "desc",
        "@timestamp",
    ]
)


@BOUNDED
@given(st.text(max_size=120) | st.lists(query_words, max_size=25).map(" ".join))
def test_query_language_raises_only_query_errors(text: str) -> None:
    for dialect in ("duckdb", "clickhouse"):
        with contextlib.suppress(QueryError):
            compile_query(text, dialect=dialect)


def _not_scalar(key: str, kind: str) -> KeyValue:
    value = AnyValue()
    if kind == "list":
        value.array_value.values.extend([AnyValue(string_value="chat"), AnyValue(int_value=2)])
    else:
        value.kvlist_value.values.append(KeyValue(key="a", value=AnyValue(string_value="b")))
    return KeyValue(key=key, value=value)


@pytest.mark.parametrize("kind", ["list", "map"])
def test_a_list_or_map_under_any_key_the_normaliser_reads_is_stored_not_raised(kind: str) -> None:
    """A list or a map where a name or a number is expected never fails the request (nor the requests a
    worker decodes with it): the span is stored."""
    for key in sorted(MAPPED_KEYS):
        span = make_span({"gen_ai.provider.name": "aws.bedrock", "gen_ai.request.model": "nova"})
        span.attributes.append(_not_scalar(key, kind))
        calls, _ = PIPELINE.calls(make_request([span]).SerializeToString(), otlp.PROTOBUF)
        assert len(calls) == 1, key
