"""Queries that cannot starve the server: every query path stops at its time limit (regexes and cross joins
included), user queries run in their own bounded pool and are refused with 429 when it is full while budget
status, dashboard reads and ingest go on, and bad parameters get 400, never 500."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from support import make_request, make_span
from tokentrail.analytics.ranges import TimeRange
from tokentrail.query.run import run_query, run_sql
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store import QueryTimeout, Store
from tokentrail.store.duckdb import DuckDBStore

# 20 regexes over every call's whole @message (its JSON): about 10 s of CPU over 200,000 calls on our machine.
HEAVY_REGEX = "filter " + " or ".join(f"@message =~ /(a|b|c|d)*zz{i}[0-9]+q/" for i in range(20))
CROSS_JOIN = {
    "duckdb": "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range + b.range = 7",
    "clickhouse": "SELECT count() FROM numbers(1000000) a, numbers(1000000) b WHERE a.number + b.number = 7",
}
REGEX_SCAN = {
    "duckdb": "SELECT count(*) FROM range(100000000) t(i) "
    "WHERE regexp_matches(repeat('ab', 50) || i, '(a|b)*c')",
    "clickhouse": "SELECT count() FROM numbers(100000000) "
    "WHERE match(concat(repeat('ab', 50), toString(number)), '(a|b)*c')",
}


def seed(store: DuckDBStore, calls: int) -> None:
    store.execute(
        "INSERT INTO spans BY NAME SELECT lpad(to_hex(i), 32, '0') AS trace_id,"
        " lpad(to_hex(i), 16, '0') AS span_id,"
        " 'llm' AS kind, 'chat' AS name, 'ok' AS status, 'otlp' AS source, 't' || (i % 3) AS tenant,"
        " now()::TIMESTAMP - INTERVAL 1 MINUTE * (i % 600) AS start_time, 'feature-' || (i % 1000) AS feature"
        f" FROM range({calls}) r(i)"
    )


@pytest.mark.parametrize("kind", ["cross join", "regex scan"])
def test_raw_sql_stops_at_the_time_limit_on_both_stores(store: Store, kind: str) -> None:
    sql = (CROSS_JOIN if kind == "cross join" else REGEX_SCAN)[store.dialect]
    with pytest.raises(QueryTimeout, match="limit of 1 s"):
        run_sql(store, sql, timeout_s=1.0)


def test_a_heavy_regex_query_stops_at_the_time_limit(duck: DuckDBStore) -> None:
    seed(duck, 200_000)
    with pytest.raises(QueryTimeout):
        run_query(duck, HEAVY_REGEX + " | stats count(*) by tenant", TimeRange.resolve("1d"), timeout_s=1.0)


async def wait_for(predicate: Any, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while not predicate():
        assert time.monotonic() < end, "condition not reached before the deadline"
        await asyncio.sleep(0.01)


async def test_user_queries_cannot_starve_budgets_dashboard_or_ingest(duck: DuckDBStore) -> None:
    seed(duck, 200_000)
    app = create_app(duck, Settings(query_concurrency=2, query_timeout_s=2.0))
    pool = app.state.query_pool
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60
    ) as c:
        heavy = {"query": HEAVY_REGEX, "since": "1d"}
        running = [asyncio.create_task(c.post("/api/query", json=heavy)) for _ in range(2)]
        await wait_for(lambda: pool.busy == 2)
        refused = await c.post("/api/query", json={"query": "stats count(*)", "since": "1d"})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
        assert "busy" in refused.json()["error"]
        assert (await c.get("/api/budgets/status")).status_code == 200
        assert (await c.get("/api/summary", params={"since": "1h", "by": "tenant"})).status_code == 200
        body = make_request([make_span({"gen_ai.system": "openai"}, trace=7, span=7)]).SerializeToString()
        ingest = await c.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf"})
        assert ingest.status_code == 200
        assert pool.busy == 2  # all of that was answered while both heavy queries still ran
        answers = await asyncio.gather(*running)
    assert [a.status_code for a in answers] == [504, 504]
    assert all("limit of 2 s" in a.json()["error"] for a in answers)
    await wait_for(lambda: pool.busy == 0)


BAD_QUERIES: list[dict[str, Any]] = [
    {"query": "fields tenant", "start": "99999999999999999999"},
    {"query": "fields tenant", "start": 99999999999999999999},
    {"query": "fields tenant", "end": "99999999999999999999"},
    {"query": "fields tenant", "since": "99999999999w"},
    {"query": "fields tenant", "since": 5},
    {"query": "filter " + " or ".join(f"tenant = 'x{i}'" for i in range(1000))},
    {"query": "fields " + " + ".join("input_tokens" for _ in range(1000)) + " as x"},
    {"query": "stats sum(" + "+".join("1" for _ in range(1000)) + ")"},
    {"query": ""},
    {"query": 5},
]
BAD_GETS = [
    "/api/calls?since=99999999w",
    "/api/calls?start=99999999999999999999",
    "/api/timeseries?since=999999d",
    "/api/calls?limit=99999999999999999999",
    "/api/summary?end=99999999999999999999",
]


@pytest.mark.parametrize("body", BAD_QUERIES, ids=range(len(BAD_QUERIES)))
async def test_bad_query_parameters_get_400(store: Store, body: dict[str, Any]) -> None:
    app = create_app(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/api/query", json=body)
    assert r.status_code == 400 and r.json()["error"]


@pytest.mark.parametrize("path", BAD_GETS)
async def test_bad_read_parameters_get_400(store: Store, path: str) -> None:
    app = create_app(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get(path)
        page = await c.get(
            "/calls" + path[len("/api/calls") :] if path.startswith("/api/calls") else "/?since=9999999w"
        )
    assert r.status_code == 400 and r.json()["error"]
    assert page.status_code == 400
