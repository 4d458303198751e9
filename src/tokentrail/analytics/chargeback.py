"""Chargeback by label over a period, and the daily rollup that outlives the calls retention deletes.

Costs are summed as integer nano-dollars, so group rows add up exactly to the total. Retention inserts the
daily rollup of a day's calls (`rollup_insert_sql`) just before it deletes them; chargeback reads the kept
calls and the rollups as one ledger whenever the period holds rollups.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from tokentrail.analytics.fields import DIMENSIONS, dimension, groups, where
from tokentrail.analytics.long_ranges import most_expensive, serves
from tokentrail.analytics.metrics import SUMMARY_EXPR, aliased, positions
from tokentrail.analytics.ranges import TimeRange
from tokentrail.exceptions import BadRequest
from tokentrail.model import DAILY_COST_COLUMNS, DAILY_COST_DIMENSIONS, DAILY_COST_MEASURES
from tokentrail.store import Store, rollup_reads

CHARGEBACK_BY = (
    "tenant",
    "cost_center",
    "team",
    "app",
    "feature",
    "user_id",
    "environment",
    "provider",
    "model",
)
NANO = 1_000_000_000


def _nano(column: str) -> str:
    """Cost summed as integer nano-dollars, so group totals add up exactly to the grand total."""
    return f"sum(CAST(round({column} * {NANO}) AS BIGINT))"


CHARGEBACK_SELECT = [
    ("calls", "count(*)"),
    ("input_tokens", "sum(input_tokens)"),
    ("output_tokens", "sum(output_tokens)"),
    ("cache_read_tokens", "sum(cache_read_tokens)"),
    ("cache_write_tokens", "sum(cache_write_tokens)"),
    ("reasoning_tokens", "sum(reasoning_tokens)"),
    ("input_cost_nusd", _nano("input_cost_usd")),
    ("cache_cost_nusd", _nano("cache_cost_usd")),
    ("output_cost_nusd", _nano("output_cost_usd")),
    ("cost_nusd", _nano("cost_usd")),
    ("priced_calls", "count(cost_usd)"),
    ("unpriced_calls", "sum(CASE WHEN cost_usd IS NULL AND status = 'ok' THEN 1 ELSE 0 END)"),
]
ROLLUP_MEASURES = {**dict(CHARGEBACK_SELECT), "errors": SUMMARY_EXPR["errors"]}
ROLLUP_COLUMNS = ", ".join(name for name, _, _ in DAILY_COST_COLUMNS)


@dataclasses.dataclass(slots=True)
class Chargeback:
    by: str
    period: TimeRange
    rows: list[dict[str, Any]]
    total: dict[str, Any]


def chargeback(
    store: Store, period: TimeRange, by: str, filters: Mapping[str, str] | None = None
) -> Chargeback:
    """Chargeback over the kept calls, plus the daily rollups of calls that retention has deleted; over more
    than 24 h by a rollup dimension, from the hourly rollups (`_rolled`), which outlive the calls too."""
    if by not in CHARGEBACK_BY:
        raise BadRequest(f"cannot charge back by {by!r}; choose one of: {', '.join(CHARGEBACK_BY)}")
    if serves(store, period, [by], filters):
        return _rolled(store, period, by, filters)
    if _has_rollups(store, period):
        source, params = _ledger(period, by, filters)
        aggregates, key = [(alias, f"sum({alias})") for alias, _ in CHARGEBACK_SELECT], by
    else:
        clause, params = where(period, filters)
        source, aggregates, key = f"calls WHERE {clause}", CHARGEBACK_SELECT, dimension(by)
    select = ", ".join(aliased(aggregates))
    cost_position = 2 + [alias for alias, _ in aggregates].index("cost_nusd")
    grouped = store.query(
        f"SELECT {key} AS {by}, {select} FROM {source} GROUP BY 1 ORDER BY {cost_position} DESC, 1", params
    ).dicts()
    total = store.query(f"SELECT {select} FROM {source}", params).dicts()[0]
    total_nusd = int(total["cost_nusd"] or 0)
    return Chargeback(
        by, period, [_money_fields(r, total_nusd) for r in grouped], _money_fields(total, total_nusd)
    )


def _rolled(store: Store, period: TimeRange, by: str, filters: Mapping[str, str] | None) -> Chargeback:
    """Chargeback from the hourly rollups; the total is one more read."""
    found = rollup_reads.sums(store, period.start, period.end, [by], filters)
    total = rollup_reads.sums(store, period.start, period.end, [], filters)[0]
    grouped = sorted(
        (_charged(f, [by]) for f in found), key=lambda r: (*most_expensive(r), r[by] is None, r[by] or "")
    )
    total_nusd = int(total["cost_nusd"] or 0)
    return Chargeback(
        by,
        period,
        [_money_fields(r, total_nusd) for r in grouped],
        _money_fields(_charged(total, []), total_nusd),
    )


def _charged(sums: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """A chargeback row (its `keys`, then `CHARGEBACK_SELECT`'s figures) from rollup sums."""
    return {
        **{key: sums[key] for key in keys},
        **{alias: sums.get(alias) for alias, _ in CHARGEBACK_SELECT},
        "calls": int(sums["calls"] or 0),
        "priced_calls": int(sums["cost_nusd_n"] or 0),
    }


def _money_fields(row: dict[str, Any], total_nusd: int) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if not k.endswith("_nusd")}
    for key in ("input_cost", "cache_cost", "output_cost", "cost"):
        nano = int(row[f"{key}_nusd"] or 0)
        out[f"{key}_usd"] = nano / NANO
    cost = int(row["cost_nusd"] or 0)
    out["cost_per_query_usd"] = cost / NANO / row["priced_calls"] if row["priced_calls"] else None
    out["share"] = cost / total_nusd if total_nusd else None
    out["cost_nusd"] = cost
    return out


def _rollup_select(clause: str) -> str:
    """Per day and chargeback label set, the sums chargeback needs, over the calls matching `clause`."""
    dims = ", ".join(aliased(groups(DAILY_COST_DIMENSIONS)))
    measures = ", ".join(f"CAST({ROLLUP_MEASURES[m]} AS BIGINT) AS {m}" for m in DAILY_COST_MEASURES)
    keys = positions(len(DAILY_COST_DIMENSIONS) + 1)
    return f"SELECT {DIMENSIONS['day']} AS day, {dims}, {measures} FROM calls WHERE {clause} GROUP BY {keys}"


def rollup_insert_sql() -> str:
    """INSERT the daily rollup of the calls in [?, ?) (run by retention just before it deletes them)."""
    return (
        f"INSERT INTO daily_costs ({ROLLUP_COLUMNS}) {_rollup_select('start_time >= ? AND start_time < ?')}"
    )


def _has_rollups(store: Store, period: TimeRange) -> bool:
    sql = "SELECT count(*) FROM daily_costs WHERE day >= ? AND day < ?"
    return bool(store.query(sql, [period.start, period.end]).rows[0][0])


def _ledger(period: TimeRange, by: str, filters: Mapping[str, str] | None) -> tuple[str, list[Any]]:
    """The kept calls rolled up by day, and the stored rollups of deleted ones, as one subquery."""
    clause, params = where(period, filters)
    kept_clause = ["day >= ?", "day < ?"]
    kept_params: list[Any] = [period.start, period.end]
    for key in (by, *(filters or {})):
        if key not in DAILY_COST_DIMENSIONS:
            raise BadRequest(
                f"cannot group or filter by {key!r} over days whose calls retention has deleted; "
                f"their daily rollup keeps: {', '.join(DAILY_COST_DIMENSIONS)}"
            )
    for key, value in (filters or {}).items():
        kept_clause.append(f"{key} = ?")
        kept_params.append(value)
    rolled = f"SELECT {ROLLUP_COLUMNS} FROM daily_costs WHERE {' AND '.join(kept_clause)}"
    return f"({_rollup_select(clause)} UNION ALL {rolled}) AS ledger", [*params, *kept_params]
