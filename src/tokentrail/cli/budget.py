"""`tokentrail budget set|rm|list|status|load`: spending limits per tenant, team, feature or app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokentrail import budgets
from tokentrail.budgets import Budget
from tokentrail.cli.common import console, fail, group, opened_store, say
from tokentrail.cli.options import Db, Wide
from tokentrail.render.tables import Column, Grid, print_grid

app = group("Spending limits per tenant, team, feature or app.")

STATUS_COLUMNS = (
    Column("scope"),
    Column("value"),
    Column("period", drop=2),
    Column("budget", numeric=True),
    Column("spent", numeric=True),
    Column("used", numeric=True, drop=1),
    Column("forecast", numeric=True, drop=1),
    Column("days left", numeric=True, drop=2),
    Column("state"),
)


def status_table(found: list[budgets.BudgetStatus]) -> Grid:
    grid = Grid(STATUS_COLUMNS, "Budgets this period (UTC)")
    for s in found:
        state = "over" if s.exceeded else "forecast over" if s.forecast_exceeded else "ok"
        days = "-" if s.days_to_exhaustion is None else f"{s.days_to_exhaustion:,.1f}"
        grid.add(
            s.budget.scope,
            s.budget.value,
            s.budget.period,
            f"${s.budget.amount_usd:,.2f}",
            f"${s.spent_usd:,.2f}",
            f"{s.spent_usd / s.budget.amount_usd:.0%}",
            f"${s.forecast_usd:,.2f}",
            days,
            state,
            style="red" if s.exceeded else "yellow" if s.forecast_exceeded else None,
        )
    return grid


@app.command("set")
def set_(
    scope: Annotated[str, typer.Option(help=f"One of: {', '.join(budgets.SCOPES)}")],
    value: Annotated[str, typer.Option(help="The tenant, team, feature or app")],
    usd: Annotated[float, typer.Option(help="Amount in USD")],
    period: Annotated[str, typer.Option(help="day or month (UTC)")] = "month",
    db: Db = None,
) -> None:
    """Set (or replace) a budget."""
    budget = Budget(scope, value, period, usd)
    with opened_store(db) as store:
        budgets.set_budget(store, budget)
    say(f"{period} budget for {scope} {value!r}: ${usd:,.2f}")


@app.command("rm")
def rm(
    scope: Annotated[str, typer.Option()],
    value: Annotated[str, typer.Option()],
    period: str = "month",
    db: Db = None,
) -> None:
    """Delete a budget."""
    with opened_store(db) as store:
        if not budgets.delete_budget(store, scope, value, period):
            fail(f"no {period} budget for {scope} {value!r}")
    say(f"deleted the {period} budget for {scope} {value!r}")


@app.command("load")
def load(path: Annotated[Path, typer.Argument(help="TOML file of [[budget]] tables")], db: Db = None) -> None:
    """Set every budget in a file."""
    found = budgets.load_file(path)
    with opened_store(db) as store:
        for budget in found:
            budgets.set_budget(store, budget)
    say(f"set {len(found)} budgets from {path}")


@app.command("status")
def status(db: Db = None, wide: Wide = False) -> None:
    """Spent, forecast at period end and days to exhaustion for every budget."""
    with opened_store(db, read_only=True) as store:
        found = budgets.status(store)
    if not found:
        console.print("no budgets set; add one with `tokentrail budget set`")
        return
    print_grid(console, status_table(found), wide)
