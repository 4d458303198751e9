"""OTLP/gRPC receiver (port 4317): the trace, metrics and logs services, with the HTTP receivers' promise.

An OK answer means committed: each call goes through the same steps as POST /v1/traces (the body is
decoded in the same worker processes, the same writer commits it, and the call waits for the commit).
Rejected spans are counted in `partial_success`. Errors map onto gRPC codes the OTLP exporters know:

- UNAUTHENTICATED: no `authorization: Bearer <key>` metadata once a key is configured, or a wrong or revoked
  key; PERMISSION_DENIED: a key without the ``ingest`` (or ``admin``) scope (server/auth.py). A key bound to
  tenants writes spans only as them, as over HTTP (ingest/tenants.py);
- INVALID_ARGUMENT: a message that does not decode;
- RESOURCE_EXHAUSTED with google.rpc.RetryInfo (in the status details, and as `google.rpc.retryinfo-bin`,
  where the Python exporter looks): refused at once by the same admission check as HTTP (the work queued
  ahead, bytes to decode and rows to commit, would hold the call past `max_ingest_wait_s`; the delay is
  that expected wait, rounded up), or the writer is full, or the commit failed; exporters retry after the
  delay;
- messages over `grpc_max_message_bytes` after decompression are refused by gRPC itself.

The handlers take the raw request bytes (no deserializer), so decoding happens where HTTP decodes, in the
worker processes; the service and method names come from the descriptors opentelemetry-proto ships.
gzip from the client is decompressed by gRPC. SO_REUSEPORT is off: a second server on the port fails to
bind instead of silently sharing it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tokentrail.exceptions import ExternalError
from tokentrail.ingest import otlp
from tokentrail.ingest.workers import WorkersUnavailable
from tokentrail.keys import Principal
from tokentrail.server import auth
from tokentrail.server.otlp import Rejected, admitted, commit, store_logs, store_traces
from tokentrail.server.state import AppState

Handler = Callable[[Any, Principal, bytes], Awaitable[bytes]]
DENIED_CODES = {
    auth.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    auth.Forbidden: grpc.StatusCode.PERMISSION_DENIED,
}
RETRY_INFO_KEY = "google.rpc.retryinfo-bin"
STOP_GRACE_S = 10.0


class BindFailed(ExternalError, RuntimeError):
    """The gRPC port could not be bound (most often: another server holds it)."""


def authenticate(state: AppState, metadata: Any) -> Principal:
    """The principal of a call's `authorization` metadata, allowed to ingest; raises auth.Denied."""
    header = next((str(v) for k, v in metadata or () if k == "authorization"), None)
    return auth.ingest_principal(state.keyring, auth.bearer_token(header))


async def export_traces(state: AppState, principal: Principal, body: bytes) -> bytes:
    decoded = await state.pipeline.traces_async(body, otlp.PROTOBUF)
    response = await store_traces(state, decoded, principal.tenants)
    return bytes(response.SerializeToString())


async def export_metrics(state: AppState, principal: Principal, body: bytes) -> bytes:
    rows = await asyncio.to_thread(state.pipeline.metrics, body, otlp.PROTOBUF)
    await commit(lambda: state.store.submit_metrics(rows))
    return bytes(otlp.ExportMetricsServiceResponse().SerializeToString())


async def export_logs(state: AppState, principal: Principal, body: bytes) -> bytes:
    response = await store_logs(state, body, otlp.PROTOBUF, principal.tenants)
    return bytes(response.SerializeToString())


def retry_status(message: str, delay_s: int) -> Any:
    """RESOURCE_EXHAUSTED carrying RetryInfo in both places exporters read it."""
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=delay_s))
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[detail])
    grpc_status = rpc_status.to_status(status)
    extra = ((RETRY_INFO_KEY, info.SerializeToString()),)
    return grpc_status._replace(trailing_metadata=tuple(grpc_status.trailing_metadata) + extra)


async def abort(context: Any, exc: Rejected) -> None:
    if exc.status in (429, 503):  # shed load, or cannot work right now: come back after the delay
        delay = int(exc.headers.get("Retry-After", "1"))
        await context.abort_with_status(retry_status(exc.message, delay))
    code = grpc.StatusCode.RESOURCE_EXHAUSTED if exc.status == 413 else grpc.StatusCode.INVALID_ARGUMENT
    await context.abort(code, exc.message)


def unary(state: AppState, work: Handler) -> Any:
    async def handle(body: bytes, context: Any) -> bytes:
        try:
            principal = authenticate(state, context.invocation_metadata())
            async with admitted(state, len(body)):
                return await work(state, principal, body)
        except auth.Denied as exc:
            await context.abort(DENIED_CODES[type(exc)], exc.message)
        except otlp.BadPayload as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Rejected as exc:
            await abort(context, exc)
        except WorkersUnavailable as exc:  # decoding workers being replaced: retry shortly
            await context.abort_with_status(retry_status(str(exc), 1))
        raise AssertionError("unreachable: abort raises")

    return grpc.unary_unary_rpc_method_handler(handle)


def service(state: AppState, module: Any, name: str, work: Handler) -> Any:
    full_name = module.DESCRIPTOR.services_by_name[name].full_name
    return grpc.method_handlers_generic_handler(full_name, {"Export": unary(state, work)})


def handlers(state: AppState) -> list[Any]:
    return [
        service(state, trace_service_pb2, "TraceService", export_traces),
        service(state, metrics_service_pb2, "MetricsService", export_metrics),
        service(state, logs_service_pb2, "LogsService", export_logs),
    ]


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start(state: AppState, host: str, port: int) -> Any:
    """Start the gRPC server on the running event loop; raises BindFailed when the port is taken."""
    options = [
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", state.settings.grpc_max_message_bytes),
    ]
    server = grpc.aio.server(options=options)
    server.add_generic_rpc_handlers(handlers(state))
    try:
        server.add_insecure_port(address(host, port))
    except RuntimeError:
        raise BindFailed(
            f"cannot listen for OTLP/gRPC on {address(host, port)}: the port is in use"
        ) from None
    await server.start()
    return server
