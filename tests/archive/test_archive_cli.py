"""The `tokentrail archive` command (its output and bad input) and `serve`'s scheduled archiving."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from archive_data import DAY1, add_samples, content_span
from tokentrail.archive.writer import MANIFEST
from tokentrail.cli import app
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store.duckdb import DuckDBStore

runner = CliRunner()


async def duckdb_file(tmp_path: Path) -> str:
    db = tmp_path / "tt.duckdb"
    with DuckDBStore(db) as store:
        await add_samples(store, [content_span(n, DAY1) for n in range(3)])
    return str(db)


async def test_archive_command_writes_then_adds_nothing(tmp_path: Path) -> None:
    db = await duckdb_file(tmp_path)
    to = tmp_path / "cold"
    first = runner.invoke(app, ["archive", "--db", db, "--to", str(to)], env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert f"day={DAY1.date()}: 3 new samples" in first.output
    again = runner.invoke(app, ["archive", "--db", db, "--to", str(to)], env={"COLUMNS": "200"})
    assert (
        again.exit_code == 0 and "archived 0 samples" in again.output and "1 days unchanged" in again.output
    )
    assert json.loads((to / MANIFEST).read_text())["samples"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "say where to archive"),
        (["--to", "DIR", "--format", "csv"], "unknown archive format 'csv'"),
        (["--to", "s3://"], "names no bucket"),
        (["--to", "ftp://host/x"], "is a directory or s3://bucket/prefix"),
        (["--to", "DIR", "--since", "soon"], "soon"),
    ],
)
async def test_archive_command_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    db = await duckdb_file(tmp_path)
    args = [str(tmp_path / "cold") if a == "DIR" else a for a in args]
    out = runner.invoke(
        app, ["archive", "--db", db, *args], env={"COLUMNS": "200", "TOKENTRAIL_ARCHIVE_TO": ""}
    )
    assert out.exit_code == 2, out.output
    assert message in out.output
    assert not (tmp_path / "cold" / MANIFEST).exists()


async def test_serve_archives_on_a_schedule(tmp_path: Path) -> None:
    to = tmp_path / "scheduled"
    with DuckDBStore(tmp_path / "s.duckdb") as store:
        settings = Settings(archive_to=str(to), archive_interval_s=0.05)
        with TestClient(create_app(store, settings)):
            await add_samples(store, [content_span(n, DAY1) for n in range(4)])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if (to / MANIFEST).exists() and json.loads((to / MANIFEST).read_text())["samples"] == 4:
                    break
                time.sleep(0.05)
        manifest = json.loads((to / MANIFEST).read_text())
    assert manifest["samples"] == 4
    assert sum(p["samples"] for p in manifest["days"][DAY1.date().isoformat()]["parts"]) == 4
