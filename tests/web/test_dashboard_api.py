"""The dashboard's JSON endpoints, through ASGI: every number is checked against values computed in Python
from the inserted rows (not from SQL)."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest

from tokentrail.model import Call

from .dashdata import AGENT_TRACE, STALL_BEFORE, DataSet, quantile, total

Params = dict[str, Any]


def window(d: DataSet, hours_back: float, hours: float) -> tuple[dt.datetime, dt.datetime, Params]:
    """A custom range [now - hours_back, now - hours_back + hours) and its query parameters."""
    start = d.ago(hours=hours_back)
    end = start + dt.timedelta(hours=hours)
    return start, end, {"since": "custom", "start": start.isoformat(), "end": end.isoformat()}


def group(calls: Iterable[Call], key: Callable[[Call], Any]) -> dict[Any, list[Call]]:
    out: dict[Any, list[Call]] = collections.defaultdict(list)
    for c in calls:
        out[key(c)].append(c)
    return out


async def get(client: httpx.AsyncClient, path: str, params: Params | None = None) -> Any:
    r = await client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_timeseries_buckets_equal_the_rows(client: httpx.AsyncClient, dataset: DataSet) -> None:
    start, end, params = window(dataset, 48, 48)
    body = await get(client, "/api/timeseries", params)
    step = body["step_s"]
    assert step == 900 and len(body["t"]) == 48 * 4  # 48 h in 15-minute buckets
    buckets = group(dataset.llm(start, end), lambda c: int((c.start_time - start).total_seconds() // step))
    series = body["series"]
    for i in range(len(body["t"])):
        calls = buckets.get(i, [])
        assert series["calls"][i] == len(calls)
        assert series["cost_usd"][i] == pytest.approx(total(calls, "cost_usd") if calls else 0)
        assert series["input_tokens"][i] == total(calls, "input_tokens")
        assert series["errors_throttled"][i] == sum(c.error_class == "throttled" for c in calls)
        expected_p95 = quantile((c.duration_ms for c in calls), 0.95)
        assert series["latency_p95_ms"][i] == (pytest.approx(expected_p95) if calls else None)
    assert body["t"][1] == (start + dt.timedelta(seconds=step)).isoformat() + "Z"


async def test_timeseries_follows_filters(client: httpx.AsyncClient, dataset: DataSet) -> None:
    start, end, params = window(dataset, 24, 24)
    body = await get(client, "/api/timeseries", {**params, "feature": "chat", "tenant": "acme"})
    expected = dataset.llm(start, end, feature="chat", tenant="acme")
    assert sum(body["series"]["calls"]) == len(expected) > 0
    assert sum(body["series"]["output_tokens"]) == total(expected, "output_tokens")


async def test_breakdowns_equal_the_rows(client: httpx.AsyncClient, dataset: DataSet) -> None:
    start, end, params = window(dataset, 24, 24)
    body = await get(client, "/api/breakdowns", params)
    calls = dataset.llm(start, end)
    assert set(body["dims"]) == {"app", "feature", "tenant", "model", "provider", "cost_center"}
    for dim, rows in body["dims"].items():
        expected = group(calls, lambda c, dim=dim: c.model if dim == "model" else getattr(c, dim))
        assert {r["value"] for r in rows} == set(expected)
        for r in rows:
            assert r["calls"] == len(expected[r["value"]])
            assert r["cost_usd"] == pytest.approx(total(expected[r["value"]], "cost_usd"))
            assert r["errors"] == sum(c.status == "error" for c in expected[r["value"]])
        costs = [r["cost_usd"] for r in rows]
        assert costs == sorted(costs, reverse=True)


async def test_breakdowns_limit_keeps_the_most_expensive(client: httpx.AsyncClient, dataset: DataSet) -> None:
    start, end, params = window(dataset, 24, 24)
    body = await get(client, "/api/breakdowns", {**params, "dims": "tenant", "limit": 2})
    by_tenant = group(dataset.llm(start, end), lambda c: c.tenant)
    top2 = sorted(by_tenant, key=lambda t: total(by_tenant[t], "cost_usd"), reverse=True)[:2]
    assert [r["value"] for r in body["dims"]["tenant"]] == top2


async def test_spenders_against_the_previous_period(client: httpx.AsyncClient, dataset: DataSet) -> None:
    body = await get(client, "/api/spenders", {"since": "24h", "by": "feature"})
    now = dataset.now
    current = group(dataset.llm(now - dt.timedelta(hours=24)), lambda c: c.feature)
    previous = group(
        dataset.llm(now - dt.timedelta(hours=48), now - dt.timedelta(hours=24)), lambda c: c.feature
    )
    rows = body["rows"]
    assert rows[0]["value"] == "search"  # the biggest spender of the last 24 h
    assert {r["value"] for r in rows} == set(current) | set(previous)
    for r in rows:
        cost, prev = total(current[r["value"]], "cost_usd"), total(previous[r["value"]], "cost_usd")
        assert r["cost_usd"] == pytest.approx(cost) and r["prev_cost_usd"] == pytest.approx(prev)
        assert r["calls"] == len(current[r["value"]]) and r["prev_calls"] == len(previous[r["value"]])
        assert r["change"]["delta"] == pytest.approx(cost - prev)
        assert r["retries"] == sum((c.attempts or 1) - 1 for c in current[r["value"]])


async def test_why_explains_a_feature(client: httpx.AsyncClient, dataset: DataSet) -> None:
    body = await get(client, "/api/why", {"since": "24h", "feature": "search"})
    now = dataset.now
    current = dataset.llm(now - dt.timedelta(hours=24), feature="search")
    previous = dataset.llm(now - dt.timedelta(hours=48), now - dt.timedelta(hours=24), feature="search")
    assert body["totals"]["cost_usd"] == pytest.approx(total(current, "cost_usd"))
    assert body["totals"]["prev_cost_usd"] == pytest.approx(total(previous, "cost_usd"))
    drivers = {d["title"]: d for d in body["drivers"]}
    assert set(drivers) == {"Models", "Tenants", "Prompt versions"}  # no "Features": the view is one feature
    for title, key in (("Models", lambda c: c.model), ("Tenants", lambda c: c.tenant)):
        cur, prev = group(current, key), group(previous, key)
        for r in drivers[title]["rows"]:
            assert (r["cost_usd"] or 0) == pytest.approx(total(cur[r["value"]], "cost_usd"))
            assert (r["prev_cost_usd"] or 0) == pytest.approx(total(prev[r["value"]], "cost_usd"))
    prompts = {r["value"]: r for r in drivers["Prompt versions"]["rows"]}
    assert prompts["search-prompt v3"]["change"]["direction"] == "new"
    assert prompts["search-prompt v3"]["calls"] == len(current)
    lists = {c["column"]: c["rows"] for c in body["calls"]}
    assert [r["input_tokens"] for r in lists["input_tokens"][:3]] == [38000, 34000, 30000]
    assert lists["input_tokens"][0]["trace_id"] == AGENT_TRACE
    assert [r["attempts"] for r in lists["attempts"]][:1] == [max(c.attempts or 1 for c in current)]
    outputs = sorted((c.output_tokens or 0 for c in current), reverse=True)[:10]
    assert [r["output_tokens"] for r in lists["output_tokens"]] == outputs


async def test_compare_models_side_by_side(client: httpx.AsyncClient, dataset: DataSet) -> None:
    start, end, params = window(dataset, 48, 48)
    picks = ["gpt-4o", "claude-sonnet-4"]
    body = await get(client, "/api/compare", {**params, "by": "model", "pick": picks})
    rows = {r["value"]: r for r in body["rows"]}
    assert set(rows) == set(picks)
    for model in picks:
        calls = dataset.llm(start, end, model=model)
        r = rows[model]
        assert r["calls"] == len(calls)
        assert r["error_rate"] == pytest.approx(sum(c.status == "error" for c in calls) / len(calls))
        assert r["latency_p95_ms"] == pytest.approx(quantile((c.duration_ms for c in calls), 0.95))
        assert r["ttft_p50_ms"] == pytest.approx(quantile((c.ttft_ms for c in calls), 0.5))
        priced = [c.cost_usd for c in calls if c.cost_usd is not None]
        assert r["cost_per_call_usd"] == pytest.approx(sum(priced) / len(priced))
        tps = quantile((c.output_tokens_per_s for c in calls), 0.5)
        assert r["output_tokens_per_s"] == pytest.approx(tps)


async def test_compare_defaults_to_the_busiest(client: httpx.AsyncClient, dataset: DataSet) -> None:
    body = await get(client, "/api/compare", {"since": "7d", "by": "provider"})
    counts = collections.Counter(c.provider for c in dataset.llm())
    assert body["picks"] == [p for p, _ in counts.most_common(3)]


async def test_call_detail_marks_a_stall(client: httpx.AsyncClient) -> None:
    body = await get(client, f"/api/calls/{AGENT_TRACE}/{0xA004:016x}")
    assert body["call"]["input_tokens"] == 38000 and body["call"]["tool_names"] == []
    assert body["stalled"] is True  # 900 ms > 5 x 25 ms and > 250 ms
    segments = {s["cls"]: s for s in body["timeline"]["segments"]}
    assert segments["wait"]["w"] == pytest.approx(30.0)  # TTFT 600 ms of 2000 ms
    assert segments["stream"]["x"] == pytest.approx(30.0) and segments["stream"]["w"] == pytest.approx(69.0)
    assert body["timeline"]["longest_gap"]["chunk"] == STALL_BEFORE
    assert body["timeline"]["longest_gap"]["ms"] == pytest.approx(900.0)
    assert [n for n, _, _ in body["timeline"]["chunks"]] == list(range(100))
    calm = await get(client, f"/api/calls/{AGENT_TRACE}/{0xA000:016x}")
    assert calm["stalled"] is False and calm["call"]["tool_names"] == ["web_search"]
    assert calm["timeline"]["chunks"] is None  # no arrivals recorded for this one
    trace = await get(client, f"/api/traces/{AGENT_TRACE}")
    timelines = {s["span_id"]: s["stream_timeline"] for s in trace["spans"]}
    assert timelines[f"{0xA000:016x}"] is None
    stored = timelines[f"{0xA004:016x}"]
    assert stored["chunks"] == list(range(100)) and len(stored["offsets_ms"]) == 100
    assert stored["offsets_ms"][STALL_BEFORE] - stored["offsets_ms"][STALL_BEFORE - 1] == pytest.approx(900.0)


async def test_call_detail_not_found(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/api/calls/{'f' * 32}/{'f' * 16}")
    assert r.status_code == 404 and "no span" in r.json()["error"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/timeseries", {"since": "soon"}),
        ("/api/timeseries", {"password": "x"}),
        ("/api/timeseries", {"since": "custom"}),
        ("/api/timeseries", {"since": "custom", "start": "2026-01-02", "end": "2026-01-01"}),
        ("/api/breakdowns", {"dims": "feature,secret"}),
        ("/api/breakdowns", {"dims": "feature,feature"}),
        ("/api/breakdowns", {"limit": "many"}),
        ("/api/breakdowns", {"limit": "0"}),
        ("/api/spenders", {"by": "1; drop table spans"}),
        ("/api/spenders", {"limit": "100000"}),
        ("/api/compare", {"by": "feature"}),
        ("/api/compare", {"by": "model", "pick": [f"m{i}" for i in range(13)]}),
        ("/api/calls/xyz/abc", {}),
        ("/api/why", {"tenant'--": "x"}),
    ],
)
async def test_bad_input_is_a_json_400(client: httpx.AsyncClient, path: str, params: Params) -> None:
    r = await client.get(path, params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"]
