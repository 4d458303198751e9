"""Fixtures of the dashboard tests: the synthetic dataset, an ASGI client, a live server and a browser.

The browser fixtures are module-scoped and used only by sync tests (sync Playwright runs its own loop).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from support import CHROMIUM_ARGS, serve_app
from tokentrail.server.app import create_app
from tokentrail.store.duckdb import DuckDBStore

from .dashdata import DataSet, build

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"


@pytest.fixture(scope="session")
def dataset() -> DataSet:
    return build()


@pytest.fixture
async def client(store: DuckDBStore, dataset: DataSet) -> AsyncIterator[httpx.AsyncClient]:
    store.write(dataset.spans)
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


# ---- live server and browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, dataset: DataSet) -> Iterator[str]:
    store = DuckDBStore(tmp_path_factory.mktemp("web") / "live.duckdb")
    store.write(dataset.spans)
    try:
        with serve_app(create_app(store)) as base_url:
            yield base_url
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def allowed_errors() -> list[str]:
    """Console error texts a test expects (e.g. the 400 of a query it sends wrong on purpose)."""
    return []


@pytest.fixture
def page(browser: Browser, live_server: str, allowed_errors: list[str]) -> Iterator[Page]:
    """A 1280 px wide page; console errors and uncaught exceptions fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield tab
    finally:
        context.close()
    unexpected = [e for e in errors if not any(allowed in e for allowed in allowed_errors)]
    assert not unexpected, unexpected


def screenshot(tab: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
