"""Sampling at the collector, through OTLP/HTTP into both stores: samples stored redacted beside their calls,
rates within binomial bounds, errors kept, traces kept whole, the cap, fail-closed redaction, the API."""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from support import PII, PII_POLICY, load_fixture, make_request, make_span, pii_prompt, raw_fragments
from tokentrail.ingest.pipeline import Pipeline, pricing_enricher
from tokentrail.pricing import load_prices
from tokentrail.samples import policy as policies
from tokentrail.samples import redact as redaction
from tokentrail.server.app import create_app
from tokentrail.store import Store

PB = {"content-type": "application/x-protobuf"}
LLM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}


def with_content(prompt: str = "hello", answer: str = "hi", **labels: str) -> dict[str, Any]:
    messages = [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
    output = [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
    attrs = {
        **LLM,
        "gen_ai.input.messages": json.dumps(messages),
        "gen_ai.output.messages": json.dumps(output),
    }
    return attrs | {f"tokentrail.{k}": v for k, v in labels.items()}


@pytest.fixture
async def app(store: Store) -> Any:
    return create_app(store, enrich=pricing_enricher(load_prices()))


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as c:
        yield c


async def post(client: httpx.AsyncClient, spans: list[Any]) -> None:
    r = await client.post("/v1/traces", content=make_request(spans).SerializeToString(), headers=PB)
    assert r.status_code == 200, r.text


async def set_policy(client: httpx.AsyncClient, **policy: Any) -> None:
    r = await client.put("/api/sampling", json=policy)
    assert r.status_code == 200, r.text


def sampled_ids(store: Store) -> set[tuple[str, str]]:
    return {(t, s) for t, s in store.query("SELECT trace_id, span_id FROM samples").rows}


async def test_pii_is_redacted_and_stored_beside_its_call(client: httpx.AsyncClient, store: Store) -> None:
    r = await client.put("/api/sampling", json=policies.parse(PII_POLICY).model_dump())
    assert r.status_code == 200
    span = make_span(
        with_content(pii_prompt(), f"Mail sent to {PII['EMAIL']}", feature="support"), trace=7, span=9
    )
    await post(client, [span])
    listed = (await client.get("/api/samples", params={"since": "3650d", "feature": "support"})).json()
    assert listed["total"] == 1
    (sample,) = listed["samples"]
    assert (sample["trace_id"], sample["span_id"]) == (f"{7:032x}", f"{9:016x}")
    assert sample["reason"] == "rate" and sample["feature"] == "support" and sample["provider"] == "openai"
    text = sample["document"]["messages"][0]["parts"][0]["content"]
    assert all(f"<{kind}_1>" in text for kind in PII)
    assert sample["document"]["output"][0]["parts"][0]["content"] == "Mail sent to <EMAIL_1>"
    assert sample["redaction"]["EMAIL"] == 4 and sample["input_chars"] > 0 and sample["output_chars"] > 0
    one = await client.get(f"/api/samples/{7:032x}/{9:016x}")
    assert one.json()["document"] == sample["document"]
    responses = [r.content, one.content, (await client.get("/api/calls", params={"since": "3650d"})).content]
    responses.append((await client.get(f"/api/traces/{7:032x}")).content)
    assert not [raw for raw in raw_fragments() for body in responses if raw in body]
    columns = store.query("SELECT * FROM spans").rows
    assert not [raw for raw in raw_fragments() if raw in repr(columns).encode()]


async def test_sampling_rate_holds_within_binomial_bounds_and_errors_are_kept(
    client: httpx.AsyncClient, store: Store
) -> None:
    await set_policy(client, default_rate=0.2, keep_if={}, max_per_minute=100_000)
    rng = random.Random(15)
    n, errors, ok_ids, error_ids = 1500, 60, set(), set()
    spans = []
    for i in range(1, n + 1):
        failed = i <= errors
        trace = rng.getrandbits(128)
        spans.append(make_span(with_content(), trace=trace, span=i, status=2 if failed else 0))
        (error_ids if failed else ok_ids).add((f"{trace:032x}", f"{i:016x}"))
    for start in range(0, n, 500):
        await post(client, spans[start : start + 500])
    kept = sampled_ids(store)
    assert error_ids <= kept  # every error kept
    rate_kept = len(kept & ok_ids)
    expected, sd = 0.2 * len(ok_ids), math.sqrt(len(ok_ids) * 0.2 * 0.8)
    assert abs(rate_kept - expected) < 4.5 * sd, (rate_kept, expected)
    assert store.query("SELECT count(*) FROM calls").rows[0][0] == n  # every call stored regardless


async def test_a_trace_is_kept_or_dropped_whole(client: httpx.AsyncClient, store: Store) -> None:
    await set_policy(client, default_rate=0.5, keep_if={}, keep_errors=False)
    rng = random.Random(3)
    traces = [rng.getrandbits(128) for _ in range(60)]
    spans = [
        make_span(with_content(), trace=t, span=k + 1 + 3 * i) for i, t in enumerate(traces) for k in range(3)
    ]
    await post(client, spans)
    by_trace: dict[str, int] = {}
    for trace_id, _ in sampled_ids(store):
        by_trace[trace_id] = by_trace.get(trace_id, 0) + 1
    assert set(by_trace.values()) == {3}  # all three spans of a kept trace
    assert 0 < len(by_trace) < len(traces)


async def test_rules_thresholds_and_the_cap(client: httpx.AsyncClient, store: Store) -> None:
    await set_policy(
        client,
        default_rate=0.0,
        keep_if={"latency_ms": 10_000},
        max_per_minute=3,
        rule=[{"feature": "triage", "rate": 1.0}],
    )
    await post(
        client,
        [
            make_span(with_content(feature="triage"), trace=1, span=1),
            make_span(with_content(feature="other"), trace=2, span=2),
            make_span(with_content(feature="other"), trace=3, span=3, duration_ms=12_000),
        ],
    )
    reasons = dict(store.query("SELECT feature, reason FROM samples").rows)
    assert reasons == {"triage": "rate", "other": "latency"}
    await post(
        client, [make_span(with_content(feature="triage"), trace=10 + i, span=10 + i) for i in range(5)]
    )
    assert store.query("SELECT count(*) FROM samples").rows[0][0] == 3  # two then one more, per minute
    assert store.query("SELECT count(*) FROM calls").rows[0][0] == 8


async def test_redaction_failure_drops_the_content_and_keeps_the_call(
    client: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await set_policy(client, default_rate=1.0)

    def broken(document: Any, config: Any) -> Any:
        raise RuntimeError(f"boom while reading {document}")

    monkeypatch.setattr(redaction, "redact", broken)
    with caplog.at_level(logging.WARNING):
        await post(client, [make_span(with_content(PII["EMAIL"]), trace=5, span=5)])
    assert store.query("SELECT count(*) FROM samples").rows[0][0] == 0
    assert store.query("SELECT trace_id FROM calls").rows == [(f"{5:032x}",)]
    assert "redaction failed (RuntimeError)" in caplog.text and PII["EMAIL"] not in caplog.text


@pytest.mark.parametrize("name", ["spans_openllmetry.json", "spans_openinference.json"])
async def test_other_instrumentations_content_becomes_samples(
    client: httpx.AsyncClient, store: Store, name: str
) -> None:
    await set_policy(client, default_rate=1.0)
    recorded = load_fixture(name)
    await post(
        client, [make_span(s["attributes"], trace=20 + i, span=20 + i) for i, s in enumerate(recorded)]
    )
    found = (await client.get("/api/samples", params={"since": "3650d"})).json()["samples"]
    assert len(found) == 2
    prompts = {s["document"]["messages"][0]["parts"][0]["content"] for s in found}
    assert prompts == {"Say hello to the world", "Say hello"}
    assert {s["document"]["output"][0]["parts"][0]["content"] for s in found} == {"Hello"}


async def test_sampling_api_validates(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/sampling")).json()["default_rate"] == 0.05
    bad = await client.put("/api/sampling", json={"default_rate": 3})
    assert bad.status_code == 400 and "default_rate" in bad.json()["error"]
    assert (
        await client.put("/api/sampling", content=b"{", headers={"content-type": "application/json"})
    ).status_code == 400
    assert (await client.get("/api/samples/nothex/1")).status_code == 400
    assert (await client.get(f"/api/samples/{1:032x}/{1:016x}")).status_code == 404
    assert (await client.get("/api/samples", params={"colour": "x"})).status_code == 400


def test_the_thread_and_process_pipelines_sample_alike() -> None:
    """Worker processes get the server's policy with each request and send the samples back."""
    from tokentrail.ingest.workers import ProcessPipeline

    body = make_request([make_span(with_content(PII["EMAIL"]), trace=1, span=1)]).SerializeToString()
    policy = policies.Policy(default_rate=1.0)
    threads = Pipeline(pricing_enricher(load_prices()), policy=policy)
    processes = ProcessPipeline(1, None, 1000, policy)
    try:
        import asyncio

        a = asyncio.run(threads.traces_async(body, "application/x-protobuf"))[0]
        b = asyncio.run(processes.traces_async(body, "application/x-protobuf"))[0]
    finally:
        processes.close()
    assert a.column("sample").to_pylist() == b.column("sample").to_pylist()
    assert "<EMAIL_1>" in a.column("sample")[0]["document"].as_py()
