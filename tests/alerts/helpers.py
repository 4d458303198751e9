"""Helpers of the alert and exporter tests: OTLP calls into an app (the webhook receiver is in support)."""

from __future__ import annotations

import datetime as dt
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
