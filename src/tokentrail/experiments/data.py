"""Reading experiments from the store: which exist, and the per-call rows of one.

Column names come only from the fixed tables below; the experiment name, time range and picks are bound
parameters. The SQL is in the DuckDB dialect (the ClickHouse store transpiles it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tokentrail.analytics.fields import dimension, where
from tokentrail.analytics.ranges import TimeRange
from tokentrail.exceptions import BadRequest, NotFoundError
from tokentrail.model import LABELS
from tokentrail.store import Store

# Units of randomisation: the call, or a label whose value names a cluster of calls.
UNITS = ("call", *(label for label in LABELS if label not in ("experiment", "variant")))
# Columns fetched per call: name -> SQL expression.
FIELDS: dict[str, str] = {
    "variant": "variant",
    "start_time": "start_time",
    "latency_ms": "duration_ms",
    "ttft_ms": "ttft_ms",
    "output_tokens_per_s": "output_tokens_per_s",
    "cost_usd": "cost_usd",
    "input_tokens": "CAST(input_tokens AS DOUBLE)",
    "output_tokens": "CAST(output_tokens AS DOUBLE)",
    "ok": "CASE WHEN status = 'error' THEN 0.0 ELSE 1.0 END",
    "error_class": "error_class",
    "degraded": "CASE WHEN degraded IS NULL THEN 0.0 ELSE 1.0 END",
}
TEXT_FIELDS = ("variant", "error_class", "unit")
# The calls of experiments: each call under its own labels, and each member (experiment_members: a call
# counted in another experiment's variant, such as a replay's baseline) under the member's. Only the
# experiments views read this; every other view reads calls, so a member is never counted twice in spend.
_COLUMNS: tuple[str, ...] = ("trace_id", "span_id", "start_time", "duration_ms", "ttft_ms", "cost_usd")
_COLUMNS += ("output_tokens_per_s", "input_tokens", "output_tokens", "status", "error_class", "degraded")
_COLUMNS += UNITS[1:]
SOURCE = (
    f"(SELECT experiment, variant, {', '.join(_COLUMNS)} FROM calls UNION ALL "
    f"SELECT m.experiment, m.variant, {', '.join(f'c.{c}' for c in _COLUMNS)} FROM experiment_members AS m "
    "JOIN calls AS c ON c.trace_id = m.trace_id AND c.span_id = m.span_id) AS experiment_calls"
)
MEMBER_BATCH = 500


class NotFound(NotFoundError):
    """No calls carry this experiment label (in the range asked)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Calls:
    """One experiment's calls as columns: FIELDS plus `unit` (the unit label's value, or the call's index)."""

    experiment: str
    columns: dict[str, NDArray[Any]]

    def __len__(self) -> int:
        return len(self.columns["variant"])

    def variants(self) -> list[str]:
        return sorted({str(v) for v in self.columns["variant"]})


def _clause(experiment: str | None, time_range: TimeRange | None) -> tuple[str, list[Any]]:
    clauses = ["experiment IS NOT NULL", "variant IS NOT NULL"]
    params: list[Any] = []
    if experiment is not None:
        clauses.append("experiment = ?")
        params.append(experiment)
    if time_range is not None:
        clauses += ["start_time >= ?", "start_time < ?"]
        params += [time_range.start, time_range.end]
    return " AND ".join(clauses), params


def list_experiments(store: Store, time_range: TimeRange | None = None) -> list[dict[str, Any]]:
    """Every experiment with its variants, calls per variant, first and last call."""
    clause, params = _clause(None, time_range)
    sql = (
        "SELECT experiment, variant, count(*) AS calls, min(start_time) AS first, max(start_time) AS last "
        f"FROM {SOURCE} WHERE {clause} GROUP BY 1, 2 ORDER BY 1, 2"
    )
    found: dict[str, dict[str, Any]] = {}
    for row in store.query(sql, params).dicts():
        item = found.setdefault(
            row["experiment"], {"experiment": row["experiment"], "calls": 0, "first": None, "last": None}
        )
        item.setdefault("variants", []).append({"variant": row["variant"], "calls": int(row["calls"])})
        item["calls"] += int(row["calls"])
        item["first"] = min(x for x in (item["first"], row["first"]) if x is not None)
        item["last"] = max(x for x in (item["last"], row["last"]) if x is not None)
    return list(found.values())


def check_unit(unit: str) -> str:
    if unit not in UNITS:
        raise BadRequest(f"unit must be one of: {', '.join(UNITS)}; not {unit!r}")
    return unit


def fetch_calls(store: Store, experiment: str, unit: str, time_range: TimeRange | None = None) -> Calls:
    """The experiment's calls, one row each; NotFound when it has none."""
    clause, params = _clause(experiment, time_range)
    unit_sql = "NULL" if check_unit(unit) == "call" else unit
    select = ", ".join(f"{sql} AS {name}" for name, sql in {**FIELDS, "unit": unit_sql}.items())
    result = store.query(f"SELECT {select} FROM {SOURCE} WHERE {clause}", params)
    if not result.rows:
        raise NotFound(f"no calls carry experiment {experiment!r}" + (" in this range" if time_range else ""))
    transposed = zip(*result.rows, strict=True)
    columns = {name: _column(name, values) for name, values in zip(result.columns, transposed, strict=True)}
    if unit == "call":
        columns["unit"] = np.arange(len(result.rows)).astype(str)
    else:  # a call without the label is a unit of its own
        columns["unit"] = np.array(
            [f"={v}" if v is not None else f"#{i}" for i, v in enumerate(columns["unit"])]
        )
    return Calls(experiment, columns)


def _column(name: str, values: Sequence[Any]) -> NDArray[Any]:
    if name in TEXT_FIELDS:
        return np.array(values, dtype=object)
    if name == "start_time":
        return np.array([_naive(v) for v in values], dtype="datetime64[us]")
    return np.array(values, dtype=np.float64)


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def experiments_among(
    store: Store, time_range: TimeRange, filters: Mapping[str, str], by: str, picks: Sequence[str]
) -> list[str]:
    """The experiments the calls of a comparison (the picked values of `by`) belong to."""
    clause, params = where(time_range, filters)
    expr = dimension(by)
    marks = ", ".join("?" for _ in picks)
    sql = (
        f"SELECT DISTINCT experiment FROM calls WHERE {clause} AND {expr} IN ({marks}) "
        "AND experiment IS NOT NULL AND variant IS NOT NULL ORDER BY 1 LIMIT 5"
    )
    return [str(row[0]) for row in store.query(sql, [*params, *picks]).rows] if picks else []


def add_members(store: Store, experiment: str, variant: str, ids: Sequence[tuple[str, str]]) -> int:
    """Count the stored calls `ids` in `experiment`'s `variant` (not copied: referenced). Ids that are not
    stored calls, or are members already, are left out; the number added."""
    added = 0
    for at in range(0, len(ids), MEMBER_BATCH):
        batch = set(ids[at : at + MEMBER_BATCH])
        marks = ", ".join("?" for _ in batch)
        spans = [span for _, span in batch]
        found = store.query(f"SELECT trace_id, span_id, tenant FROM calls WHERE span_id IN ({marks})", spans)
        known = store.query(
            f"SELECT trace_id, span_id FROM experiment_members WHERE experiment = ? AND span_id IN ({marks})",
            [experiment, *spans],
        )
        have = {tuple(r) for r in known.rows}
        new = [r for r in found.rows if (r[0], r[1]) in batch and (r[0], r[1]) not in have]
        if new:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            values = ", ".join("(?, ?, ?, ?, ?, ?)" for _ in new)
            flat = [v for t, s, tenant in new for v in (experiment, variant, t, s, tenant, now)]
            columns = "experiment, variant, trace_id, span_id, tenant, added_at"
            store.execute(f"INSERT INTO experiment_members ({columns}) VALUES {values}", flat)
        added += len(new)
    return added
