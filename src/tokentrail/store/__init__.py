"""Storage backends, chosen from a URL.

- ``path/to/file.duckdb``, ``duckdb:///path/to/file.duckdb`` or ``:memory:``: the embedded DuckDB store.
- ``clickhouse://host:8123/db``: a ClickHouse server, through clickhouse-connect.
- ``chdb:///path/to/dir``: ClickHouse in-process (the same SQL; used to test the ClickHouse path).
"""

from __future__ import annotations

import enum
from pathlib import Path
from urllib.parse import urlparse

from tokentrail.store.base import (
    QueryFailed,
    QueryResult,
    QueryTimeout,
    Store,
    StoreBusy,
    StoreError,
)

__all__ = [
    "Backend",
    "QueryFailed",
    "QueryResult",
    "QueryTimeout",
    "Store",
    "StoreBusy",
    "StoreError",
    "backend_for",
    "open_store",
]


class Backend(enum.StrEnum):
    DUCKDB = "duckdb"
    CLICKHOUSE = "clickhouse"
    CHDB = "chdb"


def backend_for(url: str) -> tuple[Backend, str]:
    """Which backend a store URL names, and the location part of it."""
    if "://" not in url:
        return Backend.DUCKDB, url
    parsed = urlparse(url)
    try:
        backend = Backend(parsed.scheme)
    except ValueError:
        raise StoreError(
            f"unknown store URL scheme {parsed.scheme!r} in {url!r}; use duckdb, clickhouse or chdb"
        ) from None
    location = parsed.path if backend != Backend.CLICKHOUSE else url
    if backend == Backend.DUCKDB and parsed.netloc:
        location = parsed.netloc + parsed.path
    return backend, location


def open_store(url: str | Path, *, read_only: bool = False) -> Store:
    backend, location = backend_for(str(url))
    if backend == Backend.DUCKDB:
        from tokentrail.store.duckdb import DuckDBStore

        return DuckDBStore(location, read_only=read_only)
    from tokentrail.store.clickhouse import open_clickhouse

    return open_clickhouse(backend, location)
