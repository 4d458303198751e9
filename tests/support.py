"""Helpers shared by tests: fixture files and OTLP payload builders."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from genai_prices import data_snapshot
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

FIXTURES = Path(__file__).parent / "fixtures"
T0 = dt.datetime(2026, 11, 21, 12, 0, 0)


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    return AnyValue(string_value=str(value))


def make_span(
    attrs: dict[str, Any],
    *,
    trace: int = 1,
    span: int = 1,
    parent: int = 0,
    name: str = "chat gpt-4o",
    start: dt.datetime = T0,
    duration_ms: float = 500.0,
    status: int = 0,
    events: list[tuple[str, float]] | None = None,
) -> Span:
    start_ns = int((start - dt.datetime(1970, 1, 1)).total_seconds() * 1e9)
    s = Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=span.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + int(duration_ms * 1e6),
    )
    s.status.code = status
    s.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in attrs.items())
    for event_name, at_ms in events or []:
        s.events.add(name=event_name, time_unix_nano=start_ns + int(at_ms * 1e6))
    return s


def make_request(spans: list[Span], service: str = "svc") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = ResourceSpans()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
    rs.scope_spans.append(ScopeSpans(spans=spans))
    request.resource_spans.append(rs)
    return request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy within {deadline_s} s")


M = Decimal(1_000_000)


def rate(value: Any, fallback: Any) -> Decimal:
    """A per-million rate from the package's data (a base tier when it is tiered)."""
    chosen = fallback if value is None else value
    return Decimal(str(getattr(chosen, "base", chosen) or 0))


def expected_parts(price: Any, row: dict[str, Any]) -> tuple[float, float, float]:
    """(non-cached input, cache, output) cost of a stored call at a genai-prices price entry."""
    cache_r, cache_w = row["cache_read_tokens"] or 0, row["cache_write_tokens"] or 0
    fresh = (row["input_tokens"] or 0) - cache_r - cache_w
    input_usd = fresh * rate(price.input_mtok, 0) / M
    cache_usd = (
        cache_r * rate(price.cache_read_mtok, price.input_mtok)
        + cache_w * rate(price.cache_write_mtok, price.input_mtok)
    ) / M
    output_usd = (row["output_tokens"] or 0) * rate(price.output_mtok, 0) / M
    return float(input_usd), float(cache_usd), float(output_usd)


def package_price(matched: str, at: Any) -> Any:
    """The price entry genai-prices' own data holds for `matched` ('genai-prices X provider:model')."""
    provider_id, model_id = matched.split(" ", 2)[2].split(":", 1)
    snapshot = data_snapshot.get_snapshot()
    provider = next(p for p in snapshot.providers if p.id == provider_id)
    model = next(m for m in provider.models if m.id == model_id)
    return model.get_prices(at)


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yields its base URL."""
    import threading

    import uvicorn

    # proto IPPROTO_TCP, or asyncio skips TCP_NODELAY and each keep-alive request waits ~40 ms (delayed ACK)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        end = time.monotonic() + 15
        while time.monotonic() < end:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                    break
            time.sleep(0.05)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextlib.contextmanager
def collector_process(db: Path, *extra: str, grpc_port: int = 0) -> Iterator[str]:
    """`tokentrail serve` on free loopback ports; gRPC off unless a port is given."""
    port = free_port()
    cmd = [sys.executable, "-m", "tokentrail", "serve", "--db", str(db), "--port", str(port)]
    cmd += ["--grpc-port", str(grpc_port), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


# Every kind of personal data and secret that redaction must remove, by the type of its placeholder.
PII = {
    "EMAIL": "jo.bloggs@example.com",
    "PHONE": "+1 415-555-0132",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "IBAN": "GB82 WEST 1234 5698 7654 32",
    "US_SSN": "536-22-8472",
    "UK_NINO": "AB123456C",
    "IP_ADDRESS": "203.0.113.77",
    "AWS_ACCESS_KEY": "AKIAIOSFODNN7EXAMPLE",
    "API_KEY": "sk-proj-Zx8d7Yq2Lm4Np6Rt1Vw3",
    "BEARER_TOKEN": "Bearer Qm9vYmFyQmF6cXV4eHl6MTIz",
    "JWT": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqbzEyMyJ9.c2lnbmF0dXJlLXZhbHVlLTEyMw",
    "PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END RSA PRIVATE KEY-----",
    "ORDER_ID": "ORD-482913",
    "DENY": "Project Falcon",
}
PII_POLICY = """
default_rate = 1.0
[redact]
patterns = { ORDER_ID = "ORD-[0-9]{6}" }
deny = ["project falcon"]
"""


def pii_prompt() -> str:
    """A prompt holding every value of `PII`, the e-mail twice."""
    lines = [f"My {kind.lower().replace('_', ' ')} is {value} ." for kind, value in PII.items()]
    return "\n".join([*lines, f"Again, write to {PII['EMAIL']} or to other.person@example.org ."])


def raw_fragments() -> list[bytes]:
    """Byte strings that must never be found where content could leak (the values, and their key parts)."""
    extra = [b"other.person@example.org", b"MIIBOgIBAAJBAKj34GkxFhD9", b"Qm9vYmFyQmF6cXV4eHl6MTIz"]
    return [*(v.encode() for v in PII.values()), *extra, PII["CREDIT_CARD"].replace(" ", "").encode()]


class Receiver:
    """What a local webhook (plain or Slack-compatible) received: (headers, raw body) per request."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = 0
        self.url = ""


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    received = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if received.fail_next:
                received.fail_next -= 1
                self.send_response(503)
            else:
                received.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


def assert_weeks_sum_the_days(store: Any) -> None:
    """DuckDB's sketches per week (store/rollups.py's WEEKS) equal its daily sketches of the days
    before the sealed mark added up per week (counts of zero left out); ClickHouse keeps no weeks."""
    from tokentrail.store import rollups

    if store.dialect != "duckdb":
        return
    keys = ", ".join(rollups.SKETCH_KEY[1:])
    days = store.query(
        f"SELECT date_trunc('week', day), {keys}, sum(n) FROM {rollups.SKETCHES} "
        f"WHERE day < {rollups.SEALED} GROUP BY ALL"
    )
    weeks = store.query(f"SELECT {', '.join(rollups.WEEK_KEY)}, n FROM {rollups.WEEKS}")
    summed = {tuple(r[:-1]): int(r[-1]) for r in days.rows if r[-1]}
    assert summed and {tuple(r[:-1]): int(r[-1]) for r in weeks.rows if r[-1]} == summed
