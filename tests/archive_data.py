"""Samples for archive and replay tests: calls with PII ingested through the collector, all sampled."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx

from support import PII, PII_POLICY, T0, make_request, make_span, pii_prompt
from tokentrail.ingest.pipeline import pricing_enricher
from tokentrail.pricing import load_prices
from tokentrail.samples import policy as policies
from tokentrail.server.app import create_app
from tokentrail.store import Store

DAY1 = T0
DAY2 = T0 + dt.timedelta(days=1)


def content_span(n: int, start: dt.datetime, feature: str = "support", model: str = "gpt-4o-mini") -> Any:
    messages = [{"role": "user", "parts": [{"type": "text", "content": f"{pii_prompt()} (question {n})"}]}]
    answer = f"Mail sent to {PII['EMAIL']} about {n}"
    output = [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": 100 + n,
        "gen_ai.usage.output_tokens": 20 + n,
        "gen_ai.input.messages": json.dumps(messages),
        "gen_ai.output.messages": json.dumps(output),
        "tokentrail.feature": feature,
    }
    return make_span(attrs, trace=1000 + n, span=n + 1, start=start + dt.timedelta(minutes=n))


async def add_samples(store: Store, spans: list[Any]) -> None:
    """Ingest spans through the collector with every call sampled and PII redacted."""
    app = create_app(store, enrich=pricing_enricher(load_prices()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
        r = await client.put("/api/sampling", json=policies.parse(PII_POLICY).model_dump())
        assert r.status_code == 200, r.text
        body = make_request(spans).SerializeToString()
        r = await client.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf"})
        assert r.status_code == 200, r.text
    app.state.pipeline.close()
