"""Helpers of the alert and exporter tests: OTLP calls into an app, and a webhook receiver on loopback."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from support import make_request, make_span

LLM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "tokentrail.ttft_ms": 200.0,
}


def call_span(n: int, start: dt.datetime, ms: float = 500.0, **attrs: Any) -> Any:
    """An LLM span (trace n) with the given attributes over `LLM`'s; an error when it has error.type."""
    status = 2 if "error.type" in attrs else 0
    return make_span({**LLM, **attrs}, trace=n, span=n, start=start, duration_ms=ms, status=status)


def send_otlp(client: httpx.Client, spans: list[Any]) -> None:
    """POST spans to /v1/traces in chunks; the collector answers once they are stored."""
    for i in range(0, len(spans), 2000):
        body = make_request(spans[i : i + 2000]).SerializeToString()
        response = client.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf"})
        assert response.status_code == 200, response.text


class Receiver:
    """Requests a local HTTP server received: (headers, raw body) each."""

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
