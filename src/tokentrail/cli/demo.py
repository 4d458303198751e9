"""`tokentrail demo`: simulated traffic through the real clients → collector → DuckDB → report, the answer
to "which feature spent the most yesterday, and why?", and the dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from tokentrail.cli.common import console, fail

Db = Annotated[
    str | None,
    typer.Option(help="DuckDB file to append to (default: ./tokentrail-demo.duckdb, replaced on each run)"),
]
Port = Annotated[int, typer.Option(help="Port of the collector and dashboard")]
Days = Annotated[
    int, typer.Option(help="Spread the same traffic over this many days (UTC), today included; 3..90")
]
Serve = Annotated[bool, typer.Option("--serve/--no-serve", help="Keep the dashboard up until Ctrl-C")]
Scale = Annotated[float, typer.Option(help="Fraction of the default number of calls")]
Seed = Annotated[int, typer.Option(help="Seed of the scenarios and the simulator")]
Threads = Annotated[int, typer.Option(help="Sessions run at once")]


def demo(
    db: Db = None,
    port: Port = 4318,
    days: Days = 7,
    serve: Serve = True,
    scale: Scale = 1.0,
    seed: Seed = 7,
    threads: Threads = 32,
) -> None:
    """Run a week of simulated OpenAI, Anthropic and Bedrock traffic and answer the question."""
    from tokentrail.demo import DemoOptions, run_demo

    try:
        options = DemoOptions.build(db, port, days, scale, seed, serve, threads)
        run_demo(options, console)
    except KeyboardInterrupt:  # Ctrl-C is no error of the tree: the shell's 130, with what was stopped
        fail("interrupted; the collector and the simulator were stopped", 130)
