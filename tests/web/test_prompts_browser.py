"""The Prompts pages in chromium: versions with their state and per-version metrics, the stages, the diff,
the verified audit log, and buttons that approve, promote and roll back through the API under the same
rules (a refusal is shown and changes nothing). No key is configured here, so the browser acts as the
unauthenticated local user ``anonymous``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from support import serve_app
from tokentrail.model import Call
from tokentrail.prompts.content import Content
from tokentrail.prompts.registry import Actor, Registry
from tokentrail.server.app import create_app
from tokentrail.store.duckdb import DuckDBStore

from .conftest import screenshot

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def seed(store: DuckDBStore) -> None:
    reg, ann, ben = Registry(store), Actor("ann", False), Actor("ben", False)
    reg.create("triage", Content(template="Triage: {ticket}"), "first", ann)
    reg.create("triage", Content(template="Triage briefly: {ticket}", model="gpt-4o-mini"), "shorter", ann)
    reg.create("triage", Content(template="Mine: {ticket}"), "by the browser user", Actor("anonymous", False))
    reg.approve("triage", 1, ben)
    reg.promote("triage", 1, "prod", ben)
    store.write(
        [
            Call(
                trace_id=f"{i + 1:032x}",
                span_id=f"{i + 1:016x}",
                kind="llm",
                start_time=NOW - dt.timedelta(minutes=3),
                duration_ms=100.0,
                cost_usd=0.01,
                prompt_name="triage",
                prompt_version="1",
            )
            for i in range(3)
        ]
    )


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = DuckDBStore(tmp_path_factory.mktemp("prompts") / "p.duckdb")
    seed(store)
    try:
        with serve_app(create_app(store)) as base_url:
            yield base_url
    finally:
        store.close()


@pytest.fixture
def allowed_errors() -> list[str]:
    return ["403", "409"]  # the refusals this test provokes on purpose


def version_row(page: Page, n: int) -> object:
    return page.locator(f'#prompt-versions tr[data-version="{n}"]')


def click_and_reload(page: Page, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def test_prompts_page_buttons_obey_the_rules(page: Page) -> None:
    page.goto("/prompts")
    expect(page.locator('#prompts tr[data-prompt="triage"] td').nth(3)).to_have_text("1")
    page.click("text=triage")
    expect(page.locator("#audit-verdict")).to_have_attribute("data-verified", "true")
    expect(page.locator('#prompt-versions tr[data-version="1"] [data-calls]')).to_have_attribute(
        "data-calls", "3"
    )
    expect(page.locator("#prompt-diff .diff-replace").last).to_contain_text("Mine: {ticket}")
    click_and_reload(page, '#prompt-versions tr[data-version="2"] button:text-is("Approve")')
    expect(page.locator('#prompt-versions tr[data-version="2"]')).to_have_attribute("data-status", "approved")
    click_and_reload(page, '#prompt-versions tr[data-version="2"] button:text-is("To prod")')
    expect(page.locator('#prompt-stages tr[data-stage="prod"] [data-held]')).to_have_attribute(
        "data-held", "2"
    )
    click_and_reload(page, '#prompt-stages tr[data-stage="prod"] button:text-is("Roll back")')
    prod = page.locator('#prompt-stages tr[data-stage="prod"]')
    expect(prod.locator("[data-held]")).to_have_attribute("data-held", "1")
    expect(prod.locator("[data-rollbacks]")).to_have_attribute("data-rollbacks", "1")
    entries = page.locator("#prompt-audit tbody tr").count()
    page.click('#prompt-versions tr[data-version="3"] button:text-is("Approve")')
    expect(page.locator("#prompt-status")).to_contain_text("Refused (403)")
    page.click('#prompt-versions tr[data-version="3"] button:text-is("To prod")')
    expect(page.locator("#prompt-status")).to_contain_text("Refused (409)")
    page.reload()
    assert page.locator("#prompt-audit tbody tr").count() == entries  # refusals appended nothing
    expect(page.locator("#audit-verdict")).to_have_attribute("data-verified", "true")
    screenshot(page, "prompt")
