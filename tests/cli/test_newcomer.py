"""What a newcomer trips over at the command line: finding the demo's store, errors that say what to do, user
text with [brackets] printed as it is, and files the demo leaves behind."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path

from tokentrail.demo.options import DemoOptions
from tokentrail.model import Call
from tokentrail.settings import DEFAULT_DB, DEMO_DB
from tokentrail.store.duckdb import DuckDBStore

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENTRAIL_")}
    env["COLUMNS"] = "120"
    return subprocess.run(
        [sys.executable, "-m", "tokentrail", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
    )


def fill(path: Path, feature: str = "search") -> None:
    with DuckDBStore(path) as store:
        store.write(
            [
                Call(
                    trace_id="a" * 32,
                    span_id="b" * 16,
                    kind="llm",
                    provider="openai",
                    request_model="gpt-4o",
                    start_time=NOW - dt.timedelta(hours=1),
                    feature=feature,
                    input_tokens=10,
                    output_tokens=5,
                )
            ]
        )


def test_report_after_the_demo_reads_the_demos_store(tmp_path: Path) -> None:
    fill(tmp_path / DEMO_DB, feature="from-the-demo")
    out = run("report", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "from-the-demo" in out.stdout
    assert DEMO_DB in out.stderr and "--db" in out.stderr and "TOKENTRAIL_DB" in out.stderr


def test_the_default_store_wins_over_the_demos(tmp_path: Path) -> None:
    fill(tmp_path / DEMO_DB, feature="from-the-demo")
    fill(tmp_path / DEFAULT_DB, feature="mine")
    out = run("report", cwd=tmp_path)
    assert out.returncode == 0 and "mine" in out.stdout and "from-the-demo" not in out.stdout


def test_no_store_names_the_files_found_and_how_to_choose(tmp_path: Path) -> None:
    fill(tmp_path / "other.duckdb")
    for args in (
        ("report",),
        ("query", "stats count(*)"),
        ("sql", "SELECT 1"),
        ("chargeback", "--period", "2026-10"),
    ):
        out = run(*args, cwd=tmp_path)
        assert out.returncode != 0
        message = " ".join(out.stderr.split())
        assert "no store at tokentrail.duckdb" in message and "other.duckdb" in message, message
        assert "--db" in message and "TOKENTRAIL_DB" in message
    assert not (tmp_path / DEFAULT_DB).exists()


def test_import_refuses_a_store_in_a_missing_folder(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    log.write_text(json.dumps({"feature": "x", "model": "gpt-4o", "ts": "2026-10-02T10:00:00Z"}) + "\n")
    target = tmp_path / "nope" / "dir" / "x.duckdb"
    out = run("import", "jsonl", str(log), "--db", str(target))
    assert out.returncode != 0
    message = " ".join(out.stderr.split())
    assert f"the folder {target.parent} does not exist" in message
    assert not (tmp_path / "nope").exists()


def test_a_bad_overrides_file_is_quoted_with_its_brackets(tmp_path: Path) -> None:
    overrides = tmp_path / "prices.toml"
    overrides.write_text('[[modle]]\nid = "x"\n')
    db = tmp_path / "p.duckdb"
    fill(db)
    out = run("prices", "check", "--db", str(db), "--prices", str(overrides))
    assert out.returncode != 0
    assert "expected [[model]] or [[discount]]" in " ".join(out.stderr.split()), out.stderr


def test_labels_with_brackets_are_printed_as_they_are(tmp_path: Path) -> None:
    db = tmp_path / "l.duckdb"
    fill(db, feature="[bold]beta[/bold] [red]")
    for args in (("report",), ("query", "fields feature"), ("sql", "SELECT feature FROM calls")):
        out = run(*args, "--db", str(db))
        assert out.returncode == 0, out.stderr
        assert "[bold]beta[/bold] [red]" in out.stdout, out.stdout
    bad = run("report", "--db", str(db), "--by", "[red]colour")
    assert bad.returncode != 0 and "[red]colour" in bad.stderr


def test_the_demos_files_are_ignored_by_git() -> None:
    patterns = [line.strip() for line in (REPO / ".gitignore").read_text().splitlines() if line.strip()]
    options = DemoOptions()
    db = options.db.name
    for name in (db, options.ledger_path.name, f"{db}.wal", f"{db}.spanlog"):
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name


def test_sql_errors_name_the_tables_not_the_parser(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    fill(db)
    missing = run("sql", "SELECT * FROM foo", "--db", str(db))
    assert missing.returncode != 0
    assert (
        "no table or view named 'foo'" in missing.stderr and "calls, spans, metric_points" in missing.stderr
    )
    assert "duckdb_tables" not in missing.stderr and "pg_" not in missing.stderr
    syntax = run("sql", "SELECT * FROM calls WHERE", "--db", str(db))
    assert syntax.returncode != 0 and "something is missing after 'WHERE'" in syntax.stderr
    assert "<class" not in syntax.stderr and "Required keyword" not in syntax.stderr


def test_cost_totals_name_the_unpriced_calls(tmp_path: Path) -> None:
    db = tmp_path / "u.duckdb"
    fill(db)  # one ok call, never priced
    month = NOW.strftime("%Y-%m")
    for args in (("report",), ("chargeback", "--period", month)):
        out = run(*args, "--db", str(db))
        assert out.returncode == 0, out.stderr
        assert "1 calls unpriced (left out of the cost)" in " ".join(out.stdout.split()), out.stdout
