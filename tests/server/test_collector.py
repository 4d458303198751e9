"""The collector through an ASGI transport: OTLP/HTTP protobuf and JSON, gzip, errors, auth, metrics."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from support import make_request, make_span
from tokentrail.model import COLUMN_NAMES
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store import Store, StoreBusy
from tokentrail.store.duckdb import DuckDBStore

PB = {"content-type": "application/x-protobuf"}
JS = {"content-type": "application/json"}

LLM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.input_tokens": 1300,
    "gen_ai.usage.output_tokens": 42,
    "gen_ai.usage.cache_read.input_tokens": 1000,
    "gen_ai.usage.cache_creation.input_tokens": 200,
    "tokentrail.ttft_ms": 180.0,
    "tokentrail.feature": "search",
}


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, Settings(max_body_bytes=200_000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as c:
        yield c


def pb_body(*spans: Any) -> bytes:
    return bytes(make_request(list(spans)).SerializeToString())


def otlp_json(*spans: Any) -> dict[str, Any]:
    """The OTLP JSON encoding: hex ids, int64 as strings, enums as integers."""
    data = json_format.MessageToDict(make_request(list(spans)), use_integers_for_enums=True)
    for rs in data["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = __import__("base64").b64decode(span[key]).hex()
    return data


async def count(store: Store) -> int:
    return int(store.query("SELECT count(*) FROM spans").rows[0][0])


async def test_protobuf_spans_are_committed_before_200(client: httpx.AsyncClient, store: Store) -> None:
    r = await client.post("/v1/traces", content=pb_body(make_span(LLM)), headers=PB)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    response = ExportTraceServiceResponse.FromString(r.content)
    assert not response.HasField("partial_success")
    row = store.query("SELECT * FROM calls").dicts()[0]
    assert (row["provider"], row["request_model"], row["feature"]) == (
        "anthropic",
        "claude-sonnet-4-5",
        "search",
    )
    assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]) == (1300, 1000, 200)
    assert row["ttft_ms"] == 180.0 and row["service"] == "svc"


async def test_json_encoding_with_hex_ids_and_string_int64(client: httpx.AsyncClient, store: Store) -> None:
    data = otlp_json(make_span(LLM, trace=0xABC, span=0xDEF, parent=0x1))
    span = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert isinstance(span["startTimeUnixNano"], str) and span["kind"] == 3
    r = await client.post("/v1/traces", json=data)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    row = store.query("SELECT trace_id, span_id, parent_span_id, duration_ms FROM spans").rows[0]
    assert row == (f"{0xABC:032x}", f"{0xDEF:016x}", f"{1:016x}", 500.0)


async def test_gzip_body(client: httpx.AsyncClient, store: Store) -> None:
    body = gzip.compress(pb_body(make_span(LLM), make_span(LLM, span=2)))
    r = await client.post("/v1/traces", content=body, headers={**PB, "content-encoding": "gzip"})
    assert r.status_code == 200 and await count(store) == 2


async def test_retried_export_adds_no_duplicates(client: httpx.AsyncClient, store: Store) -> None:
    body = pb_body(make_span(LLM), make_span(LLM, span=2))
    for _ in range(3):
        assert (await client.post("/v1/traces", content=body, headers=PB)).status_code == 200
    assert await count(store) == 2


async def test_partial_success_for_invalid_ids(client: httpx.AsyncClient, store: Store) -> None:
    bad = make_span(LLM, span=5)
    bad.trace_id = b"\x00" * 16
    r = await client.post("/v1/traces", content=pb_body(make_span(LLM), bad), headers=PB)
    assert r.status_code == 200
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 1 and "trace_id" in partial.error_message
    assert await count(store) == 1


GARBAGE = [
    ("truncated protobuf", pb_body(make_span(LLM))[:-7], PB, 400),
    ("invalid JSON", b'{"resourceSpans": [', JS, 400),
    ("invalid UTF-8", b'{"resourceSpans": "\xff\xfe"}', JS, 400),
    ("JSON not an object", b"[1, 2]", JS, 400),
    (
        "bad hex id",
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}).encode(),
        JS,
        400,
    ),
    ("wrong content type", b"hello", {"content-type": "text/plain"}, 415),
    ("oversize", b"x" * 300_000, PB, 413),
    ("gzip bomb", gzip.compress(b"\0" * 5_000_000), {**PB, "content-encoding": "gzip"}, 413),
    ("broken gzip", b"\x1f\x8b\x08\x00garbage", {**PB, "content-encoding": "gzip"}, 400),
]


@pytest.mark.parametrize(("label", "body", "headers", "status"), GARBAGE, ids=[g[0] for g in GARBAGE])
async def test_garbage_gets_4xx_and_stored_data_is_unchanged(
    client: httpx.AsyncClient,
    store: Store,
    label: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
) -> None:
    await client.post("/v1/traces", content=pb_body(make_span(LLM)), headers=PB)
    before = store.query("SELECT * FROM spans").rows
    r = await client.post("/v1/traces", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.content  # a message says what was wrong
    assert store.query("SELECT * FROM spans").rows == before
    assert (await client.get("/healthz")).status_code == 200


async def test_ingest_key(store: Store) -> None:
    app = create_app(store, Settings(ingest_key="s3cret"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        body = pb_body(make_span(LLM))
        assert (await c.post("/v1/traces", content=body, headers=PB)).status_code == 401
        wrong = {**PB, "authorization": "Bearer nope"}
        assert (await c.post("/v1/traces", content=body, headers=wrong)).status_code == 401
        right = {**PB, "authorization": "Bearer s3cret"}
        assert (await c.post("/v1/traces", content=body, headers=right)).status_code == 200
    assert await count(store) == 1


async def test_full_write_queue_answers_429_with_retry_after(
    client: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_: object) -> None:
        raise StoreBusy("full")

    monkeypatch.setattr(store, "submit_arrow", full)
    r = await client.post("/v1/traces", content=pb_body(make_span(LLM)), headers=PB)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"


def metrics_request() -> ExportMetricsServiceRequest:
    data = {
        "resourceMetrics": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "gen_ai.client.token.usage",
                                "unit": "{token}",
                                "histogram": {
                                    "aggregationTemporality": 2,
                                    "dataPoints": [
                                        {
                                            "timeUnixNano": "1763726400000000000",
                                            "count": "3",
                                            "sum": 700,
                                            "bucketCounts": ["0", "1", "2"],
                                            "explicitBounds": [64, 256],
                                            "attributes": [
                                                {
                                                    "key": "gen_ai.token.type",
                                                    "value": {"stringValue": "input"},
                                                }
                                            ],
                                        }
                                    ],
                                },
                            },
                            {
                                "name": "gen_ai.server.time_to_first_token",
                                "unit": "s",
                                "histogram": {
                                    "dataPoints": [
                                        {"timeUnixNano": "1763726400000000000", "count": "1", "sum": 0.2}
                                    ]
                                },
                            },
                            {
                                "name": "tokentrail.sdk.dropped",
                                "sum": {
                                    "isMonotonic": True,
                                    "aggregationTemporality": 1,
                                    "dataPoints": [{"timeUnixNano": "1763726400000000000", "asInt": "4"}],
                                },
                            },
                            {
                                "name": "queue.depth",
                                "gauge": {
                                    "dataPoints": [{"timeUnixNano": "1763726400000000000", "asDouble": 2.5}]
                                },
                            },
                        ]
                    }
                ],
            }
        ]
    }
    return json_format.ParseDict(data, ExportMetricsServiceRequest())


async def test_metrics_in_both_encodings(client: httpx.AsyncClient, store: Store) -> None:
    request = metrics_request()
    r = await client.post("/v1/metrics", content=request.SerializeToString(), headers=PB)
    assert r.status_code == 200
    r = await client.post("/v1/metrics", json=json_format.MessageToDict(request), headers=JS)
    assert r.status_code == 200
    rows = store.query(
        "SELECT name, type, value, count, temporality, service, bucket_counts, attributes "
        "FROM metric_points ORDER BY name"
    ).rows
    assert len(rows) == 8
    usage = next(r for r in rows if r[0] == "gen_ai.client.token.usage")
    assert usage[1:6] == ("histogram", 700.0, 3, "cumulative", "svc")
    assert json.loads(usage[6]) == [0, 1, 2] and json.loads(usage[7]) == {"gen_ai.token.type": "input"}
    assert ("tokentrail.sdk.dropped", "sum", 4.0) in [r[:3] for r in rows]


async def test_worker_processes_store_the_same_rows(store: Store) -> None:
    """`serve` decodes in worker processes; the rows must equal those decoded in-process."""
    body = pb_body(make_span(LLM), make_span(LLM, span=2, status=2))
    app = create_app(store, Settings(ingest_workers=1))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
            assert (await c.post("/v1/traces", content=body, headers=PB)).status_code == 200
            bad = await c.post("/v1/traces", content=body[:-5], headers=PB)
            assert bad.status_code == 400 and b"invalid protobuf" in bad.content
    finally:
        app.state.pipeline.close()
    via_workers = store.query("SELECT * EXCLUDE (received_at) FROM spans ORDER BY span_id").rows
    reference = create_app(store, Settings())
    calls, _ = reference.state.pipeline.calls(body, "application/x-protobuf")
    assert len(via_workers) == 2
    assert [r[1] for r in via_workers] == sorted(c.span_id for c in calls)
    cost = COLUMN_NAMES.index("cost_usd")
    assert {r[cost] for r in via_workers} == {c.cost_usd for c in calls}


def test_worker_pipeline_rejects_a_bad_overrides_file_at_start(duck: DuckDBStore, tmp_path: Path) -> None:
    from tokentrail.pricing import PricingConfigError

    bad = tmp_path / "prices.toml"
    bad.write_text("[[discount]]\ndiscount = 7\n")
    with pytest.raises(PricingConfigError, match="discount"):
        create_app(duck, Settings(ingest_workers=1, prices_file=bad))
