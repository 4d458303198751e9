"""The report's table (per-group calls, errors by class, tokens, cost and latency percentiles), which
`tokentrail report` and the demo both print."""

from __future__ import annotations

from typing import Any

from tokentrail.model import ErrorClass
from tokentrail.render.tables import Column, Grid
from tokentrail.store import QueryResult

ERROR_COLUMNS = [f"errors_{cls.value}" for cls in ErrorClass]  # the columns of analytics.summary.summary


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
    """One row per group of an `analytics/summary.py::summary` result grouped by `by`."""
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
