"""Shared fixtures: an isolated store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tokentrail.store.duckdb import DuckDBStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with DuckDBStore(tmp_path / "test.duckdb") as s:
        yield s
