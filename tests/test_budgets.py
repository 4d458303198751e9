"""Budgets: definitions, status with run-rate forecast, API and CLI; on both backends."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tokentrail import budgets, keys
from tokentrail.budgets import Budget, BudgetError
from tokentrail.cli import app as cli
from tokentrail.model import Call
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store import Store
from tokentrail.store.duckdb import DuckDBStore

NOW = dt.datetime(2026, 11, 11, 12, 0)  # 10.5 days into November


def spend(tenant: str, usd: float, when: dt.datetime, n: int = 1, offset: int = 0) -> list[Call]:
    return [
        Call(
            trace_id=f"{offset + i + 1:032x}",
            span_id=f"{offset + i + 1:016x}",
            kind="llm",
            tenant=tenant,
            team="core",
            start_time=when,
            cost_usd=usd / n,
            input_tokens=1,
            output_tokens=1,
        )
        for i in range(n)
    ]


def test_status_spent_forecast_and_exhaustion(store: Store) -> None:
    store.write(
        spend("acme", 42.0, NOW - dt.timedelta(days=3), n=6)
        + spend("acme", 99.0, dt.datetime(2026, 10, 30), offset=100)  # last month: not counted
        + spend("small", 1.0, NOW - dt.timedelta(hours=1), offset=200)
    )
    budgets.set_budget(store, Budget("tenant", "acme", "month", 100.0))
    budgets.set_budget(store, Budget("tenant", "acme", "month", 80.0))  # replaces
    budgets.set_budget(store, Budget("tenant", "small", "day", 0.5))
    found = {(s.budget.value, s.budget.period): s for s in budgets.status(store, NOW)}
    acme = found["acme", "month"]
    assert acme.budget.amount_usd == 80.0 and acme.spent_usd == pytest.approx(42.0)
    assert acme.forecast_usd == pytest.approx(42.0 / 10.5 * 30)
    assert acme.days_to_exhaustion == pytest.approx((80 - 42) / (42 / 10.5))
    assert not acme.exceeded and acme.forecast_exceeded
    small = found["small", "day"]
    assert small.exceeded and small.days_to_exhaustion == 0.0
    assert len(budgets.list_budgets(store)) == 2


def test_no_spend_has_no_run_rate(store: Store) -> None:
    budgets.set_budget(store, Budget("feature", "search", "day", 10))
    (s,) = budgets.status(store, NOW)
    assert s.spent_usd == 0 and s.days_to_exhaustion is None and not s.exceeded


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"scope": "planet", "value": "x", "period": "day", "amount_usd": 1}, "scope must be one of"),
        ({"scope": "tenant", "value": "x", "period": "week", "amount_usd": 1}, "period must be day or month"),
        ({"scope": "tenant", "value": "", "period": "day", "amount_usd": 1}, "value must be"),
        ({"scope": "tenant", "value": "x", "period": "day", "amount_usd": -5}, "positive number"),
        ({"scope": "tenant", "value": "x", "period": "day", "amount_usd": "lots"}, "positive number"),
        ({"scope": "tenant", "value": "x", "period": "day"}, "missing amount_usd"),
        ({"scope": "tenant", "value": "x", "period": "day", "amount_usd": 1, "cap": 2}, "unknown keys cap"),
    ],
)
def test_bad_definitions(data: dict[str, object], message: str) -> None:
    with pytest.raises(BudgetError, match=message):
        Budget.from_mapping(data)


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, Settings(ingest_key="k"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_budget_api(api: httpx.AsyncClient, store: Store) -> None:
    _, admin = keys.create_key(store, "ops", ["admin"])
    key = {"authorization": f"Bearer {admin}"}
    ingest = {"authorization": "Bearer k"}
    body = {"scope": "team", "value": "core", "period": "day", "amount_usd": 5}
    assert (await api.put("/api/budgets", json=body)).status_code == 401
    assert (await api.put("/api/budgets", json=body, headers=ingest)).status_code == 403  # ingest-only key
    assert (await api.put("/api/budgets", json=body, headers=key)).status_code == 200
    bad = await api.put("/api/budgets", json={**body, "period": "year"}, headers=key)
    assert bad.status_code == 400 and "period" in bad.json()["error"]
    notjson = await api.put("/api/budgets", content=b"{", headers={**key, "content-type": "application/json"})
    assert notjson.status_code == 400
    store.write(spend("acme", 7.0, budgets.utcnow() - dt.timedelta(minutes=5)))
    assert (await api.get("/api/budgets/status")).status_code == 401
    status = (await api.get("/api/budgets/status", headers=ingest)).json()["budgets"]  # the SDK's key
    assert (
        status[0]["value"] == "core"
        and status[0]["spent_usd"] == pytest.approx(7.0)
        and status[0]["exceeded"]
    )
    assert (await api.get("/api/budgets", headers=ingest)).status_code == 403  # listing needs read
    assert (await api.get("/api/budgets", headers=key)).json()["budgets"] == [body | {"amount_usd": 5.0}]
    assert (await api.delete("/api/budgets/team/core/day", headers=key)).status_code == 200
    assert (await api.delete("/api/budgets/team/core/day", headers=key)).status_code == 404
    assert (await api.get("/api/budgets", headers=key)).json()["budgets"] == []


def test_budget_cli(tmp_path: Path) -> None:
    db, runner = str(tmp_path / "b.duckdb"), CliRunner()
    file = tmp_path / "budgets.toml"
    file.write_text('[[budget]]\nscope = "tenant"\nvalue = "acme"\nperiod = "month"\namount_usd = 250.0\n')
    assert runner.invoke(cli, ["budget", "load", str(file), "--db", db]).exit_code == 0
    out = runner.invoke(
        cli,
        ["budget", "set", "--scope", "app", "--value", "shop", "--usd", "3", "--period", "day", "--db", db],
    )
    assert out.exit_code == 0, out.output
    with DuckDBStore(db) as s:
        s.write(spend("acme", 300.0, budgets.utcnow() - dt.timedelta(minutes=1)))
    shown = runner.invoke(cli, ["budget", "status", "--db", db], env={"COLUMNS": "200"})
    assert "acme" in shown.output and "over" in shown.output and "shop" in shown.output
    file.write_text('[[budget]]\nscope = "tenant"\nvalue = "acme"\nperiod = "fortnight"\namount_usd = 1\n')
    bad = runner.invoke(cli, ["budget", "load", str(file), "--db", db])
    assert bad.exit_code == 2 and "budget[1]: period must be day or month" in bad.output
    assert (
        runner.invoke(cli, ["budget", "rm", "--scope", "app", "--value", "nope", "--db", db]).exit_code == 2
    )
    with DuckDBStore(db) as s:
        assert len(budgets.list_budgets(s)) == 2  # the bad file changed nothing
