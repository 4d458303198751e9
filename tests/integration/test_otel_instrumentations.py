"""Third-party instrumentations (OpenLLMetry, OpenInference) on the official openai client, exporting over
real OTLP/HTTP (protobuf and JSON) and OTLP/gRPC (the official gRPC exporter, gzip) to a real
`tokentrail serve`; and garbage against that server. Every transport must store the same rows."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

CLIENT = Path(__file__).parent / "otel_client.py"


def run_client(which: str, encoding: str, collector: str, simulator: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(CLIENT), which, encoding, collector, simulator],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def calls(collector: str) -> list[dict[str, Any]]:
    body = httpx.get(
        f"{collector}/api/calls", params={"since": "1h", "sort": "start_time", "order": "asc"}
    ).json()
    return list(body["calls"])


@pytest.mark.parametrize("encoding", ["protobuf", "json", "grpc"])
@pytest.mark.parametrize("which", ["openllmetry", "openinference"])
def test_spans_land_with_model_tokens_and_timings(
    collector: str, grpc_port: int, simulator: str, which: str, encoding: str
) -> None:
    target = f"127.0.0.1:{grpc_port}" if encoding == "grpc" else collector
    plans = run_client(which, encoding, target, simulator)
    stored = calls(collector)
    assert len(stored) == 2
    plain, streamed = stored
    for call, plan in ((plain, plans["plain"]), (streamed, plans["stream"])):
        assert call["provider"] == "openai" and call["kind"] == "llm" and call["source"] == "otlp"
        assert call["request_model"] == "gpt-4o-mini"
        assert call["response_model"].startswith("gpt-4o-mini")
        assert call["input_tokens"] == plan["input_tokens"]
        assert call["output_tokens"] == plan["output_tokens"] == 24
        assert call["cache_read_tokens"] in (plan["cache_read_tokens"] or None, plan["cache_read_tokens"])
        assert call["duration_ms"] >= plan["ttft_ms"]
        assert call["service"] == f"it-{which}"
        assert call["cost_usd"] is not None and call["price_source"].startswith("genai-prices")
    assert streamed["stream"] is True
    # TTFT: the first chunk the instrumentation saw, no earlier than the simulator's planned TTFT and within
    # the call (client start-up on a busy machine can add to it, so no tighter upper bound).
    assert plans["stream"]["ttft_ms"] <= streamed["ttft_ms"] < streamed["duration_ms"]


def test_retried_export_and_garbage_leave_the_store_unchanged(
    collector: str, simulator: str, tmp_path: Path
) -> None:
    run_client("openinference", "protobuf", collector, simulator)
    before = calls(collector)
    assert len(before) == 2
    # the same export again (a retry) changes nothing
    resend = [
        {
            "traceId": c["trace_id"],
            "spanId": c["span_id"],
            "name": c["name"],
            "startTimeUnixNano": str(int(_ns(c["start_time"]))),
            "endTimeUnixNano": str(int(_ns(c["end_time"]))),
            "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "LLM"}}],
        }
        for c in before
    ]
    body = {"resourceSpans": [{"scopeSpans": [{"spans": resend}]}]}
    assert httpx.post(f"{collector}/v1/traces", json=body).status_code == 200
    assert [c["span_id"] for c in calls(collector)] == [c["span_id"] for c in before]
    garbage = [
        (b"\x0a\xff\xff\xff", "application/x-protobuf", {}),
        (b'{"resourceSpans": [', "application/json", {}),
        (b'{"resourceSpans": "\xff"}', "application/json", {}),
        (b"<xml/>", "application/xml", {}),
        (gzip.compress(b"\0" * (70 * 1024 * 1024)), "application/x-protobuf", {"content-encoding": "gzip"}),
    ]
    for content, media, extra in garbage:
        r = httpx.post(
            f"{collector}/v1/traces", content=content, headers={"content-type": media, **extra}, timeout=60
        )
        assert 400 <= r.status_code < 500, (media, r.status_code)
    assert httpx.get(f"{collector}/healthz").status_code == 200
    assert calls(collector) == before


def _ns(iso: str) -> int:
    import datetime as dt

    value = dt.datetime.fromisoformat(iso.rstrip("Z"))
    return int((value - dt.datetime(1970, 1, 1)).total_seconds() * 1_000_000) * 1000


def test_serve_stopped_by_sigterm_closes_the_store_cleanly(tmp_path: Path) -> None:
    import signal

    from support import free_port, wait_healthy
    from tokentrail.store.duckdb import DuckDBStore

    db, port = tmp_path / "t.duckdb", free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tokentrail",
            "serve",
            "--db",
            str(db),
            "--port",
            str(port),
            "--workers",
            "0",
            "--grpc-port",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        span = {
            "traceId": "ab" * 16,
            "spanId": "cd" * 8,
            "name": "chat m",
            "startTimeUnixNano": "1763726400000000000",
            "endTimeUnixNano": "1763726401000000000",
            "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}}],
        }
        body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
        assert httpx.post(f"http://127.0.0.1:{port}/v1/traces", json=body).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert not (tmp_path / "t.duckdb.wal").exists()  # checkpointed and closed, not killed mid-way
    with DuckDBStore(db) as store:
        assert store.query("SELECT request_model FROM calls").rows == [("gpt-4o",)]


VARYING = {"trace_id", "span_id", "parent_span_id", "start_time", "end_time", "received_at", "response_id"}
TIMINGS = {"duration_ms", "ttft_ms", "output_tokens_per_s"}


def test_grpc_and_http_store_the_same_rows(collector: str, grpc_port: int, simulator: str) -> None:
    run_client("openllmetry", "protobuf", collector, simulator)
    over_http = calls(collector)
    run_client("openllmetry", "grpc", f"127.0.0.1:{grpc_port}", simulator)
    over_grpc = calls(collector)[len(over_http) :]
    assert len(over_http) == len(over_grpc) == 2

    def same(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k not in VARYING | TIMINGS}

    for g, h in zip(over_grpc, over_http, strict=True):
        assert {k: v for k, v in same(g).items() if v != h[k]} == {}
    assert {k for k in over_grpc[0] if over_grpc[0][k] is not None} == {
        k for k in over_http[0] if over_http[0][k] is not None
    }
