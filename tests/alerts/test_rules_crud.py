"""Rules added, listed, changed and deleted through `/api/alerts/rules` and through `tokentrail alerts`, next
to the rule file's; bad input is a 4xx with a JSON error (API) or a message and exit code 2 (CLI), and
leaves the stored rules as they were."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tokentrail.cli import app as cli
from tokentrail.model import Call
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store.duckdb import DuckDBStore

FILE = """
[[rule]]
name = "from-file"
metric = "calls"
window = "1h"
condition = "> 100"
notify = ["ops"]

[notifier.ops]
kind = "log"
"""
NEW = {"name": "slow", "metric": "latency_p95_ms", "window": "10m", "condition": "> 2000", "by": ["feature"]}
AT = dt.datetime(2026, 11, 2, 10, 0)
runner = CliRunner()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("crud")
    (tmp / "rules.toml").write_text(FILE)
    with DuckDBStore(tmp / "c.duckdb") as store:
        store.write(
            [
                Call(
                    trace_id=f"{i + 1:032x}",
                    span_id=f"{i + 1:016x}",
                    kind="llm",
                    start_time=AT - dt.timedelta(minutes=5),
                    duration_ms=3000.0,
                    feature="chat",
                )
                for i in range(3)
            ]
        )
        with TestClient(create_app(store, Settings(alerts=tmp / "rules.toml"))) as c:
            yield c


def listed(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get("/api/alerts/rules")
    assert response.status_code == 200
    assert response.json()["notifiers"] == ["ops"]
    return {r["name"]: r for r in response.json()["rules"]}


def test_create_list_update_delete_through_the_api(client: TestClient) -> None:
    assert set(listed(client)) == {"from-file"}
    created = client.put("/api/alerts/rules", json={**NEW, "for": "5m", "notify": ["ops"]})
    assert created.status_code == 200, created.text
    rules = listed(client)
    assert rules["slow"]["source"] == "api" and rules["from-file"]["source"] == "file"
    assert (rules["slow"]["for"], rules["slow"]["by"], rules["slow"]["notify"]) == (
        "5m",
        ["feature"],
        ["ops"],
    )
    assert client.put("/api/alerts/rules", json={**NEW, "condition": "> 1000"}).status_code == 200
    assert listed(client)["slow"]["condition"] == "> 1000"  # replaced, not added
    evaluated = client.post("/api/alerts/eval", params={"at": AT.isoformat()}).json()["changes"]
    assert [(c["rule"], c["group"], c["to"]) for c in evaluated] == [("slow", {"feature": "chat"}, "firing")]
    assert client.delete("/api/alerts/rules/slow").json() == {"deleted": "slow"}
    assert set(listed(client)) == {"from-file"}
    gone = client.delete("/api/alerts/rules/slow")
    assert gone.status_code == 404 and gone.json() == {"error": "no stored rule 'slow'"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x"}, "missing metric, window, condition"),
        ({**NEW, "metric": "vibes"}, "unknown metric 'vibes'"),
        ({**NEW, "where": 'feature = "a" AND'}, "where:"),
        ({**NEW, "window": "soon"}, "window must be a number and a unit"),
        ({**NEW, "condition": ">> 5"}, "condition must be like"),
        ({**NEW, "no_data": "panic"}, "no_data must be one of ok, keep, alert"),
        ({**NEW, "by": ["prompt"]}, "cannot group by prompt"),
        ({**NEW, "notify": ["pager"]}, "notifies unknown pager"),
        ({**NEW, "name": "from-file"}, "defined in the rule file"),
        ({**NEW, "colour": "red"}, "unknown keys colour"),
        ([NEW], "must be a table"),
    ],
)
def test_bad_rules_are_refused_with_json(client: TestClient, body: Any, message: str) -> None:
    response = client.put("/api/alerts/rules", json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert set(listed(client)) == {"from-file"}


def test_other_bad_requests_are_json_4xx(client: TestClient) -> None:
    response = client.put("/api/alerts/rules", content=b"name = 'x'", headers={"content-type": "text/plain"})
    assert response.status_code == 400 and response.json() == {"error": "the body must be a JSON object"}
    for method, path, params, status, message in [
        ("POST", "/api/alerts/eval", {"at": "yesterday-ish"}, 400, "expected an ISO 8601 time"),
        ("GET", "/api/alerts/backtest/from-file", {"since": "a while"}, 400, "expected an ISO 8601 time"),
        ("GET", "/api/alerts/backtest/nope", {}, 404, "no rule 'nope'; rules: from-file"),
        ("POST", "/api/alerts/silences", {}, 400, 'expected {"end": TIME'),
    ]:
        answer = client.request(method, path, params=params, json={} if "silences" in path else None)
        assert answer.status_code == status and message in answer.json()["error"], answer.text


def test_create_list_update_delete_through_the_cli(tmp_path: Path) -> None:
    db, file, extra = str(tmp_path / "c.duckdb"), tmp_path / "rules.toml", tmp_path / "more.toml"
    file.write_text(FILE)
    common = ["--db", db, "--rules", str(file)]
    extra.write_text(
        '[[rule]]\nname = "slow"\nmetric = "latency_p95_ms"\nwindow = "10m"\ncondition = "> 2000"\n'
    )
    added = runner.invoke(cli, ["alerts", "add", str(extra), *common])
    assert added.exit_code == 0, added.output
    assert "stored 1 rules" in added.output
    shown = runner.invoke(cli, ["alerts", "rules", *common]).output
    assert (
        "from-file (file): calls over 1h > 100" in shown
        and "slow (stored): latency_p95_ms over 10m > 2000" in shown
    )
    extra.write_text(extra.read_text().replace("> 2000", "> 500"))
    assert runner.invoke(cli, ["alerts", "add", str(extra), *common]).exit_code == 0
    assert (
        "slow (stored): latency_p95_ms over 10m > 500"
        in runner.invoke(cli, ["alerts", "rules", *common]).output
    )
    removed = runner.invoke(cli, ["alerts", "rm", "slow", "--db", db])
    assert removed.exit_code == 0 and "deleted rule slow" in removed.output
    assert "slow" not in runner.invoke(cli, ["alerts", "rules", *common]).output
    again = runner.invoke(cli, ["alerts", "rm", "slow", "--db", db])
    assert again.exit_code == 2 and "no stored rule 'slow'" in again.output


def test_bad_rules_through_the_cli_store_nothing(tmp_path: Path) -> None:
    db, file, bad = str(tmp_path / "c.duckdb"), tmp_path / "rules.toml", tmp_path / "bad.toml"
    file.write_text(FILE)
    for text, message in [
        (
            '[[rule]]\nname = "x"\nmetric = "calls"\nwindow = "1h"\ncondition = "> 1"\nnotify = ["pager"]\n',
            "unknown pager",
        ),
        (
            '[[rule]]\nname = "from-file"\nmetric = "calls"\nwindow = "1h"\ncondition = "> 1"\n',
            "in the rule file",
        ),
        ('[[rule]]\nname = "[bold]x"\nmetric = "calls"\n', "missing window, condition"),
        ("[[rule]\n", "not valid TOML"),
    ]:
        bad.write_text(text)
        out = runner.invoke(cli, ["alerts", "add", str(bad), "--db", db, "--rules", str(file)])
        assert out.exit_code == 2 and message in out.output, out.output
    listing = runner.invoke(cli, ["alerts", "rules", "--db", db, "--rules", str(file)]).output
    assert "stored" not in listing


def test_rm_and_silence_know_the_file_rules(tmp_path: Path) -> None:
    db, file = str(tmp_path / "c.duckdb"), tmp_path / "rules.toml"
    file.write_text(FILE)
    common = ["--db", db, "--rules", str(file)]
    kept = runner.invoke(cli, ["alerts", "rm", "from-file", *common])
    assert kept.exit_code == 2 and "defined in the rule file" in kept.output
    typo = runner.invoke(cli, ["alerts", "silence", "--for", "1h", "--rule", "from-fiel", *common])
    assert typo.exit_code == 2 and "no rule 'from-fiel'; rules: from-file" in typo.output
    muted = runner.invoke(cli, ["alerts", "silence", "--for", "1h", "--rule", "from-file", *common])
    assert muted.exit_code == 0 and "silence " in muted.output
    with DuckDBStore(tmp_path / "c.duckdb") as store:
        assert store.query("SELECT rule FROM alert_silences").rows == [("from-file",)]
    states = runner.invoke(cli, ["alerts", "states", *common])
    assert states.exit_code == 0 and "from-file: normal (no group has left it)" in states.output
