"""The alerts CLI: eval and backtest on a store, and through a running `serve` that holds it; bad input."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from support import collector_process, make_request
from tokentrail.store.duckdb import DuckDBStore

from .helpers import call_span

H = dt.datetime(2026, 11, 2, 10, 0)
RULES = """
[[rule]]
name = "many-calls"
metric = "calls"
window = "1h"
condition = "> 3"
by = ["feature"]
"""


def tokentrail(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tokentrail", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def spans() -> list[object]:
    return [
        call_span(i + 1, H + dt.timedelta(minutes=i), **{"tokentrail.feature": f"f{i % 2}"})
        for i in range(10)
    ]


def test_backtest_json_and_eval_on_a_store(tmp_path: Path) -> None:
    db, rules = tmp_path / "c.duckdb", tmp_path / "rules.toml"
    rules.write_text(RULES)
    with collector_process(db, "--workers", "0") as url:
        body = make_request(spans()).SerializeToString()  # type: ignore[arg-type]
        assert (
            httpx.post(
                f"{url}/v1/traces", content=body, headers={"content-type": "application/x-protobuf"}
            ).status_code
            == 200
        )
    out = tokentrail(
        "alerts",
        "backtest",
        "many-calls",
        "--since",
        H.isoformat(),
        "--until",
        (H + dt.timedelta(hours=3)).isoformat(),
        "--format",
        "json",
        "--db",
        str(db),
        "--rules",
        str(rules),
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [
        {
            "rule": "many-calls",
            "group": {"feature": f},
            "fired_at": "2026-11-02T11:00:00Z",
            "resolved_at": "2026-11-02T12:00:00Z",
            "value": 5.0,
            "expected_low": None,
            "expected_high": 3.0,
        }
        for f in ("f0", "f1")
    ]
    fired = tokentrail(
        "alerts",
        "eval",
        "--at",
        (H + dt.timedelta(hours=1)).isoformat(),
        "--db",
        str(db),
        "--rules",
        str(rules),
    )
    assert fired.returncode == 0, fired.stderr
    assert "many-calls [feature=f0]: normal -> firing" in fired.stdout
    with DuckDBStore(db) as store:
        assert store.query("SELECT count(*) FROM alert_states WHERE state = 'firing'").rows[0][0] == 2


def test_eval_and_backtest_go_through_serve_by_url_or_when_it_holds_the_store(tmp_path: Path) -> None:
    db, rules = tmp_path / "c.duckdb", tmp_path / "rules.toml"
    rules.write_text(RULES)
    with collector_process(db, "--workers", "0", "--rules", str(rules)) as url:
        body = make_request(spans()).SerializeToString()  # type: ignore[arg-type]
        httpx.post(f"{url}/v1/traces", content=body, headers={"content-type": "application/x-protobuf"})
        locked = {"TOKENTRAIL_PORT": url.rsplit(":", 1)[1]}  # no --server: the store is locked by serve
        at = (H + dt.timedelta(hours=1)).isoformat()
        out = tokentrail("alerts", "eval", "--at", at, "--db", str(db), env=locked)
        assert out.returncode == 0, out.stderr
        assert "many-calls [feature=f1]: normal -> firing" in out.stdout
        states = httpx.get(f"{url}/api/alerts/states").json()["states"]
        assert {s["state"] for s in states} == {"firing"}
        later = (H + dt.timedelta(hours=2)).isoformat()
        out = tokentrail("alerts", "eval", "--at", later, "--server", url)
        assert out.returncode == 0, out.stderr
        assert "many-calls [feature=f1]: firing -> resolved" in out.stdout
        window = ["--since", H.isoformat(), "--until", (H + dt.timedelta(hours=3)).isoformat()]
        by_url = tokentrail("alerts", "backtest", "many-calls", *window, "--format", "json", "--server", url)
        assert by_url.returncode == 0, by_url.stderr
        assert len(json.loads(by_url.stdout)) == 2
        by_lock = tokentrail(
            "alerts", "backtest", "many-calls", *window, "--format", "json", "--db", str(db), env=locked
        )
        assert by_lock.returncode == 0, by_lock.stderr
        assert json.loads(by_lock.stdout) == json.loads(by_url.stdout)
        nope = tokentrail("alerts", "backtest", "nope", "--server", url)
        assert nope.returncode == 2 and "no rule 'nope'" in nope.stderr
    # the state survives a restart of serve
    with collector_process(db, "--workers", "0", "--rules", str(rules)) as url:
        assert {s["state"] for s in httpx.get(f"{url}/api/alerts/states").json()["states"]} == {"resolved"}


def test_bad_rule_file_is_a_clear_error(tmp_path: Path) -> None:
    rules = tmp_path / "bad.toml"
    rules.write_text('[[rule]]\nname = "x"\nmetric = "nope"\nwindow = "1h"\ncondition = "> 1"\n')
    out = tokentrail("alerts", "eval", "--db", str(tmp_path / "x.duckdb"), "--rules", str(rules))
    assert out.returncode == 2
    assert "unknown metric 'nope'" in out.stderr
    rules.write_text(
        '[[rule]]\nname = "x"\nmetric = "calls"\nwindow = "1h"\ncondition = "> 1"\nwhere = "a = = 1"\n'
    )
    out = tokentrail("alerts", "eval", "--db", str(tmp_path / "x.duckdb"), "--rules", str(rules))
    assert out.returncode == 2 and "where:" in out.stderr
