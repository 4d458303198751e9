"""Commands that read or change the store while `serve` holds it: they go through the server's API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tokentrail.cli.common import fail, resolve_db
from tokentrail.exceptions import TokentrailError
from tokentrail.settings import Settings
from tokentrail.store import Store, open_store


def server_url(server: str | None) -> str:
    settings = Settings()
    return (server or f"http://{settings.host}:{settings.port}").rstrip("/")


@contextmanager
def store_or_server(db: str | None, server: str | None) -> Iterator[Store | str]:
    """The store, or the URL of the server to ask: given with --server, or because a running `serve` has
    the store locked (then TOKENTRAIL_HOST/PORT say where it listens)."""
    if server:
        yield server_url(server)
        return
    chosen = resolve_db(db, read_only=False)
    try:
        store = open_store(chosen)
    except TokentrailError:  # ours: the table (cli/errors.py) says it; the clause below is for the backend's
        raise
    except Exception as exc:
        if "lock" not in str(exc).lower():
            fail(f"cannot open store {chosen!r}: {exc}")
        yield server_url(None)
        return
    try:
        yield store
    finally:
        store.close()


def call(method: str, url: str, **kwargs: Any) -> Any:
    """One API call; a refusal or an unreachable server ends the command with its message."""
    try:
        response = httpx.request(method, url, timeout=300, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the server at {url}: {exc}")
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        fail(f"the server refused ({response.status_code}): {message}")
    return response.json()
