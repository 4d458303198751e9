"""The dashboard says what was recorded and nothing more: a tool loop only where a model asked for a tool
and a tool ran after it, "most attempts" only for calls that were retried, and unpriced calls named wherever
a cost total is shown."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tokentrail.model import Call
from tokentrail.server.app import create_app
from tokentrail.server.dashboard_views import trace_rows
from tokentrail.store import Store

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
PLAIN, LOOP = "1" * 32, "2" * 32
RANGE = {"since": "custom", "start": (NOW - dt.timedelta(hours=2)).isoformat(), "end": NOW.isoformat()}


def span(trace: str, n: int, kind: str, at_s: int, **fields: object) -> Call:
    call = Call(
        trace_id=trace, span_id=f"{n:016x}", parent_span_id="f" * 16, kind=kind, name=f"{kind} {n}",
        start_time=NOW - dt.timedelta(minutes=30) + dt.timedelta(seconds=at_s), duration_ms=500.0,
        feature="search", status="ok", attempts=1,
    )  # fmt: skip
    for key, value in fields.items():
        setattr(call, key, value)
    return call


def traces() -> list[Call]:
    root = [span(t, 0xF, "agent", 0, span_id="f" * 16, parent_span_id=None) for t in (PLAIN, LOOP)]
    plain = [  # two plain calls and a retrieval tool that no model asked for
        span(PLAIN, 1, "llm", 1, request_model="gpt-4o", cost_usd=0.25),
        span(PLAIN, 2, "tool", 2, name="search"),
        span(PLAIN, 3, "llm", 3, request_model="gpt-4o", cost_usd=0.25),
    ]
    loop = [
        span(LOOP, 1, "llm", 1, request_model="gpt-4o", tool_names=["search"], cost_usd=0.25),
        span(LOOP, 2, "tool", 2, name="search", tool_names=["search"]),
        span(LOOP, 3, "llm", 3, request_model="mystery-model", attempts=3),  # unpriced, retried
    ]
    return root + plain + loop


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    store.write(traces())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(store)), base_url="http://t"
    ) as c:
        yield c


async def test_plain_calls_are_no_tool_loop_and_no_model_asks_for_a_tool(client: httpx.AsyncClient) -> None:
    html = (await client.get(f"/trace/{PLAIN}")).text
    assert "tool loop" not in html and "asked for" not in html and "data-round" not in html
    assert "2 LLM calls, 1 tool executions" in html


async def test_a_requested_tool_makes_a_loop_and_only_the_model_asks(client: httpx.AsyncClient) -> None:
    html = (await client.get(f"/trace/{LOOP}")).text
    assert "2 rounds of a tool loop" in html
    rows = re.findall(r'<tr data-kind="(\w+)"(.*?)</th>', html, re.S)
    assert [kind for kind, _ in rows] == ["agent", "llm", "tool", "llm"]
    marked = [kind for kind, cell in rows if "asked for" in cell]
    assert marked == ["llm"] and "the model asked for search" in html


def test_rounds_need_a_requested_tool_followed_by_a_tool_span() -> None:
    spans = [vars_of(s) for s in traces() if s.trace_id == PLAIN]
    assert all(r["round"] is None for r in trace_rows(spans))
    looped = [vars_of(s) for s in traces() if s.trace_id == LOOP]
    assert [r["round"] for r in trace_rows(looped)] == [None, 1, 1, 2]


def vars_of(call: Call) -> dict[str, object]:
    return {name: getattr(call, name) for name in ("span_id", "parent_span_id", "kind", "start_time",
            "end_time", "duration_ms", "tool_names")}  # fmt: skip


async def test_most_attempts_lists_only_retried_calls(client: httpx.AsyncClient) -> None:
    html = (await client.get("/why", params={**RANGE, "feature": "search"})).text
    table = re.search(r'data-calls="attempts".*?</table>', html, re.S)
    assert table is not None
    assert table[0].count("<tr>") - 1 == 1  # the header row, and the one call with 3 attempts
    html = (await client.get("/why", params={**RANGE, "feature": "search", "model": "gpt-4o"})).text
    assert 'data-calls="attempts"' not in html and "No call needed more than one attempt." in html


async def test_unpriced_calls_are_named_beside_every_cost_total(client: httpx.AsyncClient) -> None:
    overview = (await client.get("/", params=RANGE)).text
    assert re.search(r'data-unpriced="1">1 calls unpriced<', overview)
    why = (await client.get("/why", params={**RANGE, "feature": "search"})).text
    assert 'data-unpriced="1"' in why and "1 calls unpriced" in why
    priced = (await client.get("/", params={**RANGE, "model": "gpt-4o"})).text
    assert "unpriced" not in priced
    data = (await client.get("/api/why", params={**RANGE, "feature": "search"})).json()
    assert data["totals"]["unpriced_calls"] == 1 and data["totals"]["cost_usd"] == pytest.approx(0.75)
