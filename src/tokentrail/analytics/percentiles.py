"""Percentiles per group: exact within a budget of calls, sampled uniformly per group past it (DuckDB).

Percentiles of one column come from one sort: quantile_cont(col, [q, ...]) in DuckDB, exact and interpolated
(ClickHouse: quantiles(q, ...)(col), which interpolates over a reservoir of 8192 values per group).
DuckDB's reservoir_quantile was 2-3x faster over millions of rows but returns a sampled value without
interpolation, so small groups disagree with the exact answer; exactness won.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokentrail.analytics.metrics import positions
from tokentrail.analytics.scan import Scan

# name -> (column, ((alias, fraction), ...))
PERCENTILES: dict[str, tuple[str, tuple[tuple[str, float], ...]]] = {
    "latency": ("duration_ms", (("latency_p50_ms", 0.5), ("latency_p95_ms", 0.95), ("latency_p99_ms", 0.99))),
    "ttft": ("ttft_ms", (("ttft_p50_ms", 0.5), ("ttft_p95_ms", 0.95))),
    "throughput": ("output_tokens_per_s", (("output_tokens_per_s", 0.5),)),
    "itl": ("itl_p95_ms", (("itl_p95_ms", 0.5),)),  # the median call's own p95 gap
}
SUMMARY_PERCENTILES = ("ttft", "latency", "itl", "throughput")
# Above this many calls in a range, DuckDB summaries compute percentiles over a per-group sample whose total
# stays near this budget, each group keeping at least PERCENTILE_FLOOR calls (see `add_percentiles`).
PERCENTILE_BUDGET = 1_000_000
PERCENTILE_FLOOR = 2048
CLICKHOUSE_RESERVOIR = 8192  # ClickHouse's quantiles() samples this many values per group
SAMPLE_RANGE = 1 << 20  # a call is sampled when hash(start_time) % SAMPLE_RANGE falls under its group's share
_KEEP = f"hash(start_time) % {SAMPLE_RANGE}"


def percentile_columns(names: Sequence[str]) -> tuple[str, ...]:
    """The result columns of the named percentiles, in order."""
    return tuple(alias for name in names for alias, _ in PERCENTILES[name][1])


def sample_cap(sizes: Sequence[int], budget: int, floor: int) -> int:
    """The largest per-group cap S with sum(min(n, S)) <= budget (water-filling), but at least `floor`."""
    left, ordered = budget, sorted(sizes)
    for i, n in enumerate(ordered):
        share = left // (len(ordered) - i)
        if n > share:
            return max(share, floor)
        left -= n
    return max(ordered[-1] if ordered else floor, floor)


def add_percentiles(
    scan: Scan, rows: list[dict[str, Any]], names: Sequence[str] = SUMMARY_PERCENTILES
) -> None:
    """Percentiles per group: exact up to PERCENTILE_BUDGET calls in the range, then sampled (DuckDB).

    Exact percentiles cost DuckDB about 40 ms per million values and column on 2 cores, so over long ranges
    they would dwarf every other aggregate. Past the budget, every group keeps all its calls up to a common
    cap S, and a group above S keeps the calls whose start-time hash falls in the first S/n of the hash range
    (uniform, and the same calls on every run). S is the largest cap that keeps the total within the budget,
    but never below PERCENTILE_FLOOR. ClickHouse's `quantiles` samples on its own (a reservoir of 8,192 values
    per group), so it gets no cap.

    Each row says how its percentiles were computed, as `percentiles_from`: "exact", or "sample" when the
    group had more calls than the cap (DuckDB) or the reservoir (ClickHouse).
    """
    by = scan.by
    duck = scan.store.dialect == "duckdb"
    sizes = [int(r["calls"]) for r in rows]
    cap = sample_cap(sizes, PERCENTILE_BUDGET, PERCENTILE_FLOOR) if duck else sum(sizes)
    select = [*scan.select(), f"{_values_counted(names)} AS percentile_calls", _quantiles(names)]
    sql, args = _sampled(scan, rows, cap, f"SELECT {', '.join(select)} FROM calls")
    if by:
        sql += f" GROUP BY {positions(len(by))}"
    found = {tuple(r[n] for n in by): r for r in _unpack(scan.query(sql, args))}
    reservoir = cap if duck else CLICKHOUSE_RESERVOIR
    for row in rows:
        row.update({k: v for k, v in found.get(tuple(row[n] for n in by), {}).items() if k not in by})
        row["percentiles_from"] = "sample" if row["calls"] > reservoir else "exact"


def _values_counted(names: Sequence[str]) -> str:
    """How many values the named percentiles come from: the most of any of their columns (a call with no
    latency recorded describes none), as a sketch counts what it holds (`long_ranges.sketched`)."""
    counts = [f"count({column})" for column in sorted({PERCENTILES[name][0] for name in names})]
    return counts[0] if len(counts) == 1 else f"greatest({', '.join(counts)})"


def _quantiles(names: Sequence[str]) -> str:
    """One list of quantiles per named percentile, as `pct_<name>`."""
    parts = []
    for name in names:
        column, points = PERCENTILES[name]
        parts.append(f"quantile_cont({column}, [{', '.join(str(q) for _, q in points)}]) AS pct_{name}")
    return ", ".join(parts)


def _sampled(scan: Scan, rows: list[dict[str, Any]], cap: int, sql: str) -> tuple[str, list[Any]]:
    """`sql` reading the scan's calls, each group past the common cap sampled down to it."""
    large = [r for r in rows if r["calls"] > cap]
    args: list[Any] = [*scan.group_params, *scan.params]
    if not large:
        return f"{sql} WHERE {scan.clause}", args
    if not scan.by:
        return f"{sql} WHERE {scan.clause} AND {_KEEP} < ?", [
            *args,
            SAMPLE_RANGE * cap // int(rows[0]["calls"]),
        ]
    return _sampled_groups(scan, large, cap, sql)


def _sampled_groups(scan: Scan, large: list[dict[str, Any]], cap: int, sql: str) -> tuple[str, list[Any]]:
    """`sql` joined to each large group's keep threshold (bound values), so it keeps about `cap` calls."""
    by = scan.by
    values = ", ".join([f"({', '.join(['?'] * (len(by) + 1))})"] * len(large))
    on = " AND ".join(f"{e} IS NOT DISTINCT FROM rates.g{i}" for i, (_, e) in enumerate(scan.groups))
    sql = (
        f"WITH rates({', '.join([*(f'g{i}' for i in range(len(by))), 'keep'])}) AS (VALUES {values}) "
        f"{sql} LEFT JOIN rates ON {on} "
        f"WHERE {scan.clause} AND (rates.keep IS NULL OR {_KEEP} < rates.keep)"
    )
    rates = [v for r in large for v in (*(r[n] for n in by), SAMPLE_RANGE * cap // r["calls"])]
    return sql, [*rates, *scan.group_params, *scan.group_params, *scan.params]


def _unpack(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spread each percentile list into its named keys (null where there was nothing to rank)."""
    for row in rows:
        for name, (_, points) in PERCENTILES.items():
            if f"pct_{name}" not in row:
                continue
            values = row.pop(f"pct_{name}") or []
            for i, (alias, _) in enumerate(points):
                value = values[i] if i < len(values) else None
                row[alias] = None if value is None or value != value else float(value)
    return rows
