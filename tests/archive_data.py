"""Samples for archive and replay tests: calls with PII ingested through the collector, all sampled."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import zstandard

from support import PII, PII_POLICY, T0, make_request, make_span, pii_prompt, raw_fragments
from tokentrail.ingest.pipeline import pricing_enricher
from tokentrail.pricing import load_prices
from tokentrail.samples import policy as policies
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store import Store, open_store

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


def assert_nothing_raw(blobs: dict[str, bytes]) -> None:
    for name, data in blobs.items():
        plain = (
            zstandard.ZstdDecompressor().decompressobj().decompress(data) if name.endswith(".zst") else data
        )
        for fragment in raw_fragments():
            assert fragment not in data and fragment not in plain, (name, fragment)


def local_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


class Collector:
    """The collector app over a DuckDB store under uvicorn in a thread, sampling everything with redaction."""

    def __init__(self, path: Path, port: int) -> None:
        self.store = open_store(str(path))
        self.url = f"http://127.0.0.1:{port}"
        app = create_app(self.store, Settings(ingest_workers=0))
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started)
        r = httpx.put(f"{self.url}/api/sampling", json=policies.parse(PII_POLICY).model_dump())
        assert r.status_code == 200, r.text

    def count(self, sql: str) -> int:
        return int(self.store.query(sql).rows[0][0])

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.store.close()


def wait_until(condition: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
