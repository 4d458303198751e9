"""A client's mistakes never cost a 500, nor the other spans of its request; overload is refused at once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from support import make_request, make_span
from tokentrail.ingest.spans import MAX_ATTRIBUTES, MAX_VALUE_CHARS
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store import Store

PB = {"content-type": "application/x-protobuf"}
JS = {"content-type": "application/json"}
TRACE = "0" * 31 + "1"
START = 1763726400_000_000_000


def json_span(span_id: int, attributes: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "traceId": TRACE,
        "spanId": f"{span_id:016x}",
        "name": "chat",
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START + 500_000_000),
        "attributes": attributes,
        **fields,
    }


def tokens(value: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
        {"key": "gen_ai.usage.input_tokens", "value": value},
    ]


GOOD = json_span(1, tokens({"intValue": "12"}))


def body(*spans: dict[str, Any]) -> str:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]})


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, Settings(max_spans_per_request=10))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        yield c


def input_tokens(store: Store) -> dict[str, Any]:
    return dict(store.query("SELECT span_id, input_tokens FROM spans").rows)


@pytest.mark.parametrize(
    "value",
    [
        {"doubleValue": "Infinity"},
        {"doubleValue": "-Infinity"},
        {"doubleValue": "NaN"},
        {"doubleValue": 1e300},
        {"stringValue": "99999999999999999999"},
        {"stringValue": "Infinity"},
    ],
    ids=["inf", "-inf", "nan", "1e300", "huge-string", "inf-string"],
)
async def test_bad_token_numbers_are_dropped_and_reported(
    client: httpx.AsyncClient, store: Store, value: dict[str, Any]
) -> None:
    r = await client.post("/v1/traces", content=body(GOOD, json_span(2, tokens(value))), headers=JS)
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert partial.get("rejectedSpans", "0") in (0, "0")
    assert "gen_ai.usage.input_tokens not a finite number in range, dropped (1)" in partial["errorMessage"]
    assert input_tokens(store) == {f"{1:016x}": 12, f"{2:016x}": None}


async def test_non_finite_attribute_values_are_stored_as_valid_json(
    client: httpx.AsyncClient, store: Store
) -> None:
    attrs = [{"key": "custom.ratio", "value": {"doubleValue": "NaN"}}]
    r = await client.post("/v1/traces", content=body(json_span(3, attrs)), headers=JS)
    assert r.status_code == 200
    (stored,) = store.query("SELECT attributes FROM spans").rows[0]
    assert json.loads(stored) == {"custom.ratio": "NaN"}


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(levels):
        value = {"arrayValue": {"values": [value]}}
    return value


async def test_deeply_nested_values_are_cut_and_reported(client: httpx.AsyncClient, store: Store) -> None:
    deep = json_span(2, [{"key": "custom.deep", "value": nested(60)}])
    r = await client.post("/v1/traces", content=body(GOOD, deep), headers=JS)
    assert r.status_code == 200, r.text
    assert "attribute values nested over 16 levels cut (1)" in r.json()["partialSuccess"]["errorMessage"]
    assert len(input_tokens(store)) == 2


def nested_text(levels: int) -> str:
    """A span whose attribute value nests `levels` arrays (three JSON levels each), built as text."""
    value = '{"arrayValue": {"values": [' * levels + '{"stringValue": "x"}' + "]}}" * levels
    return body(GOOD).replace(
        '"attributes": [', '"attributes": [{"key": "deep", "value": ' + value + "}, ", 1
    )


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/metrics"])
async def test_json_nesting_never_gets_500(client: httpx.AsyncClient, path: str) -> None:
    """Within Python's JSON parser (about 1,000 levels) deep values are cut; past it the request is 400."""
    rename = (lambda text: text) if path == "/v1/traces" else (lambda text: text.replace("Spans", "Metrics"))
    for levels in (100, 300):
        r = await client.post(path, content=rename(nested_text(levels)), headers=JS)
        assert r.status_code == 200, r.text
    for levels in (1000, 3000):
        r = await client.post(path, content=rename(nested_text(levels)), headers=JS)
        assert r.status_code == 400 and r.json()["message"] == "JSON body nested too deeply"
    raw = '{"resourceSpans": ' + "[" * 5000 + "]" * 5000 + "}"
    r = await client.post(path, content=rename(raw), headers=JS)
    assert r.status_code == 400


async def test_times_out_of_range_are_clamped_and_reported(client: httpx.AsyncClient, store: Store) -> None:
    future = json_span(
        2, [], startTimeUnixNano="18446744073709551615", endTimeUnixNano="18446744073709551615"
    )
    backwards = json_span(3, [], endTimeUnixNano=str(START - 1_000_000_000))
    r = await client.post("/v1/traces", content=body(GOOD, future, backwards), headers=JS)
    assert r.status_code == 200, r.text
    message = r.json()["partialSuccess"]["errorMessage"]
    assert "start time over a day in the future set to the time received (1)" in message
    assert "end time over a day in the future set to the start (1)" in message
    assert "end time before start set to the start (1)" in message
    rows = store.query("SELECT span_id, start_time, end_time, duration_ms FROM spans ORDER BY span_id").rows
    assert [r[2] >= r[1] for r in rows] == [True] * 3
    assert rows[1][1].year < 2100 and rows[2][3] == 0.0


async def test_oversized_and_excess_attributes_are_dropped(client: httpx.AsyncClient, store: Store) -> None:
    many = [{"key": f"k{i}", "value": {"intValue": str(i)}} for i in range(MAX_ATTRIBUTES + 50)]
    big = [{"key": "big", "value": {"stringValue": "x" * (MAX_VALUE_CHARS + 1)}}, *many[:3]]
    r = await client.post("/v1/traces", content=body(json_span(2, many), json_span(3, big)), headers=JS)
    assert r.status_code == 200
    message = r.json()["partialSuccess"]["errorMessage"]
    assert f"attributes past the first {MAX_ATTRIBUTES} ignored (1)" in message
    assert "attribute value over 16 KiB dropped (1)" in message
    stored = dict(store.query("SELECT span_id, attributes FROM spans").rows)
    assert len(json.loads(stored[f"{2:016x}"])) == MAX_ATTRIBUTES
    assert json.loads(stored[f"{3:016x}"]) == {"k0": 0, "k1": 1, "k2": 2}


async def test_a_request_over_the_span_cap_gets_413_and_stores_nothing(
    client: httpx.AsyncClient, store: Store
) -> None:
    spans = [make_span({}, span=i + 1) for i in range(11)]
    r = await client.post("/v1/traces", content=make_request(spans).SerializeToString(), headers=PB)
    assert r.status_code == 413 and b"over the limit of 10" in r.content
    assert store.query("SELECT count(*) FROM spans").rows == [(0,)]
    r = await client.post("/v1/traces", content=make_request(spans[:10]).SerializeToString(), headers=PB)
    assert r.status_code == 200
    assert not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")


async def test_overload_is_refused_at_once_with_retry_after(
    client: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "expected_wait_s", lambda: 4.2)
    r = await client.post("/v1/traces", content=body(GOOD), headers=JS)
    assert r.status_code == 429 and r.headers["retry-after"] == "5"
    assert "expected wait 4.2 s" in r.json()["message"]
    monkeypatch.setattr(store, "expected_wait_s", lambda: 0.5)
    assert (await client.post("/v1/traces", content=body(GOOD), headers=JS)).status_code == 200


async def test_decoding_backlog_counts_toward_the_wait(client: httpx.AsyncClient, store: Store) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    backlog = app.state.decode_backlog
    backlog.rate, backlog.measured_s, backlog.pending = 1000.0, 10.0, 3000  # 3 s of bytes queued ahead
    r = await client.post("/v1/metrics", content=b"{}", headers=JS)
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    backlog.pending = 0
    assert (await client.post("/v1/metrics", content=b"{}", headers=JS)).status_code == 200
    assert backlog.pending == 0
