"""Views over more than 24 h, read from the rollups kept at ingest (`tokentrail.store.rollups`, read through
`tokentrail.store.rollup_reads`) rather than from every call.

A view reads them when its range is longer than `rollup_reads.MIN_RANGE` and it groups and filters on rollup
dimensions only (`serves`); otherwise it scans the calls as before. Sums equal the raw scan's (costs are
integer nano-dollars); percentiles come from the daily sketches when one dimension at most is involved, each
row then saying ``percentiles_from: "sketch"``, and from the calls otherwise. The summary's rows are built
here (`rolled`); the dashboard's series and breakdowns and chargeback build theirs from `figures`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tokentrail.analytics.fields import groups, where
from tokentrail.analytics.percentiles import PERCENTILES, add_percentiles
from tokentrail.analytics.ranges import TimeRange
from tokentrail.analytics.scan import Scan
from tokentrail.store import Store, rollup_reads, rollups

# Summary columns that are floats when read from the rollups.
FLOAT_FIGURES = (
    "error_rate",
    "cost_usd",
    "cost_per_call_usd",
    "avg_prompt_chars",
    *(a for _, points in PERCENTILES.values() for a, _ in points),
)
Sketches = Mapping[str, tuple[int, list[float | None]]]


def serves(
    store: Store, time_range: TimeRange, fields: Sequence[str], filters: Mapping[str, str] | None
) -> bool:
    """Whether a view over the range, grouping on `fields`, reads the rollups (`rollup_reads.usable`)."""
    names = {*fields, *(filters or {})}
    return rollup_reads.usable(store, time_range.start, time_range.end, names)


def figures(sums: Mapping[str, Any]) -> dict[str, Any]:
    """Summary figures from rollup sums (cost: the exact sum of nano-dollars, as in chargeback)."""
    row = {name: int(sums[name] or 0) for name in rollups.SUMS} | {n: sums[n] for n in rollups.NULLABLE_SUMS}
    calls, priced, nusd = row["calls"], row["cost_nusd_n"], row["cost_nusd"]
    cost = None if nusd is None else nusd / rollups.NANO
    return row | {
        "error_rate": row["errors"] / calls if calls else None,
        "retries": None if row["attempts"] is None else row["attempts"] - row["attempts_n"],
        "cost_usd": cost,
        "cost_per_call_usd": cost / priced if cost is not None and priced else None,
        "priced_calls": priced,
        "avg_prompt_chars": None
        if row["prompt_chars"] is None
        else row["prompt_chars"] / row["prompt_chars_n"],
    }


def sketched(row: dict[str, Any], found: Sketches, names: Sequence[str]) -> None:
    """Fill a row's percentiles from its merged sketches."""
    counts = [0]
    for name in names:
        n, values = found.get(name, (0, [None] * len(rollup_reads.QUANTILES)))
        counts.append(n)
        for alias, q in PERCENTILES[name][1]:
            row[alias] = values[rollup_reads.QUANTILES.index(q)]
    row["percentile_calls"], row["percentiles_from"] = max(counts), "sketch"


def most_expensive(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The sort key of rolled-up rows: most expensive first (unpriced last), then most calls."""
    return (row["cost_nusd"] is None, -(row["cost_nusd"] or 0), -row["calls"])


def rolled(
    store: Store,
    time_range: TimeRange,
    by: Sequence[str],
    filters: Mapping[str, str] | None,
    percentiles: Sequence[str],
    timeout_s: float | None = None,
) -> list[dict[str, Any]] | None:
    """Summary rows from the rollups, most expensive first, or None when the view cannot read them.
    Percentiles come from the sketches where one dimension at most is involved, else from the calls."""
    if not serves(store, time_range, by, filters):
        return None
    start, end = time_range.start, time_range.end
    found = rollup_reads.sums(store, start, end, by, filters, timeout_s)
    rows = sorted(({**figures(f), **{b: f[b] for b in by}} for f in found), key=most_expensive)
    sketches = rollup_reads.percentiles(store, start, end, by, filters, percentiles, timeout_s)
    if sketches is None:
        clause, params = where(time_range, filters)
        add_percentiles(Scan(store, groups(by), clause, params, timeout_s), rows, percentiles)
        return rows
    for row in rows:
        sketched(row, sketches.get(tuple(row[b] for b in by), {}), percentiles)
    return rows
