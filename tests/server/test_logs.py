"""The OTLP logs signal: GenAI events parsed into content documents joined by span, other records counted
and dropped, over POST /v1/logs (protobuf and JSON) and the gRPC logs service; content never stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from server.test_grpc import KEY, Receiver
from tokentrail.ingest.logs import documents
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store import Store

TRACE, SPAN = "ab" * 16, "cd" * 8
SECRET = "my card number is 4111"


def record(
    name: str, body: Any = None, attrs: dict[str, str] | None = None, span: str = SPAN
) -> dict[str, Any]:
    out: dict[str, Any] = {"eventName": name, "traceId": TRACE, "spanId": span}
    if body is not None:
        out["body"] = {"stringValue": json.dumps(body)}
    out["attributes"] = [{"key": k, "value": {"stringValue": v}} for k, v in (attrs or {}).items()]
    return out


def request_json() -> dict[str, Any]:
    details = {
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "be brief"}]),
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": SECRET}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "tool_call", "name": "lookup", "id": "c1"}]}]
        ),
    }
    records = [
        record("gen_ai.client.inference.operation.details", attrs=details),
        record("gen_ai.system.message", {"content": "old style system"}, span="ef" * 8),
        record("gen_ai.user.message", {"content": "old style question"}, span="ef" * 8),
        record(
            "gen_ai.choice", {"message": {"content": "answer", "tool_calls": [{"id": "t9"}]}}, span="ef" * 8
        ),
        {"body": {"stringValue": "GET /health 200"}},
        {"eventName": "app.audit", "body": {"stringValue": "x"}},
    ]
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}


def parsed() -> ExportLogsServiceRequest:
    data = request_json()
    for rec in data["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        for key in ("traceId", "spanId"):
            if key in rec:
                rec[key] = __import__("base64").b64encode(bytes.fromhex(rec[key])).decode()
    return json_format.ParseDict(data, ExportLogsServiceRequest())


def test_genai_events_become_one_document_per_span() -> None:
    docs, other = documents(parsed())
    assert other == 2
    new, old = docs
    assert (new.trace_id, new.span_id) == (TRACE, SPAN)
    assert new.system_instructions == [{"type": "text", "content": "be brief"}]
    assert new.input_messages[0]["parts"][0]["content"] == SECRET
    assert new.tool_calls == [{"type": "tool_call", "name": "lookup", "id": "c1"}]
    assert old.span_id == "ef" * 8 and old.system_instructions == [{"content": "old style system"}]
    assert old.input_messages == [{"role": "user", "content": "old style question"}]
    assert old.output_messages == [{"content": "answer", "tool_calls": [{"id": "t9"}]}]
    assert old.tool_calls == [{"id": "t9"}]


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
async def test_post_v1_logs_counts_and_keeps_content_out_of_the_store(store: Store, encoding: str) -> None:
    app = create_app(store, Settings())
    if encoding == "json":
        body, media = json.dumps(request_json()).encode(), "application/json"
    else:
        body, media = parsed().SerializeToString(), "application/x-protobuf"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        r = await c.post("/v1/logs", content=body, headers={"content-type": media})
        assert r.status_code == 200, r.text
        bad = await c.post(
            "/v1/logs", content=b"\x0a\xff", headers={"content-type": "application/x-protobuf"}
        )
        assert bad.status_code == 400
    assert app.state.log_counts == {"genai_documents_dropped": 2, "other_records_dropped": 2}
    assert store.query("SELECT count(*) FROM spans").rows == [(0,)]
    app.state.pipeline.close()


async def test_grpc_logs_service(store: Store) -> None:
    async with Receiver(store, Settings(ingest_key="s3cret")) as r:
        stub = logs_service_pb2_grpc.LogsServiceStub(r.channel)
        await stub.Export(parsed(), metadata=KEY)
        assert r.app.state.log_counts == {"genai_documents_dropped": 2, "other_records_dropped": 2}
    assert SECRET not in str(store.query("SELECT * FROM spans").rows)
