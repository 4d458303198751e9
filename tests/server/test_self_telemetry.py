"""The collector emits no telemetry about its own requests, even in a process where OpenTelemetry is set up.

FastAPI traces and meters every request, and logs unhandled exceptions with their messages, whenever an
OpenTelemetry SDK provider is set globally (as `opentelemetry-instrument` does). A collector must not: an
exporter pointed at it would feed on its own ingest, and a message may quote a request's content. Before
the fix this recorded three spans per request and five metric points. The script runs in a subprocess,
since a process takes a global provider only once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from support import make_request, make_span

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from opentelemetry import _logs, metrics, trace
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans, records, reader = InMemorySpanExporter(), InMemoryLogRecordExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(records))
    _logs.set_logger_provider(logger_provider)

    from fastapi.testclient import TestClient
    from tokentrail.server.app import create_app
    from tokentrail.store.duckdb import DuckDBStore

    store = DuckDBStore(sys.argv[1])
    pb = {"content-type": "application/x-protobuf"}
    with TestClient(create_app(store, owns_store=True)) as client:
        statuses = [
            client.post("/v1/traces", content=open(sys.argv[2], "rb").read(), headers=pb).status_code,
            client.post("/v1/traces", content=b"secret prompt text", headers=pb).status_code,
            client.get("/healthz").status_code,
        ]
        stored = store.query("SELECT count(*) AS n FROM spans").rows[0][0]
    data = reader.get_metrics_data()
    points = sum(
        len(m.data.data_points)
        for rm in (data.resource_metrics if data else [])
        for sm in rm.scope_metrics
        for m in sm.metrics
    )
    print(json.dumps({
        "statuses": statuses,
        "stored": stored,
        "spans": [s.name for s in spans.get_finished_spans()],
        "metric_points": points,
        "log_records": len(records.get_finished_logs()),
    }))
    """
)


def test_a_collector_in_an_instrumented_process_records_nothing_of_its_own_requests(tmp_path: Path) -> None:
    body = tmp_path / "request.pb"
    body.write_bytes(make_request([make_span(attrs={"gen_ai.provider.name": "openai"})]).SerializeToString())
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "c.duckdb"), str(body)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["statuses"] == [200, 400, 200]
    assert found["stored"] == 1
    assert found["spans"] == []
    assert found["metric_points"] == 0
    assert found["log_records"] == 0
