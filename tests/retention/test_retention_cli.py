"""`tokentrail retention apply`, `serve`'s background enforcement, /api/retention and the overview's line."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from support import collector_process, make_request, make_span
from tokentrail.cli import app
from tokentrail.model import Call
from tokentrail.retention import RetentionError, parse_size
from tokentrail.retention.policy import first_kept_day
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store import Store, open_store

runner = CliRunner()
TODAY = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time())
LLM = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}


def call(i: int, start: dt.datetime) -> Call:
    return Call(trace_id=f"{i:032x}", span_id=f"{i:016x}", kind="llm", start_time=start, tenant="acme")


def seeded(path: Path | str, ages_days: list[int]) -> Path | str:
    with contextlib.closing(open_store(path)) as store:
        store.write([call(i + 1, TODAY - dt.timedelta(days=age)) for i, age in enumerate(ages_days)])
    return path


def ages_left(path: Path | str) -> list[int]:
    with contextlib.closing(open_store(path)) as store:
        rows = store.query("SELECT start_time FROM spans ORDER BY 1 DESC").rows
    return [(TODAY - start).days for (start,) in rows]


def test_sizes_parse_with_decimal_and_binary_units() -> None:
    assert parse_size("500MB") == 500_000_000
    assert parse_size("2GiB") == 2 * 2**30
    assert parse_size(" 1.5 kb ") == 1500
    assert parse_size("4096") == 4096
    for bad in ("", "lots", "5XB", "-1GB", "0"):
        with pytest.raises(RetentionError, match="is not a size"):
            parse_size(bad, "--max-disk")


@pytest.mark.parametrize("url", ["a.duckdb", "chdb:///{}/a-chdb"])
def test_apply_deletes_expired_days(tmp_path: Path, url: str) -> None:
    db = seeded(str(tmp_path / url) if "://" not in url else url.format(tmp_path), [0, 2, 3, 4, 40])
    out = runner.invoke(app, ["retention", "apply", "--db", str(db), "--calls", "3"])
    assert out.exit_code == 0, out.output
    assert ages_left(db) == [0, 2, 3]
    assert "spans" in out.output and "2" in out.output


def test_an_option_wins_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = seeded(tmp_path / "b.duckdb", [0, 2, 5, 9])
    monkeypatch.setenv("TOKENTRAIL_RETENTION_CALLS", "1")
    assert runner.invoke(app, ["retention", "apply", "--db", str(db), "--calls", "6"]).exit_code == 0
    assert ages_left(db) == [0, 2, 5]  # the option's 6 days, not the environment's 1
    assert runner.invoke(app, ["retention", "apply", "--db", str(db)]).exit_code == 0
    assert ages_left(db) == [0]  # now the environment's 1 day


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--calls", "abc"], {}, "--calls='abc' is not a number of days"),
        (["--calls", "0"], {}, "--calls='0' is not a number of days"),
        (["--metric-points", "-3"], {}, "--metric-points='-3' is not a number of days"),
        (["--max-disk", "5XB"], {}, "--max-disk='5XB' is not a size"),
        ([], {"TOKENTRAIL_MAX_DISK": "lots"}, "TOKENTRAIL_MAX_DISK='lots' is not a size"),
        ([], {"TOKENTRAIL_RETENTION_SAMPLES": "1.5"}, "TOKENTRAIL_RETENTION_SAMPLES='1.5' is not a number"),
    ],
)
def test_bad_values_fail_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], message: str
) -> None:
    db = seeded(tmp_path / "c.duckdb", [0, 9])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = runner.invoke(app, ["retention", "apply", "--db", str(db), *args])
    assert out.exit_code == 2
    assert message in " ".join(out.output.split())
    assert ages_left(db) == [0, 9]  # nothing deleted


def test_serve_refuses_a_bad_retention_setting(tmp_path: Path) -> None:
    env = {**os.environ, "TOKENTRAIL_RETENTION_CALLS": "forever"}
    cmd = [
        sys.executable,
        "-m",
        "tokentrail",
        "serve",
        "--grpc-port",
        "0",
        "--db",
        str(tmp_path / "d.duckdb"),
        "--port",
        "0",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2
    assert "TOKENTRAIL_RETENTION_CALLS='forever' is not a number of days" in " ".join(out.stderr.split())


def poll(check: object, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not true within {deadline_s} s")


def test_serve_prunes_in_the_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = seeded(tmp_path / "e.duckdb", [0, 1, 4, 30])
    monkeypatch.setenv("TOKENTRAIL_RETENTION_CALLS", "2")
    monkeypatch.setenv("TOKENTRAIL_RETENTION_INTERVAL_S", "0.2")
    kept_since = first_kept_day(TODAY, 2).isoformat()
    with collector_process(db, "--workers", "0") as url:

        def oldest() -> str | None:
            found: str | None = httpx.get(f"{url}/api/retention").json()["oldest"]["spans"]
            return found

        poll(lambda: (oldest() or "") >= kept_since)  # the run at startup
        assert httpx.get(f"{url}/api/retention").json()["policy"]["calls"] == 2
        old = TODAY - dt.timedelta(days=9, hours=-3)
        body = make_request([make_span(LLM, trace=77, span=77, start=old)]).SerializeToString()
        posted = httpx.post(
            f"{url}/v1/traces", content=body, headers={"content-type": "application/x-protobuf"}
        )
        assert posted.status_code == 200
        day = old.strftime("%Y-%m-%d")

        def rolled_up() -> bool:  # stored, then rolled up and deleted by a later periodic run
            total = httpx.get(f"{url}/api/chargeback", params={"period": day}).json()["total"]
            return bool(total["calls"] == 1 and (oldest() or "") >= kept_since)

        poll(rolled_up)
    assert ages_left(db) == [0, 1]


async def test_api_and_overview_show_the_oldest_data_kept(store: Store) -> None:
    store.write([call(1, TODAY - dt.timedelta(days=1, hours=-5)), call(2, TODAY)])
    settings = Settings(retention_calls="7", max_disk="2GiB")
    transport = httpx.ASGITransport(app=create_app(store, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        found = (await client.get("/api/retention")).json()
        page = (await client.get("/")).text
    assert found["policy"]["calls"] == 7 and found["policy"]["max_disk"] == 2 * 2**30
    assert found["oldest"]["spans"] == (TODAY - dt.timedelta(days=1, hours=-5)).isoformat() + "Z"
    assert found["size_bytes"] > 0
    since = (TODAY - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    assert f"Data kept since {since}" in page and "(retention: 7 days)" in page
