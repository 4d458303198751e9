"""The OTLP logs signal in-process, on both stores: GenAI events parsed into one document per span, joined to
their call whether the span comes first or last, sampled by the same decision as content on span attributes,
redacted and stored in `samples`; unsampled or unmatched content dropped; other records counted and dropped;
nothing in the hot table; over POST /v1/logs (protobuf and JSON) and the gRPC logs service."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from server.test_grpc import KEY, LLM, Receiver
from support import PII, make_request, make_span
from tokentrail import keys
from tokentrail.ingest.logs import documents
from tokentrail.samples.policy import trace_sampled
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store import Store

TRACE, SPAN, OLD_SPAN = 7, 9, 10
SECRET = PII["EMAIL"]
PB = {"content-type": "application/x-protobuf"}


def hexid(n: int, size: int) -> str:
    return f"{n:0{size * 2}x}"


def record(name: str, body: Any = None, attrs: dict[str, Any] | None = None, **ids: int) -> dict[str, Any]:
    out: dict[str, Any] = {"eventName": name}
    out["traceId"] = hexid(ids.get("trace", TRACE), 16)
    out["spanId"] = hexid(ids.get("span", SPAN), 8)
    if body is not None:
        out["body"] = {"stringValue": json.dumps(body)}
    out["attributes"] = [
        {"key": k, "value": {"stringValue": json.dumps(v)}} for k, v in (attrs or {}).items()
    ]
    return out


def details(prompt: str = f"mail {SECRET} please", **ids: int) -> dict[str, Any]:
    return record(
        "gen_ai.client.inference.operation.details",
        attrs={
            "gen_ai.system_instructions": [{"type": "text", "content": "be brief"}],
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": prompt}]}],
            "gen_ai.output.messages": [
                {"role": "assistant", "parts": [{"type": "tool_call", "name": "lookup", "id": "c1"}]}
            ],
        },
        **ids,
    )


def old_style(span: int = OLD_SPAN) -> list[dict[str, Any]]:
    choice = {"finish_reason": "stop", "message": {"content": "answer", "tool_calls": [{"id": "t9"}]}}
    return [
        record("gen_ai.system.message", {"content": "old style system"}, span=span),
        record("gen_ai.user.message", {"content": "old style question"}, span=span),
        record("gen_ai.tool.message", {"content": "42", "id": "t1"}, span=span),
        record("gen_ai.choice", choice, span=span),
    ]


def as_json(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}


def as_proto(records: list[dict[str, Any]]) -> ExportLogsServiceRequest:
    data = json.loads(json.dumps(as_json(records)))
    for rec in data["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        for key in ("traceId", "spanId") if "traceId" in rec else ():
            rec[key] = base64.b64encode(bytes.fromhex(rec[key])).decode()
    return json_format.ParseDict(data, ExportLogsServiceRequest())


OTHER = [
    {"body": {"stringValue": "GET /health 200"}},
    {"eventName": "app.audit", "body": {"stringValue": "x"}},
]


def test_genai_events_become_one_document_per_span() -> None:
    docs, other = documents(as_proto([details(), *old_style(), *OTHER]))
    assert other == 2
    new, old = docs
    assert new.key == (hexid(TRACE, 16), hexid(SPAN, 8))
    body = new.body()
    assert body["system"] == [{"type": "text", "content": "be brief"}]
    assert body["messages"][0]["parts"][0]["content"] == f"mail {SECRET} please"
    assert body["output"][0]["parts"] == [{"type": "tool_call", "name": "lookup", "id": "c1"}]
    old_body = old.body()
    assert old_body["system"] == [{"type": "text", "content": "old style system"}]
    assert old_body["messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "old style question"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "t1", "response": "42"}]},
    ]
    call = {"type": "tool_call", "id": "t9", "name": None, "arguments": None}
    assert old_body["output"] == [
        {"role": "assistant", "parts": [{"type": "text", "content": "answer"}, call], "finish_reason": "stop"}
    ]


def policy_file(tmp_path: Path, text: str = "default_rate = 1.0") -> Path:
    path = tmp_path / "sampling.toml"
    path.write_text(text)
    return path


@pytest.fixture
async def client(store: Store, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, Settings(sampling=policy_file(tmp_path)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        yield c
    app.state.pipeline.close()


async def post_logs(
    client: httpx.AsyncClient, records: list[dict[str, Any]], media: str = "protobuf"
) -> None:
    if media == "json":
        r = await client.post("/v1/logs", json=as_json(records))
    else:
        r = await client.post("/v1/logs", content=as_proto(records).SerializeToString(), headers=PB)
    assert r.status_code == 200, r.text


async def post_spans(client: httpx.AsyncClient, *spans: Any) -> None:
    r = await client.post("/v1/traces", content=make_request(list(spans)).SerializeToString(), headers=PB)
    assert r.status_code == 200, r.text


def samples(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    rows = store.query("SELECT trace_id, span_id, provider, reason, document, redaction FROM samples").dicts()
    return {(r["trace_id"], r["span_id"]): r for r in rows}


def logs_stats(client: httpx.AsyncClient) -> dict[str, int]:
    app = client._transport.app  # type: ignore[attr-defined]
    return dict(app.state.log_counts) | app.state.waiting.stats()


@pytest.mark.parametrize("media", ["protobuf", "json"])
async def test_content_before_its_span_becomes_a_redacted_sample(
    client: httpx.AsyncClient, store: Store, media: str
) -> None:
    await post_logs(client, [details(), *old_style(), *OTHER], media)
    assert samples(store) == {}
    assert logs_stats(client)["content_waiting"] == 2
    await post_spans(
        client, make_span(LLM, trace=TRACE, span=SPAN), make_span(LLM, trace=TRACE, span=OLD_SPAN)
    )
    found = samples(store)
    assert set(found) == {(hexid(TRACE, 16), hexid(SPAN, 8)), (hexid(TRACE, 16), hexid(OLD_SPAN, 8))}
    sample = found[hexid(TRACE, 16), hexid(SPAN, 8)]
    document = json.loads(sample["document"])
    assert document["messages"][0]["parts"][0]["content"] == "mail <EMAIL_1> please"
    assert (document["provider"], document["model"], sample["reason"]) == ("openai", "gpt-4o-mini", "rate")
    assert json.loads(sample["redaction"]) == {"EMAIL": 1}
    stats = logs_stats(client)
    assert stats["other_records_dropped"] == 2 and stats["content_sampled"] == 2
    assert stats["content_waiting"] == 0 and stats["content_waiting_bytes"] == 0
    hot = str(store.query("SELECT * FROM spans").rows) + str(store.query("SELECT * FROM calls").rows)
    assert SECRET not in hot and "old style" not in hot


async def test_content_after_its_span_is_looked_up_in_the_store(
    client: httpx.AsyncClient, store: Store
) -> None:
    await post_spans(client, make_span(LLM, trace=TRACE, span=SPAN))
    await post_logs(client, [details()])
    (sample,) = samples(store).values()
    assert "<EMAIL_1>" in sample["document"] and SECRET not in sample["document"]
    await post_logs(client, [details()])  # a retried batch adds nothing
    assert len(samples(store)) == 1 and logs_stats(client)["content_waiting"] == 0


async def test_the_decision_is_the_one_content_on_span_attributes_gets(store: Store, tmp_path: Path) -> None:
    """Rate by trace id (as TraceIdRatioBased), errors kept, keep_if thresholds, the per-minute cap."""
    policy = "default_rate = 0.5\nmax_per_minute = 9\nkeep_if = { latency_ms = 3000 }"
    app = create_app(store, Settings(sampling=policy_file(tmp_path, policy)))
    spans = [make_span(LLM, trace=t, span=1) for t in range(1, 13)]
    spans += [
        make_span(LLM, trace=100, span=2, status=2),
        make_span(LLM, trace=100, span=3, duration_ms=4000),
    ]
    records = [details(prompt="hi", trace=t, span=1) for t in range(1, 13)]
    records += [details(prompt="hi", trace=100, span=2), details(prompt="hi", trace=100, span=3)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        await post_logs(c, records)
        await post_spans(c, *spans)
        stats = logs_stats(c)
    app.state.pipeline.close()
    by_rate = {hexid(t, 16) for t in range(1, 13) if trace_sampled(hexid(t, 16), 0.5)}
    reasons = {key: s["reason"] for key, s in samples(store).items()}
    assert {t for (t, _), reason in reasons.items() if reason == "rate"} <= by_rate
    assert reasons.get((hexid(100, 16), hexid(2, 8))) == "error"
    assert reasons.get((hexid(100, 16), hexid(3, 8))) == "latency"
    assert len(reasons) == min(9, len(by_rate) + 2)  # the cap holds across both ways content arrives
    assert stats["content_not_sampled"] == 12 - len(by_rate)


async def test_unmatched_content_waits_a_bounded_time_then_is_dropped(store: Store) -> None:
    app = create_app(store, Settings(content_wait_s=0.0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        await post_logs(c, [details()])  # its wait is over at once: one last lookup, then dropped
        await post_spans(c, make_span(LLM, trace=TRACE, span=SPAN))
        stats = logs_stats(c)
    app.state.pipeline.close()
    assert stats["content_unmatched"] == 1 and stats["content_waiting"] == 0
    assert samples(store) == {}


async def test_a_tenant_bound_key_adds_content_only_to_its_tenants_calls(
    store: Store, tmp_path: Path
) -> None:
    _, acme = keys.create_key(store, "acme-sdk", ["ingest"], ["acme"])
    _, globex = keys.create_key(store, "globex-sdk", ["ingest"], ["globex"])
    app = create_app(store, Settings(sampling=policy_file(tmp_path)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        c.headers["authorization"] = f"Bearer {acme}"
        await post_spans(c, make_span(LLM, trace=TRACE, span=SPAN))  # stored as tenant acme
        c.headers["authorization"] = f"Bearer {globex}"
        await post_logs(c, [details()])
        assert samples(store) == {} and logs_stats(c)["content_other_tenant"] == 1
        c.headers["authorization"] = f"Bearer {acme}"
        await post_logs(c, [details()])
    app.state.pipeline.close()
    assert [s["provider"] for s in samples(store).values()] == ["openai"]


async def test_grpc_logs_service_joins_content_too(store: Store, tmp_path: Path) -> None:
    settings = Settings(ingest_key="s3cret", sampling=policy_file(tmp_path))
    async with Receiver(store, settings) as r:
        await r.traces.Export(make_request([make_span(LLM, trace=TRACE, span=SPAN)]), metadata=KEY)
        stub = logs_service_pb2_grpc.LogsServiceStub(r.channel)
        await stub.Export(as_proto([details(), *OTHER]), metadata=KEY)
        assert r.app.state.log_counts["other_records_dropped"] == 2
    (sample,) = samples(store).values()
    assert "<EMAIL_1>" in sample["document"] and SECRET not in str(store.query("SELECT * FROM spans").rows)
