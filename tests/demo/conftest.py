"""One real `tokentrail demo --no-serve` run at a small scale, shared by the end-to-end tests: the collector
and the simulator run as subprocesses, and the DuckDB file is read after the collector has exited."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tokentrail.demo.ledger import Entry, read
from tokentrail.demo.options import free_port
from tokentrail.store.duckdb import DuckDBStore

SCALE = "0.15"
DAYS = 7
COLUMNS = (
    "trace_id, span_id, parent_span_id, kind, name, start_time, end_time, provider, request_model, status, "
    "error_class, attempts, degraded, input_tokens, output_tokens, cost_usd, app, feature, tenant, user_id, "
    "team, cost_center, environment, experiment, variant, prompt_name, prompt_version, conversation_id"
)


@dataclasses.dataclass
class DemoRun:
    stdout: str
    meta: dict[str, Any]
    ledger: list[Entry]
    spans: list[dict[str, Any]]
    finished: dt.datetime  # naive UTC, as stored
    db: Path

    @property
    def calls(self) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["kind"] == "llm"]


def run_demo(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    # Warnings are errors in the demo too (a deprecated model name once slipped in that way).
    env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "-m", "tokentrail", "demo", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    args = ["--db", str(db), "--no-serve", "--scale", SCALE, "--days", str(DAYS), "--seed", "3"]
    out = run_demo(*args, "--port", str(free_port()))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    finished = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    meta, ledger = read(Path(f"{db}.ledger.json"))
    with DuckDBStore(db, read_only=True) as store:  # the collector has exited: the file is free
        spans = store.query(f"SELECT {COLUMNS} FROM spans ORDER BY start_time", []).dicts()
    yield DemoRun(out.stdout, meta, ledger, spans, finished, db)
