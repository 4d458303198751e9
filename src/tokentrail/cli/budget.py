"""`tokentrail budget set|rm|list|status|load`: spending limits per tenant, team, feature or app."""

from __future__ import annotations

from pathlib import Path

import typer

from tokentrail import budgets
from tokentrail.budgets import Budget, BudgetError
from tokentrail.cli.common import WIDE, console, fail, opened_store, say
from tokentrail.cli.tables import Column, Grid, print_grid

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


def register(app: typer.Typer) -> None:
    budget_app = typer.Typer(help="Spending limits per tenant, team, feature or app.", no_args_is_help=True)
    app.add_typer(budget_app, name="budget")
    db_help = "Store URL or DuckDB file [env TOKENTRAIL_DB]"

    @budget_app.command("set")
    def set_(
        scope: str = typer.Option(..., help=f"One of: {', '.join(budgets.SCOPES)}"),
        value: str = typer.Option(..., help="The tenant, team, feature or app"),
        usd: float = typer.Option(..., help="Amount in USD"),
        period: str = typer.Option("month", help="day or month (UTC)"),
        db: str = typer.Option(None, help=db_help),
    ) -> None:
        """Set (or replace) a budget."""
        try:
            budget = Budget(scope, value, period, usd)
        except BudgetError as exc:
            fail(str(exc))
        with opened_store(db) as store:
            budgets.set_budget(store, budget)
        say(f"{period} budget for {scope} {value!r}: ${usd:,.2f}")

    @budget_app.command("rm")
    def rm(
        scope: str = typer.Option(...),
        value: str = typer.Option(...),
        period: str = typer.Option("month"),
        db: str = typer.Option(None, help=db_help),
    ) -> None:
        """Delete a budget."""
        with opened_store(db) as store:
            if not budgets.delete_budget(store, scope, value, period):
                fail(f"no {period} budget for {scope} {value!r}")
        say(f"deleted the {period} budget for {scope} {value!r}")

    @budget_app.command("load")
    def load(
        path: Path = typer.Argument(..., help="TOML file of [[budget]] tables"),
        db: str = typer.Option(None, help=db_help),
    ) -> None:
        """Set every budget in a file."""
        try:
            found = budgets.load_file(path)
        except BudgetError as exc:
            fail(str(exc))
        with opened_store(db) as store:
            for budget in found:
                budgets.set_budget(store, budget)
        say(f"set {len(found)} budgets from {path}")

    @budget_app.command("status")
    def status(db: str = typer.Option(None, help=db_help), wide: bool = WIDE) -> None:
        """Spent, forecast at period end and days to exhaustion for every budget."""
        with opened_store(db, read_only=True) as store:
            found = budgets.status(store)
        if not found:
            console.print("no budgets set; add one with `tokentrail budget set`")
            return
        print_grid(console, status_table(found), wide)
