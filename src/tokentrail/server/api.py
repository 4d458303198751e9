"""The JSON API: calls, summaries, traces. Bad input gets a 400 with a JSON body (server/errors.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tokentrail.analytics.calls import count_calls, list_calls, stream_timelines, trace_spans
from tokentrail.analytics.chargeback import chargeback
from tokentrail.analytics.ranges import TimeRange, parse_period
from tokentrail.analytics.summary import summary
from tokentrail.exceptions import BadRequest
from tokentrail.query.run import run_query
from tokentrail.retention import describe
from tokentrail.server.auth import requires
from tokentrail.server.state import StateDep
from tokentrail.store import QueryResult

router = APIRouter(prefix="/api", dependencies=[Depends(requires("read"))])

RESERVED = frozenset({"since", "start", "end", "by", "sort", "order", "limit", "offset", "period"})


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def rows_json(result: QueryResult) -> list[dict[str, Any]]:
    out = []
    for row in result.rows:
        item = {col: jsonable(v) for col, v in zip(result.columns, row, strict=True)}
        for key in ("attributes", "metadata", "source_record"):
            if isinstance(item.get(key), str):
                item[key] = json.loads(item[key])
        out.append(item)
    return out


def result_json(result: QueryResult) -> dict[str, Any]:
    """A query result as JSON: each column's name and value type (`store.base.KINDS`) in output order, and the
    rows as lists in that order."""
    return {
        "columns": result.described_columns(),
        "rows": [[jsonable(v) for v in row] for row in result.rows],
    }


def time_range(request: Request) -> TimeRange:
    q = request.query_params
    return TimeRange.resolve(q.get("since"), q.get("start"), q.get("end"))


def filters(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k not in RESERVED and v != ""}


def int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {raw!r}") from None


async def json_body(request: Request, problem: str = "the body must be a JSON object") -> Any:
    """The request's body read as JSON; BadRequest(`problem`) when it is not JSON."""
    try:
        return await request.json()
    except ValueError:
        raise BadRequest(problem) from None


def api_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@router.get("/calls")
async def get_calls(request: Request, state: StateDep) -> Any:
    """Calls in a time range, filtered by any label (?feature=x), sorted and paged."""
    store, tr, flt = state.store, time_range(request), filters(request)
    limit, offset = int_param(request, "limit", 50), int_param(request, "offset", 0)
    sort = request.query_params.get("sort", "start_time")
    desc = request.query_params.get("order", "desc").lower() != "asc"
    result = list_calls(store, tr, flt, sort, desc, limit, offset)
    total = count_calls(store, tr, flt)
    return {"total": total, "limit": limit, "offset": offset, "calls": rows_json(result)}


@router.get("/summary")
async def get_summary(request: Request, state: StateDep) -> Any:
    """Aggregates over a time range, grouped by any labels (?by=feature,model)."""
    by_param = request.query_params.get("by", "")
    by = [b.strip() for b in by_param.split(",") if b.strip()]
    tr = time_range(request)
    result = summary(state.store, tr, by, filters(request))
    return {
        "start": jsonable(tr.start),
        "end": jsonable(tr.end),
        "by": by,
        "columns": result.columns,
        "rows": rows_json(result),
    }


@router.get("/chargeback")
async def get_chargeback(request: Request, state: StateDep) -> Any:
    """Calls, tokens by kind, cost by part, cost per query and share per group, for a month or a day."""
    period = request.query_params.get("period")
    if not period:
        raise BadRequest("period is required: YYYY-MM for a month or YYYY-MM-DD for a day")
    by = request.query_params.get("by", "tenant")
    flt = {k: v for k, v in filters(request).items() if k != "period"}
    result = chargeback(state.store, parse_period(period), by, flt)
    return {"period": period, "by": by, "rows": result.rows, "total": result.total}


@router.get("/retention")
async def get_retention(state: StateDep) -> Any:
    """The retention settings in force, the oldest time kept per table, and the store's size in bytes."""
    # operational metadata (oldest time kept, bytes), not rows: read as the server, not the caller's tenants
    found = await asyncio.to_thread(describe, state.raw_store, state.retention)
    found["oldest"] = {table: jsonable(when) for table, when in found["oldest"].items()}
    return found


@router.post("/query")
async def post_query(request: Request, state: StateDep) -> Any:
    """Run a Logs Insights query: {"query", "start", "end"} (or "since") → {"columns", "rows"}."""
    body = await json_body(request, 'the body must be JSON: {"query": "...", "start": ..., "end": ...}')
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
        raise BadRequest("the body needs a non-empty string field 'query'")
    tr = TimeRange.resolve(_opt_str(body, "since"), _opt_str(body, "start"), _opt_str(body, "end"))
    result = await state.query_pool.run(
        lambda: run_query(state.store, body["query"], tr, timeout_s=state.settings.query_timeout_s)
    )
    return result_json(result)


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    return None if value is None else str(value)


@router.get("/traces/{trace_id}")
async def get_trace(request: Request, state: StateDep) -> Any:
    """Every span of a trace, each streamed call with its arrival timeline (`stream_timeline`)."""
    trace_id = request.path_params["trace_id"].lower()
    if len(trace_id) != 32 or any(c not in "0123456789abcdef" for c in trace_id):
        raise BadRequest("trace id must be 32 hex characters")
    store = state.store
    result = trace_spans(store, trace_id)
    if not result.rows:
        return api_error(404, f"no spans for trace {trace_id}")
    spans = rows_json(result)
    timelines = stream_timelines(store, trace_id)
    for span in spans:  # a streamed call's arrivals: {"chunks": [...], "offsets_ms": [...]}, else null
        found = timelines.get(span["span_id"])
        span["stream_timeline"] = None if found is None else dataclasses.asdict(found)
    return {"trace_id": trace_id, "spans": spans}
