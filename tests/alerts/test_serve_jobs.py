"""`serve` by itself: it evaluates the rules on its interval (a rule fires with no `alerts eval`) and its
scheduled publisher sends the settled windows to CloudWatch (moto's server, reached through boto3's usual
configuration: AWS_ENDPOINT_URL and the credentials in the environment)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import boto3
import httpx
import pytest

from support import collector_process
from tokentrail.model import Call
from tokentrail.store.duckdb import DuckDBStore
from tokentrail.times import utcnow

RULES = '[[rule]]\nname = "busy"\nmetric = "calls"\nwindow = "1h"\ncondition = "> 5"\n'


def poll(check: object, what: str, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, f"serve did not get there in time: {what}"
        time.sleep(0.2)


def test_serve_evaluates_rules_and_publishes_to_cloudwatch(
    tmp_path: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, rules, now = tmp_path / "s.duckdb", tmp_path / "rules.toml", utcnow()
    rules.write_text(RULES)
    with DuckDBStore(db) as store:  # stored before serve starts: its first runs see them
        store.write(
            [
                Call(
                    trace_id=f"{i + 1:032x}",
                    span_id=f"{i + 1:016x}",
                    kind="llm",
                    start_time=now - dt.timedelta(minutes=10, seconds=-20 * i),
                    request_model="gpt-4o-mini",
                )
                for i in range(8)
            ]
        )
    for key, value in {
        "AWS_ENDPOINT_URL": moto_url,
        "TOKENTRAIL_ALERTS_INTERVAL_S": "0.2",
        "TOKENTRAIL_CLOUDWATCH_NAMESPACE": "LLM/Serve",  # moto keeps one state per process
        "TOKENTRAIL_CLOUDWATCH_INTERVAL_S": "0.2",
    }.items():
        monkeypatch.setenv(key, value)
    cw = boto3.client("cloudwatch")

    def calls_in_cloudwatch() -> float:
        points = cw.get_metric_statistics(
            Namespace="LLM/Serve",
            MetricName="Calls",
            Dimensions=[{"Name": "Model", "Value": "gpt-4o-mini"}],
            StartTime=now - dt.timedelta(hours=1),
            EndTime=now + dt.timedelta(hours=1),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    with collector_process(db, "--workers", "0", "--rules", str(rules)) as url:
        poll(lambda: httpx.get(f"{url}/api/alerts/states").json()["states"], "a state")
        (busy,) = httpx.get(f"{url}/api/alerts/states").json()["states"]
        assert (busy["rule"], busy["state"], busy["value"]) == ("busy", "firing", 8.0)
        poll(lambda: calls_in_cloudwatch() == 8, "CloudWatch sums")
    assert calls_in_cloudwatch() == 8  # the publisher ran on every 0.2 s: still sent once
