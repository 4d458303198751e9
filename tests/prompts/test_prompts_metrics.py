"""Per-version metrics on both stores: the summary and `report --by prompt` group calls by prompt version
(calls, cost, cost per call, latency and TTFT percentiles, error rate); the report lists which version held
which stage, when, and the rollbacks."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from tokentrail.analytics.ranges import TimeRange
from tokentrail.analytics.summary import summary
from tokentrail.cli import app
from tokentrail.model import Call
from tokentrail.prompts.content import Content
from tokentrail.prompts.registry import Actor, Registry
from tokentrail.store import Store, open_store

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def calls() -> list[Call]:
    rows = [("1", 100.0, 10.0, "ok", 0.01), ("1", 300.0, 30.0, "error", 0.03), ("2", 200.0, 20.0, "ok", 0.02)]
    return [
        Call(
            trace_id=f"{i + 1:032x}",
            span_id=f"{i + 1:016x}",
            kind="llm",
            start_time=NOW - dt.timedelta(minutes=5),
            duration_ms=latency,
            ttft_ms=ttft,
            status=status,
            error_class="server_error" if status == "error" else None,
            cost_usd=cost,
            prompt_name="triage",
            prompt_version=version,
            prompt_content_id=f"id{version}",
        )
        for i, (version, latency, ttft, status, cost) in enumerate(rows)
    ]


def history(store: Store) -> None:
    reg = Registry(store)
    ann, ben = Actor("ann", False), Actor("ben", False)
    for text in ("one", "two"):
        reg.create("triage", Content(template=text), "", ann)
        reg.approve("triage", 1 if text == "one" else 2, ben)
    reg.promote("triage", 1, "prod", ben)
    reg.promote("triage", 2, "prod", ben)
    reg.rollback("triage", "prod", ben)


def test_summary_and_report_by_prompt_version(db: str) -> None:
    store = open_store(db)
    try:
        store.write(calls())
        history(store)
        rows = summary(store, TimeRange.resolve("1h", None, None), ["prompt_name", "prompt_version"])
        found = {r["prompt_version"]: r for r in rows.dicts()}
    finally:
        store.close()
    assert found["1"]["calls"] == 2 and found["1"]["error_rate"] == 0.5
    assert abs(found["1"]["cost_per_call_usd"] - 0.02) < 1e-9 and found["1"]["latency_p50_ms"] == 200.0
    assert found["2"]["calls"] == 1 and found["2"]["ttft_p50_ms"] == 20.0
    out = CliRunner().invoke(app, ["report", "--by", "prompt", "--format", "json", "--db", db])
    assert out.exit_code == 0, out.output
    groups = {r["prompt"]: r["calls"] for r in json.loads(out.output)}
    assert groups == {"triage v1": 2, "triage v2": 1}
    table = CliRunner().invoke(app, ["report", "--by", "prompt", "--db", db], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    lines = [line for line in table.output.splitlines() if "triage" in line and "prod" in line]
    assert len(lines) == 3 and all(line.rstrip().rstrip("│").strip().endswith("1") for line in lines)
    assert "now" in lines[-1] and "now" not in lines[0]
