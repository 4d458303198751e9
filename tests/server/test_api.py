"""The JSON API: calls (filter, sort, page), summary by any label, traces; bad input gets a JSON 400."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest

from tokentrail.model import Call
from tokentrail.server.app import create_app
from tokentrail.store import Store

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def sample() -> list[Call]:
    out = []
    for i in range(30):
        out.append(
            Call(
                trace_id=f"{i // 3 + 1:032x}",
                span_id=f"{i + 1:016x}",
                kind="llm",
                name="chat",
                start_time=NOW - dt.timedelta(minutes=i),
                duration_ms=100.0 + i,
                feature="search" if i % 3 else "chat",
                tenant=f"t{i % 2}",
                provider="openai",
                request_model="gpt-4o",
                input_tokens=100,
                output_tokens=10 + i,
                cost_usd=0.01 * (i + 1),
                ttft_ms=50.0 + i,
                status="error" if i % 10 == 0 else "ok",
                error_class="throttled" if i % 10 == 0 else None,
                attempts=2 if i % 10 == 0 else 1,
            )
        )
    out.append(Call(trace_id=f"{1:032x}", span_id="f" * 16, kind="tool", name="search", start_time=NOW))
    return out


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    store.write(sample())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(store)), base_url="http://t"
    ) as c:
        yield c


async def test_calls_filter_sort_page(api: httpx.AsyncClient) -> None:
    r = await api.get(
        "/api/calls", params={"feature": "search", "sort": "cost_usd", "order": "asc", "limit": 5}
    )
    body = r.json()
    assert r.status_code == 200 and body["total"] == 20
    costs = [c["cost_usd"] for c in body["calls"]]
    assert costs == sorted(costs) and len(costs) == 5 and all(c["feature"] == "search" for c in body["calls"])
    page2 = (
        await api.get(
            "/api/calls",
            params={"feature": "search", "sort": "cost_usd", "order": "asc", "limit": 5, "offset": 5},
        )
    ).json()
    assert page2["calls"][0]["cost_usd"] > costs[-1]


async def test_summary_by_label(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/summary", params={"by": "feature", "since": "1d"})
    rows = {row["feature"]: row for row in r.json()["rows"]}
    assert rows["search"]["calls"] == 20 and rows["chat"]["calls"] == 10
    expected_chat = sum(0.01 * (i + 1) for i in range(30) if i % 3 == 0)
    assert rows["chat"]["cost_usd"] == pytest.approx(expected_chat)
    # errors at i = 0 (chat), 10 and 20 (search), each with one retry
    assert rows["chat"]["errors_throttled"] == 1 and rows["chat"]["retries"] == 1
    assert rows["search"]["errors"] == 2 and rows["search"]["error_rate"] == pytest.approx(0.1)


async def test_summary_overall_and_by_two_labels(api: httpx.AsyncClient) -> None:
    overall = (await api.get("/api/summary")).json()["rows"]
    assert overall[0]["calls"] == 30  # the tool span is not a call
    pairs = (await api.get("/api/summary", params={"by": "feature,tenant"})).json()["rows"]
    assert sum(r["calls"] for r in pairs) == 30 and len(pairs) == 4


async def test_trace(api: httpx.AsyncClient) -> None:
    body = (await api.get(f"/api/traces/{1:032x}")).json()
    assert {s["kind"] for s in body["spans"]} == {"llm", "tool"} and len(body["spans"]) == 4
    assert (await api.get(f"/api/traces/{999:032x}")).status_code == 404


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/summary", {"by": "password"}),
        ("/api/calls", {"sort": "1; drop table spans"}),
        ("/api/calls", {"nosuchlabel": "x"}),
        ("/api/calls", {"since": "yesterday"}),
        ("/api/calls", {"start": "not-a-time"}),
        ("/api/calls", {"limit": "lots"}),
        ("/api/calls", {"limit": "100000"}),
        ("/api/traces/xyz", {}),
    ],
)
async def test_bad_input_is_a_json_400(
    api: httpx.AsyncClient, store: Store, path: str, params: dict[str, str]
) -> None:
    r = await api.get(path, params=params)
    assert r.status_code == 400 and r.json()["error"]
    assert store.query("SELECT count(*) FROM spans").rows == [(31,)]
