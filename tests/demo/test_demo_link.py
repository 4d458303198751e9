"""The answer's dashboard link opens exactly the period the answer is about (calendar-day yesterday, UTC),
and the dashboard, opened at that link, shows the answer's numbers."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from support import serve_app
from tokentrail.server.app import create_app
from tokentrail.store.duckdb import DuckDBStore

from .conftest import DemoRun

ANSWER = re.compile(r"^\s+(\S+) \(app \S+\) spent \$([\d,.]+) in ([\d,]+) calls", re.M)


def test_the_link_carries_yesterday_and_the_dashboard_shows_the_answers_numbers(demo_run: DemoRun) -> None:
    out = demo_run.stdout
    link = re.search(r"Dashboard: (http://\S+/why\?\S+)", out)
    answer = ANSWER.search(out)
    assert link and answer, out[-2000:]
    feature, cost, calls = answer[1], float(answer[2].replace(",", "")), int(answer[3].replace(",", ""))
    params = {k: v[0] for k, v in parse_qs(urlsplit(link[1]).query).items()}
    now = dt.datetime.fromisoformat(demo_run.meta["now"]).replace(tzinfo=None)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert params == {
        "since": "custom",
        "start": (today - dt.timedelta(days=1)).isoformat(),
        "end": today.isoformat(),
        "feature": feature,
    }
    with DuckDBStore(demo_run.db, read_only=True) as store, serve_app(create_app(store)) as base:
        why = httpx.get(f"{base}/api/why", params=params, timeout=30).json()
        assert why["totals"]["calls"] == calls
        assert why["totals"]["cost_usd"] == pytest.approx(cost, abs=0.005)
        page = httpx.get(f"{base}/why", params=params, timeout=30)
        assert page.status_code == 200
        shown = re.search(r'data-total-cost="([^"]+)"', page.text)
        assert shown and float(shown[1]) == pytest.approx(why["totals"]["cost_usd"])
        assert params["start"][:16] in page.text and params["end"][:16] in page.text
