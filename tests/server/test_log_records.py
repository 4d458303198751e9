"""Log records that are not GenAI events, in-process on both stores: counted and dropped by default; with
`keep_logs` stored in `log_records` (OTLP/HTTP protobuf and JSON, OTLP/gRPC) after redaction, once per record
however often a request is retried, tenant-stamped by a tenant-bound key, readable only by their tenant, and
pruned by retention with the spans. GenAI events never reach `log_records`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

from server.test_grpc import KEY, LLM, Receiver
from server.test_logs import PB, SECRET, SPAN, TRACE, as_json, as_proto, details, hexid, policy_file
from support import PII, make_request, make_span
from tokentrail import keys
from tokentrail.ingest.pipeline import Pipeline
from tokentrail.query.readonly import check_read_only
from tokentrail.retention.apply import apply_retention
from tokentrail.retention.policy import Policy
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store import Store
from tokentrail.store.scope import TenantStore

NOW_NS = 1_764_000_000 * 10**9  # 2025-11-24
PHONE = PII["PHONE"]


def line(text: str, severity: int = 9, attrs: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    out = {"timeUnixNano": str(NOW_NS), "severityNumber": severity, "severityText": "INFO"}
    out["body"] = {"stringValue": text}
    out["attributes"] = [{"key": k, "value": {"stringValue": v}} for k, v in (attrs or {}).items()]
    return out | extra


RECORDS = [
    line(f"login failed for {SECRET}", 13, {"user.phone": PHONE, "http.route": "/login"}),
    line("cache warm", 5, eventName="app.cache", traceId=hexid(TRACE, 16), spanId=hexid(SPAN, 8)),
]


def with_resource(records: list[dict[str, Any]], tenant: str | None = None) -> dict[str, Any]:
    body = as_json(records)
    attrs = [{"key": "service.name", "value": {"stringValue": "shop"}}]
    attrs += [{"key": "tokentrail.tenant", "value": {"stringValue": tenant}}] if tenant else []
    body["resourceLogs"][0]["resource"] = {"attributes": attrs}
    body["resourceLogs"][0]["scopeLogs"][0]["scope"] = {"name": "shop.auth"}
    return body


def kept(store: Store) -> list[dict[str, Any]]:
    sql = "SELECT * FROM log_records ORDER BY severity_number DESC"
    return store.query(sql).dicts()


def counts(app: Any) -> dict[str, int]:
    return dict(app.state.log_counts)


@pytest.fixture
async def keeping(store: Store, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, Settings(keep_logs=True, sampling=policy_file(tmp_path)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        yield c
    app.state.pipeline.close()


async def post(client: httpx.AsyncClient, body: dict[str, Any], media: str = "json") -> httpx.Response:
    if media == "json":
        r = await client.post("/v1/logs", json=body)
    else:
        content = as_proto(body["resourceLogs"][0]["scopeLogs"][0]["logRecords"]).SerializeToString()
        r = await client.post("/v1/logs", content=content, headers=PB)
    assert r.status_code == 200, r.text
    return r


async def test_by_default_other_records_are_counted_and_dropped(store: Store) -> None:
    app = create_app(store, Settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        await post(c, with_resource(RECORDS))
    app.state.pipeline.close()
    assert counts(app)["other_records_dropped"] == 2 and "other_records_kept" not in counts(app)
    assert kept(store) == []


async def test_kept_records_are_redacted_and_stored_once(keeping: httpx.AsyncClient, store: Store) -> None:
    await post(keeping, with_resource(RECORDS))
    warn, debug = kept(store)
    assert warn["body"] == "login failed for <EMAIL_1>" and SECRET not in str(warn)
    assert json.loads(warn["attributes"]) == {"user.phone": "<PHONE_1>", "http.route": "/login"}
    assert json.loads(warn["redaction"]) == {"EMAIL": 1, "PHONE": 1}
    assert (warn["service"], warn["scope_name"], warn["severity_text"]) == ("shop", "shop.auth", "INFO")
    assert warn["time"] == dt.datetime(2025, 11, 24, 16, 0) and (warn["trace_id"], warn["span_id"]) == (
        "",
        "",
    )
    assert (debug["event_name"], debug["trace_id"], debug["span_id"]) == (
        "app.cache",
        hexid(TRACE, 16),
        hexid(SPAN, 8),
    )
    await post(keeping, with_resource(RECORDS))  # a retried request adds nothing
    await post(keeping, with_resource(RECORDS[:1] + RECORDS[:1]))  # nor does a record sent twice in one
    assert len(kept(store)) == 2
    app = keeping._transport.app  # type: ignore[attr-defined]
    assert counts(app)["other_records_kept"] == 2 and counts(app)["other_records_dropped"] == 0


async def test_protobuf_and_json_of_the_same_record_are_one_record(
    keeping: httpx.AsyncClient, store: Store
) -> None:
    await post(keeping, as_json(RECORDS), "protobuf")
    await post(keeping, as_json(RECORDS), "json")
    assert len(kept(store)) == 2


async def test_genai_events_become_samples_and_never_log_records(
    keeping: httpx.AsyncClient, store: Store
) -> None:
    stray = details()
    stray["spanId"] = "abcd"  # a GenAI event that cannot be joined (no valid span id): dropped, not kept
    spans = make_request([make_span(LLM, trace=TRACE, span=SPAN)]).SerializeToString()
    assert (await keeping.post("/v1/traces", content=spans, headers=PB)).status_code == 200
    await post(keeping, as_json([details(), stray, *RECORDS]), "protobuf")
    assert [r["event_name"] for r in kept(store)] == [None, "app.cache"]
    (document,) = [row for (row,) in store.query("SELECT document FROM samples").rows]
    assert "<EMAIL_1>" in document
    app = keeping._transport.app  # type: ignore[attr-defined]
    assert counts(app)["other_records_dropped"] == 1


async def test_a_minimum_severity_keeps_only_records_at_or_above_it(store: Store) -> None:
    app = create_app(store, Settings(keep_logs=True, keep_logs_min_severity=13))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        await post(c, with_resource(RECORDS))
    app.state.pipeline.close()
    assert [r["severity_number"] for r in kept(store)] == [13]
    assert counts(app)["other_records_dropped"] == 1


async def test_tenant_bound_keys_stamp_and_reject_and_reads_are_scoped(store: Store) -> None:
    _, acme = keys.create_key(store, "acme-sdk", ["ingest"], ["acme"])
    app = create_app(store, Settings(keep_logs=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        c.headers["authorization"] = f"Bearer {acme}"
        await post(c, with_resource(RECORDS[:1]))  # names no tenant: stamped acme
        r = await post(c, with_resource(RECORDS[1:], tenant="globex"), "json")
    app.state.pipeline.close()
    partial = r.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1" and "log records" in partial["errorMessage"]
    assert [row["tenant"] for row in kept(store)] == ["acme"]
    assert len(TenantStore(store, ["acme"]).query("SELECT * FROM log_records").rows) == 1
    assert TenantStore(store, ["globex"]).query("SELECT count(*) FROM log_records").rows == [(0,)]
    check_read_only("SELECT body FROM log_records")  # `tokentrail sql` may read it


async def test_the_grpc_logs_service_keeps_records_too(store: Store) -> None:
    async with Receiver(store, Settings(ingest_key="s3cret", keep_logs=True)) as r:
        stub = logs_service_pb2_grpc.LogsServiceStub(r.channel)
        for _ in range(2):  # a retried export adds nothing
            response = await stub.Export(as_proto(RECORDS), metadata=KEY)
            assert not response.HasField("partial_success")
    bodies = [row["body"] for row in kept(store)]
    assert bodies == ["login failed for <EMAIL_1>", "cache warm"]


def test_retention_prunes_log_records_with_the_spans(store: Store) -> None:
    _, _, rows = Pipeline().logs(as_proto(RECORDS).SerializeToString(), PB["content-type"], 0)
    assert rows is not None
    store.submit_log_records(rows).result()
    now = dt.datetime(2025, 11, 24, 12) + dt.timedelta(days=5)
    report = apply_retention(store, Policy(calls=3), now=now)
    assert report.rows.get("log_records") == 2 and kept(store) == []
