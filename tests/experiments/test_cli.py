"""`tokentrail experiments list|show` as a user runs them: subprocesses over a real DuckDB file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tokentrail.store.duckdb import DuckDBStore

from .gen import experiment_calls


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "tokentrail", "experiments", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "exp.duckdb"
    with DuckDBStore(path) as store:
        store.write(experiment_calls("slower-b", 3000, seed=1))
        store.write(
            experiment_calls("[bold]odd", 2000, share_b=0.45, slower=1.0, seed=3, variants=("A", "[red]B"))
        )
    return str(path)


def test_list(db: str) -> None:
    r = run("list", "--db", db, "--format", "json")
    assert r.returncode == 0, r.stderr
    found = {e["experiment"]: e for e in json.loads(r.stdout)}
    assert found["slower-b"]["calls"] == 3000
    table = run("list", "--db", db)
    assert "[bold]odd" in table.stdout and "[red]B" in table.stdout  # user text shown, not taken as markup


def test_show_json_is_the_api_shape_per_metric(db: str) -> None:
    r = run(
        "show", "slower-b", "--db", db, "--metric", "latency_ms", "--metric", "error_rate", "--format", "json"
    )
    assert r.returncode == 0, r.stderr
    latency, errors = json.loads(r.stdout)
    assert (latency["metric"], latency["stat"], errors["stat"]) == ("latency_ms", "median", "rate")
    assert latency["comparisons"][0]["significant"] is True


def test_show_table_marks_significant_differences_and_the_mismatch(db: str) -> None:
    r = run("show", "slower-b", "--db", db, "--effect", "0.05")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    latency = text.split("latency_ms median")[1].split("latency_ms p95")[0]
    assert " *" in latency and "calls still needed" in latency
    assert "error_rate (throttled)" in text  # rates by each error class seen
    assert "always valid" in text
    odd = run("show", "[bold]odd", "--db", db, "--metric", "latency_ms", "--unit", "user_id")
    assert odd.returncode == 0, odd.stderr
    assert "[red]B" in odd.stdout and "Sample ratio mismatch" in odd.stdout
    assert " *" not in odd.stdout.split("Sample ratio")[0]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("show", "nope"), 1, "no calls carry experiment 'nope'"),
        (("show", "[bold]nope"), 1, "no calls carry experiment '[bold]nope'"),  # user text kept, not markup
        (("show", "slower-b", "--control", "[red]x"), 2, "control '[red]x' is not a variant"),
        (("show", "slower-b", "--metric", "latency"), 2, "metric must be one of"),
        (("show", "slower-b", "--split", "control=1"), 2, "split must give a weight to each variant"),
        (("show", "slower-b", "--format", "csv"), 2, "table or json"),
    ],
)
def test_bad_input_is_a_clear_error(db: str, args: tuple[str, ...], code: int, words: str) -> None:
    r = run(*args, "--db", db)
    assert r.returncode == code
    assert words in " ".join(r.stderr.split())


def test_an_empty_store(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "empty.duckdb"):
        pass
    r = run("list", "--db", str(tmp_path / "empty.duckdb"))
    assert r.returncode == 0 and "No calls carry experiment" in r.stdout
