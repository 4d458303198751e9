"""`tokentrail report` as a user runs it: a subprocess over a real DuckDB file."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from tokentrail.model import Call
from tokentrail.store.duckdb import DuckDBStore

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "220"}  # a wide terminal, so the table is not folded
    return subprocess.run(
        [sys.executable, "-m", "tokentrail", *args], capture_output=True, text=True, timeout=60, env=env
    )


def fill(path: Path) -> None:
    with DuckDBStore(path) as store:
        store.write(
            [
                Call(
                    trace_id=f"{i + 1:032x}",
                    span_id=f"{i + 1:016x}",
                    kind="llm",
                    start_time=NOW - dt.timedelta(hours=1),
                    feature=["search", "chat"][i % 2],
                    request_model=["gpt-4o", "claude"][i % 2],
                    input_tokens=100,
                    output_tokens=20,
                    cache_read_tokens=50,
                    duration_ms=100.0 * (i + 1),
                    ttft_ms=10.0 * (i + 1),
                    cost_usd=None if i == 3 else 0.5,
                    status="error" if i == 0 else "ok",
                    error_class="throttled" if i == 0 else None,
                )
                for i in range(10)
            ]
        )


def test_report_json(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    fill(db)
    out = run("report", "--db", str(db), "--by", "feature", "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = {r["feature"]: r for r in json.loads(out.stdout)}
    assert rows["search"]["calls"] == 5 and rows["search"]["errors_throttled"] == 1
    assert rows["search"]["latency_p50_ms"] == 500.0  # calls 0,2,4,6,8 → 100..900 ms
    assert rows["chat"]["cost_usd"] == 2.0 and rows["chat"]["unpriced_calls"] == 1


def test_report_table_and_csv(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    fill(db)
    table = run("report", "--db", str(db), "--by", "model")
    assert table.returncode == 0 and "gpt-4o" in table.stdout and "throttled 1" in table.stdout
    assert "1 calls unpriced (left out of the cost): models claude (1)" in table.stdout
    csv_out = run("report", "--db", str(db), "--format", "csv")
    assert csv_out.stdout.splitlines()[0].startswith("feature,calls,errors")


def test_report_bad_input(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    fill(db)
    for args, message in [
        (("--by", "colour"), "cannot group by 'colour'"),
        (("--since", "forever"), "bad duration"),
        (("--format", "xml"), "xml"),
    ]:
        out = run("report", "--db", str(db), *args)
        assert out.returncode != 0 and message in out.stderr
    missing = run("report", "--db", str(tmp_path / "none.duckdb"))
    assert missing.returncode == 2 and "no store at" in missing.stderr
