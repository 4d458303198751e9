"""`tokentrail prices check` (how every model seen is priced) and `tokentrail reprice` (recompute stored
costs after prices or overrides change)."""

from __future__ import annotations

from tokentrail.analytics.calls import fetch_calls, models_seen
from tokentrail.analytics.ranges import TimeRange
from tokentrail.cli.common import console, group, load_prices_or_fail, opened_store, say
from tokentrail.cli.options import Db, End, PricesFile, Since, Start, Wide
from tokentrail.model import Call
from tokentrail.pricing import Prices, describe_model, price_call
from tokentrail.render.tables import Column, Grid, print_grid

app = group("Price data: how each model is priced.")

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


@app.command("check")
def check(db: Db = None, since: Since = "30d", prices_file: PricesFile = None, wide: Wide = False) -> None:
    """List every model seen and how it is priced (USD per million tokens)."""
    prices = load_prices_or_fail(prices_file)
    with opened_store(db, read_only=True) as store:
        seen = models_seen(store, TimeRange.resolve(since))
    grid = Grid(CHECK_COLUMNS, f"Models seen in the last {since}; prices {prices.version}")
    unpriced = 0
    for provider, model, calls in seen:
        p = describe_model(provider, model, prices)
        unpriced += calls if p.source == "unknown" else 0
        rates = (_rate(p.input), _rate(p.output), _rate(p.cache_read), _rate(p.cache_write))
        row = (provider or "-", model, f"{calls:,}", p.source, p.matched or "-", *rates)
        grid.add(*row, style="red" if p.source == "unknown" else None)
    print_grid(console, grid, wide)
    if unpriced:
        say(
            f"{unpriced:,} calls unpriced: their models cannot be priced; add them to the overrides file",
            "red",
        )


def reprice(
    db: Db = None, since: Since = "30d", start: Start = None, end: End = None, prices_file: PricesFile = None
) -> None:
    """Recompute stored costs with the current price data and overrides; says how many calls changed."""
    prices = load_prices_or_fail(prices_file)
    with opened_store(db) as store:
        calls = fetch_calls(store, TimeRange.resolve(since, start, end))
        changed = changed_by_repricing(calls, prices)
        if changed:
            store.replace(changed)
    say(f"repriced {len(calls):,} calls with {prices.version}: {len(changed):,} changed")
