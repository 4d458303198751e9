"""An anomaly rule over eight weeks of seasonal traffic sent over OTLP: quiet over four normal weeks, fires
on an injected spike, and explains the firing."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tokentrail.alerts import engine
from tokentrail.alerts import state as engine_state
from tokentrail.alerts.backtest import backtest as replay
from tokentrail.alerts.rules import parse_rules
from tokentrail.model import Call
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store.duckdb import DuckDBStore

from .helpers import call_span, send_otlp

START = dt.datetime(2026, 9, 7)  # a Monday
WEEK = dt.timedelta(days=7)
SPIKE = START + 7 * WEEK + dt.timedelta(days=2, hours=14)  # Wednesday 14:00 of the eighth week
DAY_SHAPE = [2, 1, 1, 1, 1, 2, 3, 5, 8, 10, 12, 12, 11, 12, 12, 11, 10, 8, 6, 5, 4, 3, 3, 2]


def hourly_calls(hour: dt.datetime, rng: random.Random) -> int:
    base = DAY_SHAPE[hour.hour] * (0.5 if hour.weekday() >= 5 else 1.0) * 3
    calls = max(0, round(base * rng.uniform(0.85, 1.15)))
    return calls * 5 if hour == SPIKE else calls


def traffic() -> list[Any]:
    rng, spans, n = random.Random(7), [], 0
    for h in range(8 * 7 * 24):
        hour = START + dt.timedelta(hours=h)
        count = hourly_calls(hour, rng)
        for j in range(count):
            n += 1
            spans.append(call_span(n, hour + dt.timedelta(seconds=j * 3600 // max(count, 1))))
    return spans


RULES = """
[[rule]]
name = "calls-anomaly"
metric = "calls"
window = "1h"
condition = "anomaly"
notify = ["log"]

[notifier.log]
kind = "log"
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder: Path = tmp_path_factory.mktemp("anomaly")
    (folder / "alerts.toml").write_text(RULES)
    with DuckDBStore(folder / "a.duckdb") as store:
        app = create_app(store, Settings(alerts=folder / "alerts.toml"))
        with TestClient(app) as c:
            send_otlp(c, traffic())
            yield c


def backtest(client: TestClient, since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    params = {"since": since.isoformat(), "until": until.isoformat()}
    response = client.get("/api/alerts/backtest/calls-anomaly", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def test_quiet_over_four_normal_weeks(client: TestClient) -> None:
    false_positives = backtest(client, START + 3 * WEEK, START + 7 * WEEK)
    assert false_positives == []  # 672 hourly evaluations, none fired


def test_fires_on_the_spike_and_explains_it(client: TestClient) -> None:
    found = backtest(client, START + 7 * WEEK, START + 8 * WEEK)
    assert [f["fired_at"] for f in found] == [(SPIKE + dt.timedelta(hours=1)).isoformat() + "Z"]
    firing = found[0]
    assert firing["resolved_at"] == (SPIKE + dt.timedelta(hours=2)).isoformat() + "Z"
    assert set(firing) == {
        "rule",
        "group",
        "fired_at",
        "resolved_at",
        "value",
        "expected_low",
        "expected_high",
    }
    assert firing["value"] > firing["expected_high"] > firing["expected_low"]

    before = client.post("/api/alerts/eval", params={"at": SPIKE.isoformat()}).json()["changes"]
    assert before == []
    fired = client.post("/api/alerts/eval", params={"at": (SPIKE + dt.timedelta(hours=1)).isoformat()})
    change = fired.json()["changes"][0]
    assert (change["to"], change["delivered"]) == ("firing", ["log"])
    state = client.get("/api/alerts/states").json()["states"][0]
    assert "seasonal baseline" in state["explanation"] and "spreads above" in state["explanation"]


def test_short_history_uses_ewma_after_min_history(tmp_path: Path) -> None:
    hour = dt.timedelta(hours=1)
    per_hour = {h: 100 if h in (12, 30) else 20 for h in range(31)}  # spikes after 12 h and after 30 h
    times = [START + h * hour + i * hour / n for h, n in per_hour.items() for i in range(n)]
    rule = {"name": "a", "metric": "calls", "window": "1h", "condition": "anomaly", "min_history": "1d"}
    ruleset = parse_rules({"rule": [rule]}, "test")
    with DuckDBStore(tmp_path / "short.duckdb") as store:
        store.write(
            [
                Call(trace_id=f"{i + 1:032x}", span_id=f"{i + 1:016x}", kind="llm", start_time=t)
                for i, t in enumerate(times)
            ]
        )
        found = replay(store, ruleset.rules[0], START, START + 31 * hour)
        (change,) = engine.evaluate(store, ruleset, START + 31 * hour)
        (state,) = engine_state.load_states(store, "a").values()
    # the first spike had 12 h of history, less than min_history: no data, not an alert
    assert [f["fired_at"] for f in found] == [(START + 31 * hour).isoformat() + "Z"]
    assert change["to"] == "firing" and "ewma baseline of 30 windows" in state.explanation
