"""`tokentrail demo`: simulated traffic through the real clients → collector → DuckDB → report, the answer
to "which feature spent the most yesterday, and why?", and the dashboard."""

from __future__ import annotations

import typer

from tokentrail.cli.common import console, fail


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        db: str = typer.Option(
            None, help="DuckDB file to append to (default: ./tokentrail-demo.duckdb, replaced on each run)"
        ),
        port: int = typer.Option(4318, help="Port of the collector and dashboard"),
        days: int = typer.Option(
            7, help="Spread the same traffic over this many days (UTC), today included; 3..90"
        ),
        serve: bool = typer.Option(True, "--serve/--no-serve", help="Keep the dashboard up until Ctrl-C"),
        scale: float = typer.Option(1.0, help="Fraction of the default number of calls"),
        seed: int = typer.Option(7, help="Seed of the scenarios and the simulator"),
        threads: int = typer.Option(32, help="Sessions run at once"),
    ) -> None:
        """Run a week of simulated OpenAI, Anthropic and Bedrock traffic and answer the question."""
        from tokentrail.demo import DemoError, DemoOptions, run_demo

        try:
            options = DemoOptions.build(db, port, days, scale, seed, serve, threads)
            run_demo(options, console)
        except DemoError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted; the collector and the simulator were stopped", 130)
