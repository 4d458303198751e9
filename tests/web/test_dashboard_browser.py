"""The dashboard in a real browser (Debian's chromium through Playwright) against a live server on loopback.

Every number checked here is computed in Python from the inserted rows (see dashdata.py). Screenshots at
1280 px go to test-output/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from tokentrail.server.dashboard_format import usd

from .conftest import screenshot
from .dashdata import AGENT_TRACE, STALL_BEFORE, DataSet, quantile, total

ALL_CHARTS_DRAWN = """() => {
  const charts = document.querySelectorAll('.chart[data-src]');
  const done = (c) => c.dataset.rendered === 'true' || c.dataset.rendered === 'empty';
  return charts.length > 0 && [...charts].every(done);
}"""


def query_of(tab: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(tab.url).query)


def tile(tab: Page, metric: str) -> float:
    value = tab.locator(f'[data-metric="{metric}"]').get_attribute("data-value")
    return float(value or "nan")


def wait_charts(tab: Page) -> None:
    tab.wait_for_function(ALL_CHARTS_DRAWN)


def test_overview_shows_the_stored_numbers(page: Page, dataset: DataSet) -> None:
    page.goto("/")
    wait_charts(page)
    day = dataset.llm(dataset.ago(hours=24))
    assert tile(page, "calls") == len(day)
    expect(page.locator('[data-metric="cost_usd"]')).to_have_text(usd(total(day, "cost_usd")))
    assert tile(page, "cost_usd") == pytest.approx(total(day, "cost_usd"))
    assert tile(page, "ttft_p95_ms") == pytest.approx(quantile((c.ttft_ms for c in day), 0.95))
    assert page.locator(".chart svg.main-svg").count() >= 11  # 5 time series + 6 breakdowns drawn by plotly
    features = page.locator('[data-breakdown-table="feature"] tbody tr')
    expect(features.first.locator("th")).to_have_text("search")
    expect(features.first.locator("td").first).to_have_text(
        usd(total(dataset.llm(dataset.ago(hours=24), feature="search"), "cost_usd"))
    )
    page.keyboard.press("Tab")  # keyboard users land on the skip link first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    screenshot(page, "overview")


def test_range_picker_and_filters_change_the_url_and_numbers(page: Page, dataset: DataSet) -> None:
    page.goto("/")
    page.select_option("#since", "1h")
    page.click("form.controls button[type=submit]")
    page.wait_for_url(re.compile(r"since=1h"))
    assert query_of(page) == {"since": ["1h"]}
    assert tile(page, "calls") == len(dataset.llm(dataset.ago(hours=1)))

    page.select_option("#add_field", "feature")
    page.fill("#add_value", "search")
    page.press("#add_value", "Enter")
    page.wait_for_url(re.compile(r"feature=search"))
    assert query_of(page) == {"since": ["1h"], "feature": ["search"]}
    assert tile(page, "calls") == len(dataset.llm(dataset.ago(hours=1), feature="search"))
    wait_charts(page)
    screenshot(page, "overview-filtered")

    page.get_by_label("Remove filter feature = search").click()
    page.wait_for_url(lambda url: "feature=" not in url)

    start, end = dataset.ago(hours=40), dataset.ago(hours=16)
    expect(page.locator("#start")).to_be_hidden()
    page.select_option("#since", "custom")
    expect(page.locator("#start")).to_be_visible()
    page.fill("#start", start.strftime("%Y-%m-%dT%H:%M:%S"))
    page.fill("#end", end.strftime("%Y-%m-%dT%H:%M:%S"))
    page.click("form.controls button[type=submit]")
    page.wait_for_url(re.compile(r"since=custom"))
    assert query_of(page)["start"] == [start.isoformat()]
    assert tile(page, "calls") == len(dataset.llm(start, end))
    wait_charts(page)


def test_click_through_spenders_why_call_trace(page: Page, dataset: DataSet) -> None:
    page.goto("/spenders?since=24h")
    day, now = dt.timedelta(hours=24), dataset.now
    search_cost = total(dataset.llm(now - day, feature="search"), "cost_usd")
    first = page.locator("#spenders tbody tr").first
    expect(first.locator("th")).to_have_text("search")
    expect(first.locator("td[data-cost]")).to_have_text(usd(search_cost))
    screenshot(page, "spenders")

    first.get_by_role("link", name="search").click()
    page.wait_for_url(re.compile(r"/why\?.*feature=search"))
    expect(page.locator("h1")).to_have_text("Why: feature = search")
    assert float(
        page.locator("#why-summary [data-total-cost]").get_attribute("data-total-cost") or 0
    ) == pytest.approx(search_cost)
    gpt4o = page.locator('[data-driver="model"] tbody tr[data-value="gpt-4o"] td').first
    expect(gpt4o).to_have_text(
        usd(total(dataset.llm(now - day, feature="search", model="gpt-4o"), "cost_usd"))
    )
    expect(
        page.locator('[data-driver="prompt_name,prompt_version"] tr[data-value="search-prompt v3"] .change')
    ).to_have_text("new")
    wait_charts(page)
    screenshot(page, "why-search")

    page.locator('[data-calls="input_tokens"] tbody tr').first.get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/call/{AGENT_TRACE}/{0xA004:016x}"))
    expect(page.locator("#stall")).to_contain_text("900 ms")
    expect(page.locator("#itl")).to_have_text("25 ms / 60 ms / 900 ms")
    expect(page.locator('tr[data-field="input_tokens"] td').first).to_have_text("38000")
    assert_stall_drawn_in_place(page)
    screenshot(page, "call-stall")

    page.get_by_role("link", name="view trace").click()
    page.wait_for_url(re.compile(rf"/trace/{AGENT_TRACE}"))
    kinds = page.locator("#waterfall tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.kind, r.dataset.round || ''])"
    )
    assert kinds == [["agent", ""], ["llm", "1"], ["tool", "1"], ["llm", "2"], ["tool", "2"], ["llm", "3"]]
    expect(page.locator("#trace-stats")).to_contain_text("3 rounds of a tool loop")
    screenshot(page, "trace")


def test_calls_list_sorts_and_pages(page: Page, dataset: DataSet) -> None:
    calls = dataset.llm(dataset.ago(days=7))
    page.goto("/calls?since=7d")
    expect(page.locator("#calls-count")).to_contain_text(f"{len(calls)} calls")
    page.locator("#calls thead").get_by_role("link", name="Cost").click()
    page.wait_for_url(re.compile(r"sort=cost_usd"))
    costs = sorted((c.cost_usd for c in calls if c.cost_usd is not None), reverse=True)
    first_cost = page.locator("#calls tbody tr td[data-cost]").first
    assert float(first_cost.get_attribute("data-cost") or 0) == pytest.approx(costs[0])
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile(r"offset=50"))
    assert float(first_cost.get_attribute("data-cost") or 0) == pytest.approx(costs[50])
    expect(page.locator("#calls-count")).to_contain_text("showing 51\u2013100")
    screenshot(page, "calls")


def test_compare_picked_models(page: Page, dataset: DataSet) -> None:
    page.goto("/compare?since=7d")
    for model in ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "anthropic.claude-3-haiku"):
        page.get_by_label(model, exact=True).check()
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(lambda url: len(parse_qs(urlparse(url).query).get("pick", [])) == 4)
    wait_charts(page)
    headers = page.locator("#compare thead th").all_inner_texts()[1:]
    assert len(headers) == 4
    requests = page.locator('#compare tr[data-metric="calls"] td').evaluate_all(
        "cells => cells.map(c => +c.dataset.value)"
    )
    p95 = page.locator('#compare tr[data-metric="latency_p95_ms"] td').evaluate_all(
        "cells => cells.map(c => +c.dataset.value)"
    )
    for model, n, latency in zip(headers, requests, p95, strict=True):
        rows = dataset.llm(dataset.ago(days=7), model=model)
        assert n == len(rows) and latency == pytest.approx(quantile((c.duration_ms for c in rows), 0.95))
    screenshot(page, "compare")


def assert_stall_drawn_in_place(page: Page) -> None:
    """Every recorded chunk is a tick, and the longest gap spans the two ticks around it."""
    chunks = 400 // 4
    expect(page.locator("#arrivals .tl-tick")).to_have_count(chunks)
    gap = page.locator("#longest-gap")
    assert gap.get_attribute("data-chunk") == str(STALL_BEFORE)
    assert float(gap.get_attribute("data-gap-ms") or 0) == pytest.approx(900.0, abs=0.01)
    expect(page.locator(".legend")).to_contain_text(f"900 ms, before chunk {STALL_BEFORE + 1} of {chunks}")
    before, after = (
        page.locator(f'#arrivals .tl-tick[data-chunk="{n}"]').bounding_box()
        for n in (STALL_BEFORE - 1, STALL_BEFORE)
    )
    box = gap.bounding_box()
    assert before and after and box
    assert box["x"] == pytest.approx(before["x"], abs=1.5)
    assert box["x"] + box["width"] == pytest.approx(after["x"], abs=1.5)
    expect(page.locator("#tl-h ~ p.note")).not_to_contain_text("not recorded")


def test_query_console_table_chart_and_errors(
    page: Page, dataset: DataSet, allowed_errors: list[str]
) -> None:
    allowed_errors.append("status of 400 (Bad Request)")  # the console's last query is wrong on purpose
    page.goto("/query?since=24h")
    page.fill("#query-text", "stats sum(cost_usd) as cost, count(*) as calls by feature | sort cost desc")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#query-result")).to_be_visible()
    assert "q=stats" in page.url  # the query is part of the shareable URL
    table = page.locator("#query-result")
    columns = table.locator("thead th").all_inner_texts()
    rows = table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.title || c.textContent))"
    )
    day = dataset.ago(hours=24)
    for row in rows:
        item = dict(zip(columns, row, strict=True))
        expected = dataset.llm(day, feature=item["feature"])
        assert float(item["cost"]) == pytest.approx(total(expected, "cost_usd"))
        assert int(item["calls"]) == len(expected)
    assert len(rows) == 5
    expect(page.locator("#query-chart")).to_have_attribute("data-kind", "bar")
    expect(page.locator("#query-chart")).to_have_attribute("data-rendered", "true")
    screenshot(page, "query")

    page.fill("#query-text", "stats count(*) as calls by bin(1h)")
    page.press("#query-text", "Control+Enter")
    expect(page.locator("#query-chart")).to_have_attribute("data-kind", "line")
    cells = page.locator("#query-result tbody tr td:last-child").evaluate_all(
        "cells => cells.map(c => +c.title)"
    )
    assert sum(cells) == len(dataset.llm(day))
    expect(page.locator("#query-result thead th").first).to_have_attribute("title", "timestamp")

    # the column types decide: no numbers, or numbers with nothing to lay them along, is a table only
    for text in (
        "fields @timestamp, feature, trace_id | limit 5",
        "stats count(*) as calls, sum(cost_usd) as c",
    ):
        page.fill("#query-text", text)
        page.press("#query-text", "Control+Enter")
        expect(page.locator("#query-chart")).to_have_attribute("data-kind", "none")
        expect(page.locator("#query-chart-card")).to_be_hidden()
        expect(page.locator("#query-result")).to_be_visible()
    page.fill("#query-text", "stats count(*) as calls by bin(1h), feature")
    page.press("#query-text", "Control+Enter")
    expect(page.locator("#query-chart")).to_have_attribute("data-kind", "line")
    expect(page.locator("#query-chart-card")).to_be_visible()
    names = page.evaluate("document.getElementById('query-chart').data.map((t) => t.name)")
    assert sorted(names) == sorted({c.feature for c in dataset.llm(day)})

    page.fill("#query-text", "stats sum(cost_usd by feature")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#query-error")).to_be_visible()
    expect(page.locator("#query-error")).to_contain_text("line 1")


def test_overview_says_since_when_data_is_kept(page: Page, dataset: DataSet) -> None:
    page.goto("/")
    oldest = min(s.start_time for s in dataset.spans if s.start_time is not None)
    line = page.locator(".kept")
    expect(line).to_contain_text(f"Data kept since {oldest:%Y-%m-%d}")
    expect(line).to_contain_text("(retention: everything is kept)")
    assert line.get_attribute("data-kept-since") == oldest.isoformat()
