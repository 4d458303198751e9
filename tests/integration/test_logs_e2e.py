"""Done-when for the logs signal: the real OpenTelemetry Python SDK exports spans and GenAI events (log
records) to a real `tokentrail serve` (decoding and redaction in a worker process, a policy file), over
OTLP/HTTP and over OTLP/gRPC. Events sent while their span is open arrive before it, events sent after it
ends arrive after it; both become redacted samples joined by (trace_id, span_id). Other log records are
counted and dropped, and no raw value is found in the DuckDB file or its WAL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from support import PII, PII_POLICY, collector_process, free_port, pii_prompt, raw_fragments

LLM = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    tmp = tmp_path_factory.mktemp("logs-e2e")
    policy = tmp / "sampling.toml"
    policy.write_text(PII_POLICY)
    grpc_port = free_port()
    db = tmp / "logs.duckdb"
    with collector_process(db, "--workers", "1", "--sampling", str(policy), grpc_port=grpc_port) as url:
        yield url, grpc_port, db


def emit_call(tracer: Any, logger: Any, when: str) -> tuple[str, str]:
    """One LLM call: its details event inside the span (exported first) or after it ended (exported last),
    the older per-message events, and an ordinary log line."""
    span = tracer.start_span("chat gpt-4o", attributes=LLM)
    context = trace.set_span_in_context(span)
    messages = [{"role": "user", "parts": [{"type": "text", "content": pii_prompt()}]}]
    output = [{"role": "assistant", "parts": [{"type": "text", "content": f"Mailed {PII['EMAIL']}"}]}]
    details = {"gen_ai.input.messages": json.dumps(messages), "gen_ai.output.messages": json.dumps(output)}
    if when == "after":
        span.end()
    logger.emit(event_name="gen_ai.client.inference.operation.details", attributes=details, context=context)
    logger.emit(
        event_name="gen_ai.user.message", body={"content": f"call me on {PII['PHONE']}"}, context=context
    )
    logger.emit(body="cache warmed", context=context)  # not a GenAI event: counted and dropped
    if when == "before":
        span.end()
    ids = span.get_span_context()
    return f"{ids.trace_id:032x}", f"{ids.span_id:016x}"


def export(transport: str, url: str, grpc_port: int) -> list[tuple[str, str]]:
    resource = Resource.create({"service.name": f"logs-{transport}"})
    if transport == "grpc":
        endpoint = f"127.0.0.1:{grpc_port}"
        spans, logs = GrpcSpans(endpoint, insecure=True), GrpcLogs(endpoint, insecure=True)
    else:
        spans, logs = HttpSpans(f"{url}/v1/traces"), HttpLogs(f"{url}/v1/logs")
    tracers = TracerProvider(resource=resource)
    tracers.add_span_processor(SimpleSpanProcessor(spans))
    loggers = LoggerProvider(resource=resource)
    loggers.add_log_record_processor(SimpleLogRecordProcessor(logs))
    tracer, logger = tracers.get_tracer("e2e"), loggers.get_logger("e2e")
    try:
        return [emit_call(tracer, logger, when) for when in ("before", "after")]
    finally:
        tracers.shutdown()
        loggers.shutdown()


def poll_samples(url: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = httpx.get(f"{url}/api/samples", params={"since": "1h", "limit": 100}).json()["samples"]
        by_key = {(s["trace_id"], s["span_id"]): s for s in found}
        if all(key in by_key for key in keys):
            return by_key
        time.sleep(0.1)
    raise AssertionError(f"no samples of {keys} within 60 s")


def leaks(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return [raw for raw in raw_fragments() if raw in data]


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_sdk_genai_events_become_redacted_samples_joined_to_their_calls(
    served: tuple[str, int, Path], transport: str
) -> None:
    url, grpc_port, db = served
    ids = export(transport, url, grpc_port)
    samples = poll_samples(url, ids)
    for key in ids:
        document = samples[key]["document"]
        text = json.dumps(document)
        assert "<EMAIL_1>" in text and "<PHONE_1>" in text and "<CREDIT_CARD_1>" in text, text
        assert document["provider"] == "openai" and document["output"]
    logs = httpx.get(f"{url}/healthz").json()["logs"]
    assert logs["other_records_dropped"] >= 2 and logs["content_waiting"] == 0
    stored = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]  # the file and its WAL
    assert stored and not {p.name: leaks(p) for p in stored if leaks(p)}
