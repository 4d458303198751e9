"""`replay`'s filter language on archived rows, and its bad input: clear messages, exit 2, nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from archive_data import DAY1, add_samples, content_span
from tokentrail.archive.target import LocalTarget
from tokentrail.archive.writer import archive
from tokentrail.cli import app
from tokentrail.query.errors import QueryError
from tokentrail.replay.where import compile_where
from tokentrail.store.duckdb import DuckDBStore

ROW = {"feature": "triage", "app": "helpdesk", "input_chars": 120, "tenant": None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('feature = "triage"', True),
        ('feature != "triage"', False),
        ('feature = "search" or input_chars >= 120', True),
        ('feature = "triage" and input_chars < 100', False),
        ('not feature in ["a", "triage"]', False),
        ('app like "desk"', True),
        ("app like /^help/", True),
        ('tenant = "acme"', False),
        ('input_chars > "abc"', False),
        ('input_chars = "120"', True),
    ],
)
def test_where_evaluates_on_archived_fields(text: str, expected: bool) -> None:
    assert compile_where(text)(ROW) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cost_usd > 1", "not 'cost_usd'"),
        ("strlen(app) > 3", "not functions"),
        ("input_chars + 1 > 3", r"does not take '\+'"),
        ('feature = "a" | limit 3', "one filter condition"),
        ("feature = = 1", "unexpected '='"),
    ],
)
def test_where_rejects_what_it_cannot_evaluate(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        compile_where(text)


runner = CliRunner()


@pytest.fixture
async def archived(tmp_path: Path) -> Path:
    with DuckDBStore(tmp_path / "tt.duckdb") as store:
        await add_samples(store, [content_span(n, DAY1) for n in range(2)])
        archive(store, LocalTarget(tmp_path / "arch"))
    return tmp_path / "arch"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "m"], "say which archive to replay"),
        (["--from", "ARCH"], "say what to replay against"),
        (["--from", "ARCH", "--prompt", "triage"], "--prompt takes NAME@VERSION"),
        (["--from", "ARCH", "--prompt", "triage@latest"], "not 'triage@latest'"),
        (["--from", "ARCH", "--model", "m"], "no collector answers at http://127.0.0.1:9"),
        (["--from", "ARCH", "--provider", "cohere"], "unknown provider 'cohere'"),
        (["--from", "ARCH", "--model", "m", "--where", "nope = 1"], "not 'nope'"),
        (["--from", "ARCH", "--model", "m", "--concurrency", "0"], "at least 1"),
        (["--from", "ARCH", "--model", "m", "--format", "xml"], "table or json"),
        (["--from", "EMPTY", "--model", "m"], "no archive here"),
        (["--resume", "beef"], "no replay 'beef'"),
    ],
)
def test_replay_bad_input(archived: Path, tmp_path: Path, args: list[str], message: str) -> None:
    paths = {"ARCH": str(archived), "EMPTY": str(tmp_path / "empty")}
    state = tmp_path / "state"
    full = [
        "replay",
        *(paths.get(a, a) for a in args),
        "--state-dir",
        str(state),
        "--server",
        "http://127.0.0.1:9",
    ]
    out = runner.invoke(app, full, env={"COLUMNS": "250"})
    assert out.exit_code == 2, out.output
    assert message in out.output
    assert not state.exists() or not any(state.glob("*.json"))
