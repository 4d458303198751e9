"""Shared fixtures. `store` runs each test on every backend: the embedded DuckDB store and the ClickHouse
store (through chdb, the ClickHouse engine in-process, which runs the same SQL as a server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tokentrail.store import Store
from tokentrail.store.clickhouse import ChdbEngine, ClickHouseStore
from tokentrail.store.duckdb import DuckDBStore


@pytest.fixture(params=["duckdb", "chdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "duckdb":
        with DuckDBStore(tmp_path / "test.duckdb") as duck:
            yield duck
    else:
        with ClickHouseStore(ChdbEngine(str(tmp_path / "chdb"))) as ch:
            yield ch


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[DuckDBStore]:
    with DuckDBStore(tmp_path / "test.duckdb") as s:
        yield s
