"""The dashboard's server-rendered pages and static files, through ASGI (no browser)."""

from __future__ import annotations

import datetime as dt
import importlib.resources
import re

import httpx
import pytest

from .dashdata import AGENT_TRACE, DataSet, quantile, total


def tiles(html: str) -> dict[str, float | None]:
    found = re.findall(r'data-metric="(\w+)" data-value="([^"]*)"', html)
    return {k: float(v) if v else None for k, v in found}


async def test_overview_tiles_equal_the_rows(client: httpx.AsyncClient, dataset: DataSet) -> None:
    start, end = dataset.ago(hours=30), dataset.ago(hours=6)
    params = {"since": "custom", "start": start.isoformat(), "end": end.isoformat(), "tenant": "globex"}
    r = await client.get("/", params=params)
    assert r.status_code == 200
    shown = tiles(r.text)
    calls = dataset.llm(start, end, tenant="globex")
    assert shown["calls"] == len(calls) > 0
    assert shown["requests_per_s"] == pytest.approx(len(calls) / (24 * 3600))
    for field in ("input_tokens", "output_tokens", "cache_read_tokens"):
        assert shown[field] == total(calls, field)
    assert shown["cost_usd"] == pytest.approx(total(calls, "cost_usd"))
    assert shown["error_rate"] == pytest.approx(sum(c.status == "error" for c in calls) / len(calls))
    assert shown["ttft_p50_ms"] == pytest.approx(quantile((c.ttft_ms for c in calls), 0.5))
    assert shown["ttft_p95_ms"] == pytest.approx(quantile((c.ttft_ms for c in calls), 0.95))
    assert shown["latency_p95_ms"] == pytest.approx(quantile((c.duration_ms for c in calls), 0.95))
    # the charts ask for the same view
    assert 'data-src="/api/timeseries?since=custom&amp;start=' in r.text and "tenant=globex" in r.text


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/", "Breakdowns by cost"),
        ("/spenders?by=tenant", "Tenant ranked by cost"),
        ("/why?feature=search", "What drove it"),
        ("/calls?sort=cost_usd&order=asc&limit=5&offset=5", "showing 6\u201310"),
        (f"/call/{AGENT_TRACE}/{0xA004:016x}", "Stall:"),
        (f"/trace/{AGENT_TRACE}", "3 rounds of a tool loop"),
        ("/compare?by=provider&pick=openai&pick=anthropic", "Compare providers"),
        ("/query?q=stats+count(*)", "stats count(*)"),
    ],
)
async def test_pages_render(client: httpx.AsyncClient, path: str, needle: str) -> None:
    r = await client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert needle in r.text
    assert '<html lang="en">' in r.text and "<h1>" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]


async def test_trace_waterfall_nests_rounds(client: httpx.AsyncClient) -> None:
    html = (await client.get(f"/trace/{AGENT_TRACE}")).text
    rows = re.findall(r'<tr data-kind="(\w+)" data-depth="(\d)" data-span="\w+"(?: data-round="(\d)")?', html)
    assert rows == [
        ("agent", "0", ""),
        ("llm", "1", "1"),
        ("tool", "1", "1"),
        ("llm", "1", "2"),
        ("tool", "1", "2"),
        ("llm", "1", "3"),
    ]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/?password=x", "cannot filter on &#39;password&#39;"),
        ("/?since=yesterday", "bad duration"),
        ("/?since=custom", "a custom range needs a start time"),
        ("/calls?sort=secret", "cannot sort by"),
        ("/spenders?by=user_password", "rank by one of"),
        ("/trace/nothex", "32 hex characters"),
    ],
)
async def test_bad_input_shows_a_clear_page(client: httpx.AsyncClient, path: str, message: str) -> None:
    r = await client.get(path)
    assert r.status_code == 400 and message in r.text and 'role="alert"' in r.text


async def test_unknown_ids_are_a_404_page(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"/trace/{'e' * 32}")).status_code == 404
    assert (await client.get(f"/call/{'e' * 32}/{'e' * 16}")).status_code == 404


async def test_filter_form_redirects_to_a_shareable_url(client: httpx.AsyncClient) -> None:
    form = {"since": "1h", "start": "2026-01-01T00:00", "end": "", "tenant": "acme"}
    r = await client.get(
        "/calls", params={**form, "add_field": "feature", "add_value": "chat", "sort": "cost_usd"}
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/calls?since=1h&tenant=acme&sort=cost_usd&feature=chat"
    assert (await client.get(r.headers["location"])).status_code == 200


async def test_plotly_is_served_from_the_package_with_caching(client: httpx.AsyncClient) -> None:
    html = (await client.get("/")).text
    src = re.search(r'<script src="(/static/plotly\.min\.js\?v=[^"]+)"', html)
    assert src is not None
    r = await client.get(src.group(1), headers={"accept-encoding": "gzip"})
    bundled = (importlib.resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    assert r.status_code == 200 and r.content == bundled
    assert r.headers["content-encoding"] == "gzip" and "immutable" in r.headers["cache-control"]
    again = await client.get("/static/plotly.min.js", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content


async def test_own_static_files_and_unknown_names(client: httpx.AsyncClient) -> None:
    r = await client.get("/static/app.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert (await client.get("/static/..%2Fdashboard.py")).status_code == 404
    assert (await client.get("/static/nope.css")).status_code == 404


async def test_spenders_page_numbers(client: httpx.AsyncClient, dataset: DataSet) -> None:
    html = (await client.get("/spenders", params={"since": "24h"})).text
    rows = re.findall(
        r'<tr data-value="([^"]+)">.*?data-cost="([^"]*)".*?data-prev-cost="([^"]*)"', html, re.S
    )
    day = dt.timedelta(hours=24)
    for feature, cost, prev in rows:
        assert float(cost) == pytest.approx(
            total(dataset.llm(dataset.now - day, feature=feature), "cost_usd")
        )
        earlier = dataset.llm(dataset.now - 2 * day, dataset.now - day, feature=feature)
        assert float(prev) == pytest.approx(total(earlier, "cost_usd"))
    assert rows[0][0] == "search" and len(rows) == 5
