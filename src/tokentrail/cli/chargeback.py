"""`tokentrail chargeback`: who spent what in a month or a day, reconciled to the cent."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import typer
from rich.table import Table

from tokentrail import analytics
from tokentrail.cli.common import Format, console, opened_store
from tokentrail.settings import Settings

COLUMNS = (
    "calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "input_cost_usd",
    "cache_cost_usd",
    "output_cost_usd",
    "cost_usd",
    "cost_per_query_usd",
    "share",
)


def as_text(result: analytics.Chargeback, fmt: Format) -> str:
    rows = [*result.rows, {result.by: "TOTAL", **result.total}]
    if fmt == Format.JSON:
        return json.dumps(
            {
                "period": result.period.start.strftime("%Y-%m-%d"),
                "by": result.by,
                "rows": result.rows,
                "total": result.total,
            },
            indent=2,
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([result.by, *COLUMNS])
    writer.writerows([[row.get(result.by), *(row.get(c) for c in COLUMNS)] for row in rows])
    return out.getvalue()


HEADERS = (
    "calls",
    "in tok",
    "out tok",
    "cache r",
    "cache w",
    "$ input",
    "$ cache",
    "$ output",
    "$ total",
    "$/query",
    "share",
)


def cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "share":
        return f"{value * 100:.1f}%"
    if key.endswith("_usd"):
        return f"${value:,.2f}" if key != "cost_per_query_usd" else f"${value:,.5f}"
    return f"{value:,}"


def render(result: analytics.Chargeback) -> Table:
    span = f"{result.period.start:%Y-%m-%d} to {result.period.end:%Y-%m-%d}"
    table = Table(title=f"Chargeback by {result.by}, {span}", title_justify="left")
    table.add_column(result.by)
    for header in HEADERS:
        table.add_column(header, justify="right")
    for row in result.rows:
        table.add_row(str(row[result.by] or "(none)"), *(cell(c, row.get(c)) for c in COLUMNS))
    table.add_section()
    table.add_row("TOTAL", *(cell(c, result.total.get(c)) for c in COLUMNS), style="bold")
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def chargeback(
        period: str = typer.Option(..., help="YYYY-MM for a month, YYYY-MM-DD for a day (UTC)"),
        by: str = typer.Option("tenant", help=f"One of: {', '.join(analytics.CHARGEBACK_BY)}"),
        db: str = typer.Option(None, help="Store URL or DuckDB file [env TOKENTRAIL_DB]"),
        fmt: Format = typer.Option(Format.TABLE, "--format", help="table, json or csv"),
    ) -> None:
        """Calls, tokens by kind, cost by part, cost per query and share of the total per group."""
        with opened_store(db or Settings().db, read_only=True) as store:
            result = analytics.chargeback(store, analytics.parse_period(period), by)
        if fmt == Format.TABLE:
            console.print(render(result))
        else:
            typer.echo(as_text(result, fmt), nl=False)
