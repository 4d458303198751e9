"""`tokentrail serve` with OTLP/gRPC: a second server cannot share the gRPC port, SIGTERM stops both
servers with everything acknowledged committed, and the official gRPC exporter's spans land once."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from support import free_port, wait_healthy
from tokentrail.store.duckdb import DuckDBStore


def serve(db: Path, port: int, grpc_port: int) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "tokentrail", "serve", "--db", str(db), "--port", str(port)]
    cmd += ["--grpc-port", str(grpc_port), "--workers", "1"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_grpc_spans_are_stored_once_and_a_second_server_cannot_take_the_port(tmp_path: Path) -> None:
    port, grpc_port = free_port(), free_port()
    first = serve(tmp_path / "a.duckdb", port, grpc_port)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", first)
        second = serve(tmp_path / "b.duckdb", free_port(), grpc_port)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert f"cannot listen for OTLP/gRPC on 127.0.0.1:{grpc_port}" in err
        provider = TracerProvider(resource=Resource.create({"service.name": "grpc-it"}))
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("it")
        for i in range(3):
            with tracer.start_as_current_span(f"chat gpt-4o-{i}") as span:
                span.set_attribute("gen_ai.request.model", "gpt-4o")
                span.set_attribute("gen_ai.usage.input_tokens", 10 + i)
        provider.shutdown()
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert not (tmp_path / "a.duckdb.wal").exists()  # both servers stopped, the store checkpointed
    with DuckDBStore(tmp_path / "a.duckdb") as store:
        rows = store.query("SELECT input_tokens, service FROM calls ORDER BY input_tokens").rows
    assert rows == [(10, "grpc-it"), (11, "grpc-it"), (12, "grpc-it")]
