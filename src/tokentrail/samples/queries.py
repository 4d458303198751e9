"""Reading samples back: a page of them, one call's, and the largest of a feature's (for "why")."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from tokentrail.analytics.ranges import TimeRange
from tokentrail.exceptions import BadRequest
from tokentrail.model import SAMPLE_COLUMNS
from tokentrail.store import Store

FILTERS = ("app", "feature", "tenant", "provider", "request_model", "reason")
COLUMNS = ", ".join(name for name, _, _ in SAMPLE_COLUMNS)
SampleRow = dict[str, Any]


def _rows(store: Store, sql: str, params: list[Any]) -> list[SampleRow]:
    result = store.query(sql, params)
    out = []
    for row in result.rows:
        item = dict(zip(result.columns, row, strict=True))
        item["document"] = json.loads(item["document"])
        item["redaction"] = json.loads(item["redaction"])
        out.append(item)
    return out


def _where(time_range: TimeRange, filters: Mapping[str, str]) -> tuple[str, list[Any]]:
    clauses = ["start_time >= ?", "start_time < ?"]
    params: list[Any] = [time_range.start, time_range.end]
    for key, value in filters.items():
        if key not in FILTERS:
            raise BadRequest(f"cannot filter samples on {key!r}; filterable fields: {', '.join(FILTERS)}")
        clauses.append(f"{key} = ?")
        params.append(value)
    return " AND ".join(clauses), params


def list_samples(
    store: Store, time_range: TimeRange, filters: Mapping[str, str], limit: int = 50, offset: int = 0
) -> tuple[int, list[SampleRow]]:
    """(how many samples match, the page of them, newest first)."""
    if not 1 <= limit <= 500 or offset < 0:
        raise BadRequest("limit must be 1..500 and offset >= 0")
    clause, params = _where(time_range, filters)
    total = int(store.query(f"SELECT count(*) FROM samples WHERE {clause}", params).rows[0][0])
    sql = f"SELECT {COLUMNS} FROM samples WHERE {clause} ORDER BY start_time DESC, span_id LIMIT ? OFFSET ?"
    return total, _rows(store, sql, [*params, limit, offset])


def get_sample(store: Store, trace_id: str, span_id: str) -> SampleRow | None:
    sql = f"SELECT {COLUMNS} FROM samples WHERE trace_id = ? AND span_id = ? LIMIT 1"
    found = _rows(store, sql, [trace_id, span_id])
    return found[0] if found else None


def largest(
    store: Store, start: dt.datetime, end: dt.datetime, feature: str | None, n: int = 5
) -> dict[str, Any]:
    """The feature's sampled calls with the largest inputs and with the longest outputs (ids and sizes)."""
    clause, params = _where(TimeRange(start, end), {"feature": feature} if feature is not None else {})
    if feature is None:
        clause += " AND feature IS NULL"
    picked = "trace_id, span_id, start_time, request_model, reason, input_chars, output_chars"
    answer: dict[str, Any] = {}
    for key, column in (("largest_inputs", "input_chars"), ("longest_outputs", "output_chars")):
        sql = f"SELECT {picked} FROM samples WHERE {clause} ORDER BY {column} DESC, span_id LIMIT ?"
        result = store.query(sql, [*params, n])
        answer[key] = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    return answer
