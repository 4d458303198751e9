"""Query benchmark: latency of the standard dashboard queries over 10 million calls in the embedded DuckDB
store. Target: p50 under 300 ms for each.

Method (printed with the results): synthetic calls (bench/synthetic.py) spread over 30 days are bulk-loaded
into a fresh DuckDB file and checkpointed. Each query then runs once to warm up and `--runs` times through
the same public paths the API and CLI use (analytics.summary.summary, analytics.calls.list_calls,
query.run_query), in this process, timed with perf_counter; p50 and p95 of those runs are printed. Results are
fetched to Python, as the API would.

Summaries over more than analytics.percentiles.PERCENTILE_BUDGET calls compute percentiles over a uniform
per-group sample (exact below the budget). Their accuracy is measured in the same run: each sampled summary is
recomputed with exact percentiles, and the median and worst relative error of every percentile column, over
all groups, are printed with the smallest sample any group's percentiles came from.

Usage: python bench/query.py [--calls 10000000] [--runs 9] [--db PATH (reuse an existing file)]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthetic import load

from tokentrail.analytics import percentiles
from tokentrail.analytics.calls import list_calls
from tokentrail.analytics.dashboard import breakdowns, overview_totals, timeseries
from tokentrail.analytics.ranges import TimeRange
from tokentrail.analytics.summary import summary
from tokentrail.query.run import run_query
from tokentrail.store import QueryResult, Store
from tokentrail.store.duckdb import DuckDBStore

Query = Callable[[Store], object]


def queries() -> dict[str, Query]:
    day, week, month = TimeRange.resolve("24h"), TimeRange.resolve("7d"), TimeRange.resolve("30d")
    return {
        "overview tiles, 24h": lambda s: summary(s, day),
        "top features by cost, 24h": lambda s: summary(s, day, ["feature"]),
        "top features by cost, 7d": lambda s: summary(s, week, ["feature"]),
        "by model, 30d": lambda s: summary(s, month, ["model"]),
        "by tenant, 30d (500 groups)": lambda s: summary(s, month, ["tenant"]),
        "feature x model, 7d": lambda s: summary(s, week, ["feature", "model"]),
        "one feature drill-down by tenant, 7d": lambda s: summary(
            s, week, ["tenant"], {"feature": "feature-3"}
        ),
        "cost per hour, 7d (query language)": lambda s: run_query(
            s, "stats sum(cost_usd) as cost by bin(1h)", week
        ),
        "p95 latency by model, 24h (pct)": lambda s: run_query(
            s, "stats pct(latency, 95) as p95 by modelId", day
        ),
        "errors by class, 24h": lambda s: run_query(
            s, "filter status = 'error' | stats count(*) as n by error_class | sort n desc", day
        ),
        "tokens by tenant, 30d (Bedrock names)": lambda s: run_query(
            s,
            "fields requestMetadata.tenant_id as Tenant, input.inputTokenCount + output.outputTokenCount as Tokens"
            " | stats sum(Tokens) as TotalTokens, count(*) as Requests by Tenant | sort TotalTokens desc",
            month,
        ),
        "dashboard tiles, 30d": lambda s: overview_totals(s, month),
        "dashboard time series, 30d (6h buckets)": lambda s: timeseries(s, month),
        "dashboard top-10 breakdowns, 30d (4 dims)": lambda s: breakdowns(
            s, month, ["feature", "model", "tenant", "app"]
        ),
        "call list page, newest 50, 24h": lambda s: list_calls(s, day, limit=50),
        "call list, most expensive 50, 7d": lambda s: list_calls(s, week, sort="cost_usd", limit=50),
    }


SAMPLED = ("by model, 30d", "by tenant, 30d (500 groups)", "feature x model, 7d", "top features by cost, 7d")
PERCENTILE_COLUMNS = percentiles.percentile_columns(percentiles.SUMMARY_PERCENTILES)


def accuracy(store: Store, fn: Query) -> str:
    """Relative error of sampled percentiles against exact ones, over every group and percentile column."""
    sampled = by_group(fn(store))
    budget, percentiles.PERCENTILE_BUDGET = percentiles.PERCENTILE_BUDGET, 10**12
    try:
        exact = by_group(fn(store))
    finally:
        percentiles.PERCENTILE_BUDGET = budget
    errors = [
        abs(row[c] - exact[key][c]) / abs(exact[key][c])
        for key, row in sampled.items()
        for c in PERCENTILE_COLUMNS
        if exact[key][c]
    ]
    fewest = min(row["percentile_calls"] for row in sampled.values())
    return (
        f"percentile error vs exact: median {100 * statistics.median(errors):.2f}%, "
        f"worst {100 * max(errors):.2f}% over {len(errors)} values; smallest sample {fewest:,} calls"
    )


def by_group(result: object) -> dict[tuple[object, ...], dict[str, Any]]:
    assert isinstance(result, QueryResult)
    keys = result.columns[: result.columns.index("calls")]
    return {tuple(row[k] for k in keys): row for row in result.dicts()}


def time_query(store: Store, fn: Query, runs: int) -> list[float]:
    fn(store)
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn(store)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--db", type=Path, help="reuse this DuckDB file instead of loading a new one")
    args = parser.parse_args()
    print(__doc__.split("Usage:")[0])
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.duckdb"
        if not args.db:
            seconds = load(db, args.calls)
            size = os.path.getsize(db) / 2**20
            print(f"loaded {args.calls:,} calls in {seconds:.1f} s ({size:,.0f} MB file)\n")
        print(f"{'query':<42} {'p50 ms':>8} {'p95 ms':>8}  target p50 < 300 ms")
        worst = 0.0
        with DuckDBStore(db) as store:
            for name, fn in queries().items():
                times = time_query(store, fn, args.runs)
                p50, p95 = statistics.median(times), sorted(times)[int(0.95 * (len(times) - 1))]
                worst = max(worst, p50)
                print(f"{name:<42} {p50:8.0f} {p95:8.0f}  {'ok' if p50 < 300 else 'OVER'}", flush=True)
            print()
            for name in SAMPLED:
                print(f"{name:<42} {accuracy(store, queries()[name])}", flush=True)
        print(f"\nslowest p50: {worst:.0f} ms on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
