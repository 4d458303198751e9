"""`db`: a store URL over both backends (a DuckDB file, chdb in a folder), for tests that open the store
through the CLI or a server process."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["duckdb", "chdb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / "t.duckdb") if request.param == "duckdb" else f"chdb://{tmp_path / 'ch'}"
