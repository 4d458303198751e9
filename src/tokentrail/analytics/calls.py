"""Reads of single records: call lists and counts, spans, stream timelines, whole calls, and models seen."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tokentrail.analytics.fields import MODEL_SQL, sort_column, where
from tokentrail.analytics.ranges import TimeRange
from tokentrail.exceptions import BadRequest
from tokentrail.model import Call, StreamTimeline
from tokentrail.store import QueryResult, Store


def list_calls(
    store: Store,
    time_range: TimeRange,
    filters: Mapping[str, str] | None = None,
    sort: str = "start_time",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> QueryResult:
    """One page of the calls in the range matching the filters, sorted by a column."""
    column = sort_column(sort)
    if not 1 <= limit <= 1000 or offset < 0:
        raise BadRequest("limit must be 1..1000 and offset >= 0")
    clause, params = where(time_range, filters)
    order = "DESC" if descending else "ASC"
    sql = f"SELECT * FROM calls WHERE {clause} ORDER BY {column} {order} NULLS LAST, span_id LIMIT ? OFFSET ?"
    return store.query(sql, [*params, limit, offset])


def count_calls(store: Store, time_range: TimeRange, filters: Mapping[str, str] | None = None) -> int:
    clause, params = where(time_range, filters)
    return int(store.query(f"SELECT count(*) FROM calls WHERE {clause}", params).rows[0][0])


def trace_spans(store: Store, trace_id: str) -> QueryResult:
    return store.query("SELECT * FROM spans WHERE trace_id = ? ORDER BY start_time, span_id", [trace_id])


def get_span(store: Store, trace_id: str, span_id: str) -> dict[str, Any] | None:
    """One stored span by its ids, or None."""
    sql = "SELECT * FROM spans WHERE trace_id = ? AND span_id = ? LIMIT 1"
    rows = store.query(sql, [trace_id, span_id]).dicts()
    return rows[0] if rows else None


def stream_timelines(store: Store, trace_id: str, span_id: str | None = None) -> dict[str, StreamTimeline]:
    """The arrival timelines of a trace's streamed calls (or of one call), by span id."""
    sql = "SELECT span_id, chunks, offsets_ms FROM stream_timelines WHERE trace_id = ?"
    params = [trace_id]
    if span_id is not None:
        sql += " AND span_id = ?"
        params.append(span_id)
    return {s: StreamTimeline(list(c), list(o)) for s, c, o in store.query(sql, params).rows}


def fetch_calls(store: Store, time_range: TimeRange) -> list[Call]:
    """Whole Call records in a time range (JSON columns decoded)."""
    clause, params = where(time_range, None)
    rows = store.query(f"SELECT * FROM calls WHERE {clause} ORDER BY start_time", params).dicts()
    for row in rows:
        for key in ("metadata", "attributes"):
            if isinstance(row.get(key), str):
                row[key] = json.loads(row[key])
        row["tool_names"] = list(row.get("tool_names") or [])
    return [Call.from_mapping(row) for row in rows]


def models_seen(store: Store, time_range: TimeRange) -> list[tuple[str | None, str, int]]:
    """(provider, model, calls) for every model in the range."""
    clause, params = where(time_range, None)
    sql = (
        f"SELECT provider, {MODEL_SQL} AS model, count(*) FROM calls WHERE {clause} "
        "GROUP BY 1, 2 ORDER BY 3 DESC"
    )
    return [(p, str(m), int(n)) for p, m, n in store.query(sql, params).rows if m is not None]


def unpriced_models(store: Store, time_range: TimeRange) -> list[tuple[str, int]]:
    """(model, calls) for the ok calls in the range that have no price, most calls first."""
    clause, params = where(time_range, None)
    sql = (
        f"SELECT {MODEL_SQL} AS model, count(*) FROM calls WHERE {clause} AND cost_usd IS NULL "
        "AND status = 'ok' GROUP BY 1 ORDER BY 2 DESC"
    )
    return [(str(m), int(n)) for m, n in store.query(sql, params).rows]
