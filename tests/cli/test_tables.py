"""CLI tables in an 80-column terminal: every table fits, no cell is cut with an ellipsis, numbers are whole,
columns left out are named, `--wide` shows them all, and user text in brackets is printed as it is."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tokentrail.model import Call
from tokentrail.pricing import load_prices, price_call
from tokentrail.render.tables import Column, Grid, fit, table_width
from tokentrail.store.duckdb import DuckDBStore

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)
FEATURES = ("summarize-long-documents", "[beta] search", "chat")


def run(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "tokentrail", *args], capture_output=True, text=True, timeout=60, env=env
    )


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tables") / "t.duckdb"
    prices = load_prices(None)
    calls = []
    for i in range(60):
        call = Call(
            trace_id=f"{i + 1:032x}", span_id=f"{i + 1:016x}", kind="llm", provider="openai",
            request_model="gpt-4o", start_time=NOW - dt.timedelta(hours=1, minutes=i),
            input_tokens=123_456 + i, output_tokens=7_890, cache_read_tokens=45_678,
            duration_ms=12_345.0 + i, ttft_ms=1_234.0, feature=FEATURES[i % 3], tenant="[acme] corp",
            status="error" if i % 10 == 0 else "ok", error_class="throttled" if i % 10 == 0 else None,
            attempts=3 if i % 10 == 0 else 1,
        )  # fmt: skip
        price_call(call, prices)
        calls.append(call)
    with DuckDBStore(path) as store:
        store.write(calls)
    return path


def assert_fits(out: subprocess.CompletedProcess[str], width: int = 80) -> None:
    assert out.returncode == 0, out.stderr
    assert "…" not in out.stdout, out.stdout
    too_long = [line for line in out.stdout.splitlines() if len(line) > width]
    assert not too_long, out.stdout


def test_report_fits_80_columns_with_whole_numbers_and_names_what_it_left_out(db: Path) -> None:
    out = run("report", "--db", str(db))
    assert_fits(out)
    for feature in FEATURES:
        assert feature in out.stdout  # "[beta] search" is not eaten as markup
    assert "20" in out.stdout  # calls per feature, whole
    assert "--wide" in out.stdout and "errors by class" in out.stdout.split("left out")[1]


def test_report_wide_shows_every_column(db: Path) -> None:
    out = run("report", "--db", str(db), "--wide")
    assert out.returncode == 0 and "…" not in out.stdout
    for header in ("errors by class", "retries", "cache r/w", "$/call", "ttft", "p50/p95/p99"):
        assert header in out.stdout, header
    assert "throttled 2" in out.stdout and "left out" not in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) > 80


@pytest.mark.parametrize(
    "args",
    [
        (
            "query",
            "fields feature, tenant, input_tokens, output_tokens, duration_ms, cost_usd, request_model",
        ),
        ("sql", "SELECT feature, tenant, input_tokens, output_tokens, cost_usd, request_model FROM calls"),
        ("chargeback", "--period", NOW.strftime("%Y-%m"), "--by", "feature"),
        ("prices", "check"),
    ],
)
def test_every_table_command_fits_80_columns(db: Path, args: tuple[str, ...]) -> None:
    out = run(*args, "--db", str(db))
    assert_fits(out)
    assert "gpt-4o" in out.stdout or "[beta] search" in out.stdout


def test_budget_status_fits_80_columns(db: Path, tmp_path: Path) -> None:
    store = tmp_path / "b.duckdb"
    store.write_bytes(db.read_bytes())
    value = "[acme] corp"
    assert (
        run(
            "budget", "set", "--scope", "tenant", "--value", value, "--usd", "1", "--db", str(store)
        ).returncode
        == 0
    )
    out = run("budget", "status", "--db", str(store))
    assert_fits(out)
    assert value in out.stdout
    assert "over" in out.stdout


def test_fit_drops_the_highest_drop_rank_first_and_never_a_kept_column() -> None:
    grid = Grid([Column("name"), Column("a", drop=1), Column("b", drop=2), Column("c", drop=2)])
    grid.add("x" * 30, "1" * 20, "2" * 20, "3" * 20)
    assert fit(grid, 200) == [0, 1, 2, 3]
    assert fit(grid, table_width([30, 20, 20])) == [0, 1, 2]  # c (rightmost of rank 2) goes first
    assert fit(grid, 10) == [0]
