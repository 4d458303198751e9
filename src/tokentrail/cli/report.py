"""`tokentrail report`: per-group calls, errors by class, tokens, cost and latency percentiles."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tokentrail.analytics.calls import unpriced_models
from tokentrail.analytics.fields import DIMENSIONS, dimension
from tokentrail.analytics.ranges import TimeRange
from tokentrail.analytics.summary import summary
from tokentrail.cli.common import console, emit, opened_store, say
from tokentrail.cli.options import Db, End, Format, Output, Since, Start, Wide
from tokentrail.prompts.registry import Registry
from tokentrail.render.report import report_grid
from tokentrail.render.tables import print_grid
from tokentrail.store import Store

By = Annotated[str, typer.Option(help=f"Group by one of: {', '.join(DIMENSIONS)}")]


def report(
    db: Db = None,
    since: Since = "24h",
    start: Start = None,
    end: End = None,
    by: By = "feature",
    fmt: Output = Format.TABLE,
    wide: Wide = False,
) -> None:
    """Calls, errors by class, tokens, cost and latency percentiles per group."""
    with opened_store(db, read_only=True) as store:
        time_range = TimeRange.resolve(since, start, end)
        dimension(by)
        print_report(store, time_range, by, fmt, wide)


def print_report(store: Store, time_range: TimeRange, by: str, fmt: Format, wide: bool = False) -> None:
    result = summary(store, time_range, [by])
    if fmt != Format.TABLE:
        typer.echo(emit(result, fmt), nl=False)
        return
    title = f"LLM calls by {by}, {time_range.start:%Y-%m-%d %H:%M} to {time_range.end:%Y-%m-%d %H:%M} UTC"
    print_grid(console, report_grid(result, by, title), wide)
    unpriced = unpriced_models(store, time_range)
    if unpriced:
        total = sum(n for _, n in unpriced)
        models = ", ".join(f"{m} ({n})" for m, n in unpriced[:8])
        say(f"{total} calls unpriced (left out of the cost): models {models}", "yellow")
    if by == "prompt":
        console.print(stage_table(Registry(store)))


def stage_table(registry: Registry) -> Table:
    """Which version held which stage and when, and the rollbacks per prompt and stage (from the events)."""
    table = Table(
        "prompt", "stage", "version", "since (UTC)", "until (UTC)", "rollbacks", title="Prompt stages"
    )
    for name in registry.names():
        state = registry.state(name)
        for span in state.live:
            until = span.until[:19] if span.until else "now"
            count = str(state.rollbacks.get(span.stage, 0))
            table.add_row(escape(name), escape(span.stage), str(span.version), span.since[:19], until, count)
    return table
