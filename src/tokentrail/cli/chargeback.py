"""`tokentrail chargeback`: who spent what in a month or a day, reconciled to the cent."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any

import typer

from tokentrail.analytics.chargeback import CHARGEBACK_BY, Chargeback
from tokentrail.analytics.chargeback import chargeback as compute_chargeback
from tokentrail.analytics.ranges import parse_period
from tokentrail.cli.common import console, opened_store, say
from tokentrail.cli.options import Db, Format, Output, Wide
from tokentrail.render.tables import Column, Grid, print_grid

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


def as_text(result: Chargeback, fmt: Format) -> str:
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
    Column("calls", numeric=True),
    Column("in tok", numeric=True, drop=3),
    Column("out tok", numeric=True, drop=3),
    Column("cache r", numeric=True, drop=4),
    Column("cache w", numeric=True, drop=4),
    Column("$ input", numeric=True, drop=5),
    Column("$ cache", numeric=True, drop=5),
    Column("$ output", numeric=True, drop=5),
    Column("$ total", numeric=True),
    Column("$/query", numeric=True, drop=2),
    Column("share", numeric=True, drop=1),
)


def cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "share":
        return f"{value * 100:.1f}%"
    if key.endswith("_usd"):
        return f"${value:,.2f}" if key != "cost_per_query_usd" else f"${value:,.5f}"
    return f"{value:,}"


def render(result: Chargeback) -> Grid:
    span = f"{result.period.start:%Y-%m-%d} to {result.period.end:%Y-%m-%d}"
    grid = Grid([Column(result.by), *HEADERS], f"Chargeback by {result.by}, {span}")
    for row in result.rows:
        grid.add(str(row[result.by] or "(none)"), *(cell(c, row.get(c)) for c in COLUMNS))
    grid.total = ["TOTAL", *(cell(c, result.total.get(c)) for c in COLUMNS)]
    return grid


def chargeback(
    period: Annotated[str, typer.Option(help="YYYY-MM for a month, YYYY-MM-DD for a day (UTC)")],
    by: Annotated[str, typer.Option(help=f"One of: {', '.join(CHARGEBACK_BY)}")] = "tenant",
    db: Db = None,
    fmt: Output = Format.TABLE,
    wide: Wide = False,
) -> None:
    """Calls, tokens by kind, cost by part, cost per query and share of the total per group."""
    with opened_store(db, read_only=True) as store:
        result = compute_chargeback(store, parse_period(period), by)
    if fmt != Format.TABLE:
        typer.echo(as_text(result, fmt), nl=False)
        return
    print_grid(console, render(result), wide)
    unpriced = result.total.get("unpriced_calls") or 0
    if unpriced:
        say(f"{unpriced:,} calls unpriced (left out of the cost); see `tokentrail prices check`", "yellow")
