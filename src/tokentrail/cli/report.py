"""`tokentrail report`: per-group calls, errors by class, tokens, cost and latency percentiles."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from tokentrail import analytics
from tokentrail.analytics import DIMENSIONS, TimeRange
from tokentrail.cli.common import WIDE, Format, console, emit, opened_store, say
from tokentrail.cli.tables import Column, Grid, print_grid
from tokentrail.prompts.registry import Registry
from tokentrail.store import QueryResult, Store

ERROR_COLUMNS = [f"errors_{cls}" for cls in analytics.ERROR_CLASSES]


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _money(value: Any) -> str:
    if value is None:
        return "-"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def error_breakdown(row: dict[str, Any]) -> str:
    parts = [f"{col.removeprefix('errors_')} {row[col]}" for col in ERROR_COLUMNS if row.get(col)]
    return ", ".join(parts) or "-"


REPORT_COLUMNS = (
    Column("calls", numeric=True),
    Column("err %", numeric=True, drop=2),
    Column("errors by class", drop=4),
    Column("retries", numeric=True, drop=5),
    Column("in tok", numeric=True, drop=3),
    Column("out tok", numeric=True, drop=3),
    Column("cache r/w", numeric=True, drop=5),
    Column("cost", numeric=True),
    Column("$/call", numeric=True, drop=3),
    Column("ttft p50/p95", numeric=True, drop=4),
    Column("lat p50/p95/p99", numeric=True, drop=1),
)


def report_grid(result: QueryResult, by: str, title: str) -> Grid:
    grid = Grid([Column(by), *REPORT_COLUMNS], title)
    for row in result.dicts():
        grid.add(
            str(row.get(by) if row.get(by) is not None else "(none)"),
            _num(row["calls"]),
            _num((row["error_rate"] or 0) * 100, 1),
            error_breakdown(row),
            _num(row["retries"]),
            _num(row["input_tokens"]),
            _num(row["output_tokens"]),
            f"{_num(row['cache_read_tokens'])}/{_num(row['cache_write_tokens'])}",
            _money(row["cost_usd"]),
            _money(row["cost_per_call_usd"]),
            f"{_num(row['ttft_p50_ms'])}/{_num(row['ttft_p95_ms'])} ms",
            f"{_num(row['latency_p50_ms'])}/{_num(row['latency_p95_ms'])}/{_num(row['latency_p99_ms'])} ms",
        )
    return grid


def print_report(store: Store, time_range: TimeRange, by: str, fmt: Format, wide: bool = False) -> None:
    result = analytics.summary(store, time_range, [by])
    if fmt != Format.TABLE:
        typer.echo(emit(result, fmt), nl=False)
        return
    title = f"LLM calls by {by}, {time_range.start:%Y-%m-%d %H:%M} to {time_range.end:%Y-%m-%d %H:%M} UTC"
    print_grid(console, report_grid(result, by, title), wide)
    unpriced = analytics.unpriced_models(store, time_range)
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


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        db: str = typer.Option(None, help="Store URL or DuckDB file [env TOKENTRAIL_DB]"),
        since: str = typer.Option("24h", help="Look back this far (e.g. 1h, 24h, 7d)"),
        start: str = typer.Option(None, help="Start time (ISO-8601 or epoch ms); overrides --since"),
        end: str = typer.Option(None, help="End time (default now)"),
        by: str = typer.Option("feature", help=f"Group by one of: {', '.join(DIMENSIONS)}"),
        fmt: Format = typer.Option(Format.TABLE, "--format", help="table, json or csv"),
        wide: bool = WIDE,
    ) -> None:
        """Calls, errors by class, tokens, cost and latency percentiles per group."""
        with opened_store(db, read_only=True) as store:
            time_range = TimeRange.resolve(since, start, end)
            analytics.dimension(by)
            print_report(store, time_range, by, fmt, wide)
