"""The OTLP/gRPC receiver in-process, over a real loopback gRPC channel with the generated stubs from
opentelemetry-proto: commit before OK, auth, garbage, gzip, partial success, big messages, busy writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from support import free_port, make_request, make_span
from tokentrail import keys
from tokentrail.server import otlp_grpc
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store import Store, StoreBusy

LLM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 120,
    "gen_ai.usage.output_tokens": 30,
}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class Receiver:
    """The app's state served by the gRPC receiver on a free loopback port, and a client channel to it."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.app = create_app(store, settings)
        self.port = free_port()

    async def __aenter__(self) -> Receiver:
        self.server = await otlp_grpc.start(self.app.state, "127.0.0.1", self.port)
        self.channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{self.port}", options=[("grpc.max_send_message_length", 256 * 1024 * 1024)]
        )
        self.traces = trace_service_pb2_grpc.TraceServiceStub(self.channel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.channel.close()
        await self.server.stop(None)
        self.app.state.pipeline.close()


@pytest.fixture
async def receiver(store: Store) -> AsyncIterator[Receiver]:
    async with Receiver(store, Settings(ingest_key="s3cret")) as r:
        yield r


KEY = (("authorization", "Bearer s3cret"),)


def count(store: Store) -> int:
    return int(store.query("SELECT count(*) FROM spans").rows[0][0])


async def test_spans_are_committed_before_ok(receiver: Receiver, store: Store) -> None:
    request = make_request([make_span(LLM), make_span(LLM, span=2)])
    response = await receiver.traces.Export(request, metadata=KEY)
    assert not response.HasField("partial_success")
    assert count(store) == 2  # no waiting: OK was answered after the commit
    row = store.query("SELECT provider, request_model, input_tokens FROM calls LIMIT 1").rows[0]
    assert row == ("openai", "gpt-4o-mini", 120)
    await receiver.traces.Export(request, metadata=KEY)  # a retried export stores nothing twice
    assert count(store) == 2


async def test_the_ingest_key_is_required(receiver: Receiver, store: Store) -> None:
    request = make_request([make_span(LLM)])
    for metadata in ((), (("authorization", "Bearer nope"),), (("authorization", "s3cret"),)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await receiver.traces.Export(request, metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "s3cret" not in str(caught.value.details())
    assert count(store) == 0
    await receiver.traces.Export(request, metadata=KEY)
    assert count(store) == 1


async def test_named_keys_need_the_ingest_scope(store: Store) -> None:
    _, reader = keys.create_key(store, "reader", ["read"])
    _, sdk = keys.create_key(store, "sdk", ["ingest"])
    request = make_request([make_span(LLM)])
    async with Receiver(store, Settings()) as r:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await r.traces.Export(request)  # a key is configured now: anonymous ingest is closed
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await r.traces.Export(request, metadata=(("authorization", f"Bearer {reader}"),))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "lacks the scope ingest" in str(caught.value.details())
        assert count(store) == 0
        await r.traces.Export(request, metadata=(("authorization", f"Bearer {sdk}"),))
    assert count(store) == 1


async def test_no_key_configured_leaves_grpc_ingest_open(store: Store) -> None:
    async with Receiver(store, Settings()) as r:
        await r.traces.Export(make_request([make_span(LLM)]))
    assert count(store) == 1


async def test_tenant_bound_key_stamps_and_rejects_over_grpc(store: Store) -> None:
    _, token = keys.create_key(store, "acme-sdk", ["ingest"], ["acme"])
    spans = [
        make_span(LLM, span=1),
        make_span({**LLM, "tokentrail.tenant": "acme"}, span=2),
        make_span({**LLM, "tokentrail.tenant": "globex"}, span=3),
    ]
    async with Receiver(store, Settings()) as r:
        response = await r.traces.Export(
            make_request(spans), metadata=(("authorization", f"Bearer {token}"),)
        )
    assert response.partial_success.rejected_spans == 1
    assert "acme" in response.partial_success.error_message
    rows = store.query("SELECT span_id, tenant FROM spans ORDER BY span_id").rows
    assert [tenant for _, tenant in rows] == ["acme", "acme"]


@pytest.mark.parametrize("body", [b"\x0a\xff\xff\xff", b"\x0a\x10short", bytes(range(256))])
async def test_garbage_is_invalid_argument(receiver: Receiver, store: Store, body: bytes) -> None:
    await receiver.traces.Export(make_request([make_span(LLM)]), metadata=KEY)
    raw = receiver.channel.unary_unary(EXPORT)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw(body, metadata=KEY)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid protobuf body" in str(caught.value.details())
    assert count(store) == 1


async def test_gzip_compressed_requests(receiver: Receiver, store: Store) -> None:
    request = make_request([make_span(LLM, span=s) for s in range(1, 6)])
    await receiver.traces.Export(request, metadata=KEY, compression=grpc.Compression.Gzip)
    assert count(store) == 5


async def test_rejected_spans_are_counted_in_partial_success(receiver: Receiver, store: Store) -> None:
    bad = make_span(LLM, span=5)
    bad.trace_id = b"\x00" * 16
    response = await receiver.traces.Export(make_request([make_span(LLM), bad]), metadata=KEY)
    assert response.partial_success.rejected_spans == 1
    assert "trace_id" in response.partial_success.error_message
    assert count(store) == 1


def big_request(mib: int) -> Any:
    """A request of about `mib` MiB: one call plus a large non-GenAI attribute on a child span."""
    blob = make_span({"app.payload": "x" * (mib * 1024 * 1024)}, span=2, parent=1, name="tool step")
    return make_request([make_span(LLM), blob])


async def test_messages_past_the_4_mib_grpc_default_are_accepted(receiver: Receiver, store: Store) -> None:
    request = big_request(6)
    assert request.ByteSize() > 6 * 1024 * 1024
    await receiver.traces.Export(request, metadata=KEY, compression=grpc.Compression.Gzip)
    await receiver.traces.Export(request, metadata=KEY)
    assert count(store) == 2
    names = sorted(r[0] for r in store.query("SELECT name FROM spans").rows)
    assert names == ["chat gpt-4o", "tool step"]


async def test_messages_over_the_configured_limit_are_refused(store: Store) -> None:
    async with Receiver(store, Settings(grpc_max_message_bytes=1024 * 1024)) as r:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await r.traces.Export(big_request(2), compression=grpc.Compression.Gzip)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await r.traces.Export(make_request([make_span(LLM)]))
    assert count(store) == 1


async def test_a_full_writer_answers_resource_exhausted_with_retry_info(
    receiver: Receiver, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_: object) -> None:
        raise StoreBusy("full")

    monkeypatch.setattr(store, "submit_arrow", full)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await receiver.traces.Export(make_request([make_span(LLM)]), metadata=KEY)
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(error.trailing_metadata() or ())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.seconds == 1
    assert error_details_pb2.RetryInfo.FromString(trailers[otlp_grpc.RETRY_INFO_KEY]) == info
    assert count(store) == 0


def retry_delay(error: grpc.aio.AioRpcError) -> int:
    trailers = dict(error.trailing_metadata() or ())
    return int(error_details_pb2.RetryInfo.FromString(trailers[otlp_grpc.RETRY_INFO_KEY]).retry_delay.seconds)


async def test_admission_refuses_at_once_when_the_expected_wait_is_too_long(
    receiver: Receiver, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same check as HTTP's 503: the writer's expected wait over max_ingest_wait_s (1 s)."""
    monkeypatch.setattr(store, "expected_wait_s", lambda: 4.2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await receiver.traces.Export(make_request([make_span(LLM)]), metadata=KEY)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "expected wait 4.2 s" in str(caught.value.details()) and retry_delay(caught.value) == 5
    assert count(store) == 0
    backlog = receiver.app.state.decode_backlog
    monkeypatch.setattr(store, "expected_wait_s", lambda: 0.5)
    backlog.rate, backlog.measured_s, backlog.pending = 1000.0, 10.0, 3000  # plus 3 s queued for decoding
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await receiver.traces.Export(make_request([make_span(LLM)]), metadata=KEY)
    assert retry_delay(caught.value) == 4
    backlog.pending = 0
    await receiver.traces.Export(make_request([make_span(LLM)]), metadata=KEY)
    assert count(store) == 1 and backlog.pending == 0


async def test_metrics_service_stores_data_points(receiver: Receiver, store: Store) -> None:
    point = {"timeUnixNano": "1763726400000000000", "asInt": "4"}
    metric = {"name": "tokentrail.sdk.dropped", "sum": {"aggregationTemporality": 1, "dataPoints": [point]}}
    data = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}
    request = json_format.ParseDict(data, ExportMetricsServiceRequest())
    stub = metrics_service_pb2_grpc.MetricsServiceStub(receiver.channel)
    await stub.Export(request, metadata=KEY)
    rows = store.query("SELECT name, type, value FROM metric_points").rows
    assert rows == [("tokentrail.sdk.dropped", "sum", 4.0)]
