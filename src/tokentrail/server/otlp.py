"""OTLP/HTTP receivers: POST /v1/traces, /v1/metrics and /v1/logs.

What a 200 promises: every span or data point that was not reported in `partial_success` is committed to
the store. Both need a key with the ``ingest`` scope once any key is configured; a key bound to tenants
writes spans only as them (ingest/tenants.py). Nothing is acknowledged before it is stored. Load is shed at
admission: when the work already queued (bytes waiting to be decoded, rows waiting to be committed) would
keep a new request waiting past `max_ingest_wait_s`, by the measured rates, the request gets 429 with
`Retry-After` at once (OTLP's throttling answer; gRPC's RESOURCE_EXHAUSTED), as does a full write queue.
A collector that cannot do the work at all (decoding workers being replaced, a failed commit) answers 503
with `Retry-After`. OTLP exporters retry both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

from fastapi import Request, Response
from google.rpc import status_pb2

from tokentrail.exceptions import TokentrailError
from tokentrail.ingest import otlp
from tokentrail.ingest.tenants import rejection, stamp_tenant
from tokentrail.server import content
from tokentrail.server.state import AppState, get_state
from tokentrail.store import StoreBusy, StoreError

RETRY_AFTER_S = "1"
MAX_MESSAGE_CHARS = 400  # error messages may quote the input; keep them short


class Rejected(TokentrailError):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS] + "…"
        self.headers = headers or {}


def busy(message: str, wait_s: float = 1.0, status: int = 429) -> Rejected:
    """Come back later: 429 when the collector sheds load, 503 when it cannot do the work right now."""
    retry = str(min(60, max(1, math.ceil(wait_s))))
    return Rejected(status, message, {"Retry-After": retry})


def error_response(exc: Rejected, kind: str) -> Response:
    """A google.rpc.Status in the request's encoding (JSON when the encoding is unknown)."""
    if kind == otlp.PROTOBUF:
        body = status_pb2.Status(code=exc.status, message=exc.message).SerializeToString()
    else:
        body = json.dumps({"code": exc.status, "message": exc.message}).encode()
    media = kind if kind == otlp.PROTOBUF else otlp.JSON
    return Response(body, status_code=exc.status, media_type=media, headers=exc.headers)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Rejected(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding == "gzip":
        body = otlp.gunzip(body, limit)
    elif encoding not in ("", "identity"):
        raise Rejected(415, f"unsupported content encoding {encoding!r}; use gzip or none")
    return body


@contextlib.asynccontextmanager
async def admitted(state: AppState, size: int) -> AsyncIterator[None]:
    """Refuse at once when the queued work would hold this request past the configured wait (OTLP/HTTP
    and OTLP/gRPC alike)."""
    wait_s = state.decode_backlog.wait_s() + state.store.expected_wait_s()
    if wait_s > state.settings.max_ingest_wait_s:
        raise busy(f"the collector is overloaded (expected wait {wait_s:.1f} s); retry later", wait_s)
    state.decode_backlog.add(size)
    try:
        yield
    finally:
        state.decode_backlog.done(size)


async def receive(request: Request, decode: Callable[[bytes, str], Awaitable[Any]]) -> tuple[Any, str]:
    """Common front half (the key was checked by server/otlp_lane.py): media type, size, gzip, admission, then
    decode off the event loop. Errors reach the client through server/errors.py as OTLP Status answers."""
    state = get_state(request)
    kind = otlp.media_type(request.headers.get("content-type"))
    body = await read_body(request, state.settings.max_body_bytes)
    async with admitted(state, len(body)):
        return await decode(body, kind), kind


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """A full writer as 429, a failed commit or lookup as 503, both with Retry-After (over gRPC both are
    RESOURCE_EXHAUSTED with RetryInfo)."""
    try:
        yield
    except StoreBusy:
        raise busy("the collector is busy; retry later") from None
    except StoreError as exc:
        raise busy(f"storing failed: {exc}", status=503) from None


async def commit(submit: Callable[[], Any]) -> int:
    with store_errors():
        return int(await asyncio.wrap_future(submit()))


def media_of(request: Request) -> str:
    try:
        return otlp.media_type(request.headers.get("content-type"))
    except otlp.UnsupportedMediaType:
        return otlp.JSON


async def store_traces(
    state: AppState, decoded: tuple[Any, int, str], tenants: Sequence[str]
) -> otlp.ExportTraceServiceResponse:
    """Commit decoded spans as a key bound to `tenants` may write them (ingest/tenants.py); the answer
    counts the rejected ones. Shared by OTLP/HTTP and OTLP/gRPC."""
    table, rejected, message = decoded
    table, foreign = stamp_tenant(table, tenants)
    if foreign:
        rejected, message = (
            rejected + foreign,
            "; ".join(filter(None, [message, rejection(foreign, tenants)])),
        )
    started = time.monotonic()
    stored = await commit(lambda: state.store.submit_arrow(table))
    state.ingest_health.committed(stored, rejected, time.monotonic() - started)
    await content.after_commit(state, table)
    response = otlp.ExportTraceServiceResponse()
    if message:  # rejected spans, or spans accepted with a correction (rejected_spans 0: a warning)
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return response


async def export_traces(request: Request, state: AppState) -> Response:
    decoded, kind = await receive(request, state.pipeline.traces_async)
    response = await store_traces(state, decoded, request.state.principal.tenants)
    return Response(otlp.encode_response(response, kind), media_type=kind)


async def export_metrics(request: Request, state: AppState) -> Response:
    rows, kind = await receive(
        request, lambda body, kind: asyncio.to_thread(state.pipeline.metrics, body, kind)
    )
    await commit(lambda: state.store.submit_metrics(rows))
    return Response(otlp.encode_response(otlp.ExportMetricsServiceResponse(), kind), media_type=kind)


async def keep_records(
    state: AppState, kept: Any, tenants: tuple[str, ...], response: otlp.ExportLogsServiceResponse
) -> None:
    """Commit the log records kept (ingest/log_records.py) as a key bound to `tenants` may write them;
    the others are counted in the answer's partial_success."""
    kept, foreign = stamp_tenant(kept, tenants)
    if foreign:
        response.partial_success.rejected_log_records = foreign
        response.partial_success.error_message = rejection(foreign, tenants, "log records")
    state.log_counts["other_records_rejected"] += foreign
    state.log_counts["other_records_kept"] += await commit(lambda: state.store.submit_log_records(kept))


async def store_logs(
    state: AppState, body: bytes, kind: str, tenants: tuple[str, ...]
) -> otlp.ExportLogsServiceResponse:
    """The logs signal: GenAI content joined to its calls and sampled (server/content.py); other records
    counted and dropped, or kept when configured. Shared by OTLP/HTTP and OTLP/gRPC."""
    docs, dropped, kept = await state.pipeline.logs_async(body, kind, state.settings.keep_logs_from)
    state.log_counts["other_records_dropped"] += dropped
    state.log_counts["content_received"] += len(docs)
    response = otlp.ExportLogsServiceResponse()
    if kept is not None:
        await keep_records(state, kept, tenants, response)
    with store_errors():
        await content.on_logs(state, docs, tenants)
    return response


async def export_logs(request: Request, state: AppState) -> Response:
    tenants = request.state.principal.tenants
    response, kind = await receive(request, lambda body, kind: store_logs(state, body, kind, tenants))
    return Response(otlp.encode_response(response, kind), media_type=kind)
