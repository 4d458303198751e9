"""`tokentrail prices check` (how every model seen is priced) and `tokentrail reprice` (recompute stored
costs after prices or overrides change)."""

from __future__ import annotations

from pathlib import Path

import typer

from tokentrail import analytics
from tokentrail.analytics import TimeRange
from tokentrail.cli.common import WIDE, console, load_prices_or_fail, opened_store, say
from tokentrail.cli.tables import Column, Grid, print_grid
from tokentrail.model import Call
from tokentrail.pricing import Prices, describe_model, price_call

COST_FIELDS = ("cost_usd", "input_cost_usd", "output_cost_usd", "cache_cost_usd", "price_source")


CHECK_COLUMNS = (
    Column("provider", drop=3),
    Column("model"),
    Column("calls", numeric=True),
    Column("source"),
    Column("matched", drop=4),
    Column("input", drop=1),
    Column("output", drop=1),
    Column("cache read", drop=2),
    Column("cache write", drop=2),
)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"${value:,.4g}"


def _costs(call: Call) -> tuple[object, ...]:
    return tuple(getattr(call, f) for f in COST_FIELDS)


def changed_by_repricing(calls: list[Call], prices: Prices) -> list[Call]:
    """Price each call again (in place); return those whose cost or price source changed."""
    changed = []
    for call in calls:
        before = _costs(call)
        price_call(call, prices)
        if _costs(call) != before:
            changed.append(call)
    return changed


def register(app: typer.Typer) -> None:
    prices_app = typer.Typer(help="Price data: how each model is priced.", no_args_is_help=True)
    app.add_typer(prices_app, name="prices")

    @prices_app.command("check")
    def check(
        db: str = typer.Option(None, help="Store URL or DuckDB file [env TOKENTRAIL_DB]"),
        since: str = typer.Option("30d", help="Models seen this far back"),
        prices_file: Path = typer.Option(None, "--prices", help="Override TOML [env TOKENTRAIL_PRICES_FILE]"),
        wide: bool = WIDE,
    ) -> None:
        """List every model seen and how it is priced (USD per million tokens)."""
        prices = load_prices_or_fail(prices_file)
        with opened_store(db, read_only=True) as store:
            seen = analytics.models_seen(store, TimeRange.resolve(since))
        grid = Grid(CHECK_COLUMNS, f"Models seen in the last {since}; prices {prices.version}")
        unpriced = 0
        for provider, model, calls in seen:
            p = describe_model(provider, model, prices)
            unpriced += calls if p.source == "unknown" else 0
            style = "red" if p.source == "unknown" else None
            grid.add(
                provider or "-",
                model,
                f"{calls:,}",
                p.source,
                p.matched or "-",
                _rate(p.input),
                _rate(p.output),
                _rate(p.cache_read),
                _rate(p.cache_write),
                style=style,
            )
        print_grid(console, grid, wide)
        if unpriced:
            say(
                f"{unpriced:,} calls unpriced: their models cannot be priced; add them to the overrides file",
                "red",
            )

    @app.command()
    def reprice(
        db: str = typer.Option(None, help="Store URL or DuckDB file [env TOKENTRAIL_DB]"),
        since: str = typer.Option("30d", help="Reprice calls this far back"),
        start: str = typer.Option(None, help="Start time (ISO-8601 or epoch ms); overrides --since"),
        end: str = typer.Option(None, help="End time (default now)"),
        prices_file: Path = typer.Option(None, "--prices", help="Override TOML [env TOKENTRAIL_PRICES_FILE]"),
    ) -> None:
        """Recompute stored costs with the current price data and overrides; says how many calls changed."""
        prices = load_prices_or_fail(prices_file)
        with opened_store(db) as store:
            calls = analytics.fetch_calls(store, TimeRange.resolve(since, start, end))
            changed = changed_by_repricing(calls, prices)
            if changed:
                store.replace(changed)
        say(f"repriced {len(calls):,} calls with {prices.version}: {len(changed):,} changed")
