"""The Alerts page and the overview's firing bands, over a real server whose rules were evaluated through its
API: one rule fired and resolved (delivered to a local webhook both times), one still fires (its group has no
data since, and its rule keeps the state then). Checked as HTML (escaping, the backtest equals the API's) and
in chromium (what a user sees)."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from support import serve_app, webhook_receiver
from tokentrail.model import Call
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store.duckdb import DuckDBStore
from tokentrail.times import utcnow

from .conftest import screenshot

H = utcnow().replace(minute=0, second=0, microsecond=0)
RULES = """
[[rule]]
name = "many-calls"
metric = "calls"
window = "1h"
where = 'feature = "<b>summarize</b>"'
condition = "> 3"
notify = ["hook"]

[[rule]]
name = "slow"
metric = "latency_p95_ms"
window = "1h"
by = ["feature"]
condition = "> 100"
severity = "critical"
no_data = "keep"

[notifier.hook]
kind = "webhook"
url = "{url}"
"""


def calls() -> list[Call]:
    return [
        Call(
            trace_id=f"{i + 1:032x}",
            span_id=f"{i + 1:016x}",
            kind="llm",
            start_time=H - dt.timedelta(hours=2) + dt.timedelta(minutes=5 * i),
            duration_ms=500.0,
            feature="<b>summarize</b>",
        )
        for i in range(5)
    ]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("alerts-web")
    with webhook_receiver() as hook, DuckDBStore(tmp / "a.duckdb") as store:
        rules = Path(tmp / "rules.toml")
        rules.write_text(RULES.format(url=hook.url))
        store.write(calls())
        with serve_app(create_app(store, Settings(alerts=rules))) as url:
            for at in (H - dt.timedelta(hours=1), H):
                assert httpx.post(f"{url}/api/alerts/eval", params={"at": at.isoformat()}).status_code == 200
            assert [r[1] for r in hook.requests]  # fired and resolved were delivered
            yield url


def test_alerts_page_escapes_and_its_backtest_is_the_apis(live_server: str) -> None:
    page = httpx.get(f"{live_server}/alerts", params={"since": "24h", "rule": "many-calls"})
    assert page.status_code == 200
    assert "&lt;b&gt;summarize&lt;/b&gt;" in page.text and "<b>summarize</b>" not in page.text
    api = html.unescape(re.search(r'<a href="(/api/alerts/backtest/[^"]+)">as JSON', page.text)[1])  # type: ignore[index]
    rows = httpx.get(live_server + api).json()
    assert [(r["fired_at"], r["resolved_at"]) for r in rows] == [
        ((H - dt.timedelta(hours=1)).isoformat() + "Z", H.isoformat() + "Z")
    ]
    table = page.text[page.text.index('id="alert-backtest"') :]
    assert f'data-firings="{len(rows)}"' in table and rows[0]["fired_at"] in table
    missing = httpx.get(f"{live_server}/alerts", params={"rule": "nope"})
    assert missing.status_code == 404 and "no rule &#39;nope&#39;" in missing.text


def test_alerts_page_in_a_browser(page: Page) -> None:
    page.goto("/alerts")
    expect(page.locator("#alert-rules tbody tr")).to_have_count(2)
    expect(page.locator('#alert-rules tr[data-rule="slow"]')).to_contain_text("critical")
    many = page.locator('#alert-states tr[data-rule="many-calls"]')
    expect(many).to_have_attribute("data-state", "resolved")
    slow = page.locator('#alert-states tr[data-rule="slow"]')
    expect(slow).to_have_attribute("data-state", "firing")
    expect(slow).to_contain_text("feature=<b>summarize</b>")
    fired = page.locator('#alert-firings tr[data-rule="many-calls"]')
    expect(fired).to_have_attribute("data-resolved", "true")
    expect(fired.locator('[data-delivery="hook"]')).to_have_count(2)
    expect(fired.locator('[data-delivery="hook"]').first).to_contain_text("firing → hook: delivered")
    expect(page.locator('#alert-firings tr[data-rule="slow"]')).to_contain_text("still firing")
    page.select_option("#bt-rule", "many-calls")
    page.click("text=Backtest >> nth=-1")
    table = page.locator("#alert-backtest")
    expect(table).to_have_attribute("data-firings", "1")
    expect(table.locator("tbody tr")).to_contain_text((H - dt.timedelta(hours=1)).isoformat() + "Z")
    screenshot(page, "alerts")


def test_overview_shades_the_firings(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#overview-firings li")).to_have_count(2)
    expect(page.locator('#overview-firings li[data-rule="slow"]')).to_contain_text("still firing")
    chart = page.locator('[data-series="calls"]')
    expect(chart).to_have_attribute("data-firing-bands", "2")
    expect(chart.locator(".shapelayer path")).to_have_count(2)
    screenshot(page, "overview-firings")
