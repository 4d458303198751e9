"""`tokentrail query` (CloudWatch Logs Insights syntax) and `tokentrail sql` (read-only SQL)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tokentrail.analytics.ranges import TimeRange
from tokentrail.cli.common import console, emit, fail, opened_store, plain, say
from tokentrail.cli.options import Db, End, Format, Output, Since, Start, Wide
from tokentrail.query import DEFAULT_LIMIT, QueryError
from tokentrail.query.run import run_query, run_sql
from tokentrail.render.tables import Column, Grid, print_grid
from tokentrail.settings import Settings
from tokentrail.store import QueryResult


def show(result: QueryResult, fmt: Format, wide: bool = False) -> None:
    """The rows; in a table that is too wide, the rightmost columns are left out first (the first stays)."""
    if fmt == Format.JSON:  # the shape of POST /api/query: typed columns, then rows in their order
        body = {"columns": result.described_columns(), "rows": [[plain(v) for v in r] for r in result.rows]}
        typer.echo(json.dumps(body, indent=2, default=str))
        return
    if fmt != Format.TABLE:
        typer.echo(emit(result, fmt), nl=False)
        return
    grid = Grid([Column(name, drop=i) for i, name in enumerate(result.columns)])
    for row in result.rows:
        grid.add(*("" if v is None else str(plain(v)) for v in row))
    print_grid(console, grid, wide)
    say(f"{len(result.rows):,} rows")


def query_error(exc: QueryError) -> None:
    """The CLI's form of a QueryError: the hint on a line of its own (str(exc) keeps it on one line)."""
    where = f" at line {exc.line}, column {exc.column}" if exc.line else ""
    hint = f"\nhint: {exc.hint}" if exc.hint else ""
    fail(f"{exc.message}{where}{hint}")


def query(
    text: Annotated[str, typer.Argument(help="A Logs Insights query, e.g. 'stats sum(cost_usd) by feature'")],
    db: Db = None,
    since: Since = "24h",
    start: Start = None,
    end: End = None,
    limit: Annotated[int, typer.Option(help="Most rows returned")] = DEFAULT_LIMIT,
    fmt: Output = Format.TABLE,
    wide: Wide = False,
) -> None:
    """Query calls with CloudWatch Logs Insights syntax; Bedrock invocation-log field names work too."""
    settings = Settings()
    with opened_store(db, read_only=True) as store:
        try:
            result = run_query(
                store, text, TimeRange.resolve(since, start, end), limit, settings.query_timeout_s
            )
        except QueryError as exc:
            query_error(exc)
    show(result, fmt, wide)


def sql(
    statement: Annotated[str, typer.Argument(help="One SELECT (or WITH, DESCRIBE, SHOW) statement")],
    db: Db = None,
    fmt: Output = Format.TABLE,
    wide: Wide = False,
) -> None:
    """Run read-only SQL on the store (calls, spans, metric_points, stream_timelines, budgets)."""
    settings = Settings()
    with opened_store(db, read_only=True) as store:
        try:
            result = run_sql(store, statement, settings.query_timeout_s)
        except QueryError as exc:
            query_error(exc)
    show(result, fmt, wide)
