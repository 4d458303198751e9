"""The Experiments pages in a real browser (chromium through Playwright) against a live server on loopback,
reached from the compare page; the numbers shown are checked against values computed here."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from experiments.gen import experiment_calls
from support import serve_app
from tokentrail.server.app import create_app
from tokentrail.store.duckdb import DuckDBStore

from .conftest import screenshot

SLOWER = experiment_calls("slower-b", 3000, seed=1)
SKEWED = experiment_calls("skewed", 2000, share_b=0.45, slower=1.0, seed=3, variants=("A", "B"))
ALL_CHARTS_DRAWN = """() => {
  const charts = document.querySelectorAll('.chart[data-src]');
  return charts.length > 0 && [...charts].every((c) => c.dataset.rendered === 'true');
}"""


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Overrides the dashboard's live server: this one holds generated experiments."""
    store = DuckDBStore(tmp_path_factory.mktemp("exp-web") / "live.duckdb")
    store.write(SLOWER)
    store.write(SKEWED)
    try:
        with serve_app(create_app(store)) as base_url:
            yield base_url
    finally:
        store.close()


def test_from_compare_to_the_experiment_page(page: Page) -> None:
    page.goto(
        "/compare?since=custom&start=2026-11-01T00:00:00&end=2026-11-16T00:00:00&by=variant&experiment=slower-b"
    )
    link = page.locator("#compare-experiments a", has_text="slower-b")
    link.click()
    page.wait_for_url(re.compile(r"/experiments/slower-b"))
    page.wait_for_function(ALL_CHARTS_DRAWN)
    expect(page.locator("h1")).to_have_text("Experiment slower-b")
    for variant in ("control", "B"):
        row = page.locator(f'#variants tr[data-variant="{variant}"]')
        latencies = [c.duration_ms for c in SLOWER if c.variant == variant]
        assert float(row.get_attribute("data-estimate") or "nan") == pytest.approx(np.median(latencies))
        expect(row.locator("td").first).to_have_text(f"{len(latencies):,}")
    b = page.locator('#variants tr[data-variant="B"]')
    assert b.get_attribute("data-significant") == "true"
    expect(b.locator(".sig")).to_have_text("significant")
    expect(page.locator("#srm")).to_have_attribute("data-mismatch", "false")
    expect(page.locator("#power")).to_contain_text("would be detected 80 % of the time")
    expect(page.locator('.chart[data-rendered="true"]')).to_have_count(2)  # interval bars, metric over time
    assert page.locator("[data-intervals] svg.main-svg").count() >= 1
    assert page.locator("[data-variant-timeline] .scatterlayer .trace").count() == 2  # one line per variant
    screenshot(page, "experiment-slower-b")

    page.select_option("#exp-metric", "error_rate")
    page.select_option("#exp-mode", "fixed")
    page.click("form.pick button[type=submit]")
    page.wait_for_url(re.compile(r"metric=error_rate"))
    page.wait_for_function(ALL_CHARTS_DRAWN)
    control = [c for c in SLOWER if c.variant == "control"]
    shown = page.locator('#variants tr[data-variant="control"]').get_attribute("data-estimate")
    assert float(shown or "nan") == pytest.approx(sum(c.status == "error" for c in control) / len(control))


def test_the_list_and_the_sample_ratio_warning(page: Page) -> None:
    page.goto("/experiments")
    expect(page.locator("#experiments tbody tr")).to_have_count(2)
    page.get_by_role("link", name="skewed").click()
    page.wait_for_url(re.compile(r"/experiments/skewed"))
    warning = page.get_by_role("alert")
    expect(warning).to_contain_text("Sample ratio mismatch")
    page.wait_for_function(ALL_CHARTS_DRAWN)
    screenshot(page, "experiment-skewed")
