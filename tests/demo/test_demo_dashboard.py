"""The dashboard in a real browser over the demo's simulator traffic: yesterday's top spender, its why page,
the overview and an agent trace show what the store holds (checked by SQL on the same file)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from support import CHROMIUM_ARGS, serve_app
from tokentrail.server.app import create_app
from tokentrail.store.duckdb import DuckDBStore

from .conftest import DemoRun

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def window(start: dt.datetime, end: dt.datetime) -> str:
    return f"since=custom&start={start:%Y-%m-%dT%H:%M:%S}&end={end:%Y-%m-%dT%H:%M:%S}"


def test_dashboard_over_demo_traffic(demo_run: DemoRun) -> None:
    today = demo_run.finished.replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = (today - dt.timedelta(days=1), today)
    with DuckDBStore(demo_run.db, read_only=True) as store:
        spend = store.query(
            "SELECT feature, sum(cost_usd), count(*) FROM calls WHERE start_time >= ? AND start_time < ? "
            "GROUP BY 1 ORDER BY 2 DESC",
            list(yesterday),
        ).rows
        top, top_cost, _ = spend[0]
        models = store.query(
            "SELECT coalesce(response_model, request_model), sum(cost_usd) FROM calls WHERE feature = ? "
            "AND start_time >= ? AND start_time < ? GROUP BY 1 ORDER BY 2 DESC",
            [top, *yesterday],
        ).rows
        everything = (dt.datetime(2000, 1, 1), demo_run.finished + dt.timedelta(minutes=1))
        calls = store.query(
            "SELECT count(*) FROM calls WHERE start_time >= ? AND start_time < ?", list(everything)
        ).rows[0][0]
        agent = store.query("SELECT trace_id FROM spans WHERE kind = 'agent' LIMIT 1").rows[0][0]
        kinds = [k for (k,) in store.query("SELECT kind FROM spans WHERE trace_id = ?", [agent]).rows]
        with serve_app(create_app(store)) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, base_url=base)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)

            page.goto(f"/spenders?{window(*yesterday)}")
            first = page.locator("#spenders tbody tr").first
            expect(first.locator("th")).to_have_text(top)
            assert float(first.locator("td[data-cost]").get_attribute("data-cost") or 0) == pytest.approx(
                top_cost
            )
            page.screenshot(path=str(SCREENSHOTS / "demo-spenders.png"), full_page=True)

            first.get_by_role("link", name=top).click()
            page.wait_for_url(re.compile(rf"/why\?.*feature={top}"))
            total = page.locator("#why-summary [data-total-cost]").get_attribute("data-total-cost")
            assert float(total or 0) == pytest.approx(top_cost)
            top_model = page.locator('[data-driver="model"] tbody tr').first
            assert top_model.get_attribute("data-value") == models[0][0]
            page.screenshot(path=str(SCREENSHOTS / "demo-why.png"), full_page=True)

            page.goto(f"/?{window(*everything)}")
            requests = page.locator('[data-metric="calls"]').get_attribute("data-value")
            assert int(float(requests or 0)) == calls
            page.screenshot(path=str(SCREENSHOTS / "demo-overview.png"), full_page=True)

            page.goto(f"/trace/{agent}")
            shown = page.locator("#waterfall tbody tr").evaluate_all("rows => rows.map(r => r.dataset.kind)")
            assert sorted(shown) == sorted(kinds) and shown[0] == "agent"
            assert shown.count("llm") >= 2 and "tool" in shown
            page.screenshot(path=str(SCREENSHOTS / "demo-trace.png"), full_page=True)
            browser.close()
    assert not errors, errors
