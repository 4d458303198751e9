"""JSON endpoints of the dashboard's charts and pages. Bad input gets a 400 with a JSON body.

All take the view parameters of `dashboard_params` (since/start/end and <field>=<value> filters):

    GET /api/timeseries                   per-bucket cost, tokens, requests, latency, errors by class
    GET /api/breakdowns?dims=app,feature  top values of each dimension by cost (limit=10)
    GET /api/spenders?by=feature          cost per group against the previous period of equal length
    GET /api/why?feature=search           what drove a cost: by model, tenant, prompt version; the calls
    GET /api/compare?by=model&pick=a&pick=b   latency, TTFT, cost per call, errors, tokens/s side by side
    GET /api/calls/{trace_id}/{span_id}   one call with its streaming timeline and stall flag
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from tokentrail.analytics.calls import get_span
from tokentrail.exceptions import BadRequest
from tokentrail.server import dashboard_views as views
from tokentrail.server.api import api_error, jsonable
from tokentrail.server.auth import requires
from tokentrail.server.dashboard_format import Change
from tokentrail.server.dashboard_params import View, parse_view
from tokentrail.server.state import StateDep, get_state
from tokentrail.store import Store

router = APIRouter(prefix="/api", dependencies=[Depends(requires("read"))])


def read_view(request: Request) -> View:
    return parse_view(list(request.query_params.multi_items()))


def encode(value: Any) -> Any:
    """Make a view's data JSON-ready: times as ISO-8601 UTC, changes as objects, NaN as null."""
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, Change):
        return {**dataclasses.asdict(value), "text": value.text}
    if isinstance(value, dt.datetime | float):
        return jsonable(value)
    return value


def dims_param(view: View, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = view.option("dims")
    if raw is None:
        return default
    return tuple(d.strip() for d in raw.split(",") if d.strip())


def check_ids(trace_id: str, span_id: str) -> tuple[str, str]:
    trace_id, span_id = trace_id.lower(), span_id.lower()
    hexdigits = set("0123456789abcdef")
    if len(trace_id) != 32 or len(span_id) != 16 or not set(trace_id + span_id) <= hexdigits:
        raise BadRequest("a trace id is 32 hex characters and a span id 16")
    return trace_id, span_id


async def answer(request: Request, build: Callable[[Store, View], Any]) -> Any:
    """Run a blocking store read in the thread pool (so a page's charts load in parallel) and encode it."""
    view = read_view(request)
    return encode(await run_in_threadpool(build, get_state(request).store, view))


@router.get("/timeseries")
async def get_timeseries(request: Request, state: StateDep) -> Any:
    timeout = state.settings.query_timeout_s
    return await answer(request, lambda store, view: views.timeseries(store, view, timeout))


@router.get("/breakdowns")
async def get_breakdowns(request: Request) -> Any:
    def build(store: Store, view: View) -> Any:
        dims = dims_param(view, views.OVERVIEW_DIMS)
        return views.breakdowns(store, view, dims, view.int_option("limit", 10))

    return await answer(request, build)


@router.get("/spenders")
async def get_spenders(request: Request) -> Any:
    def build(store: Store, view: View) -> Any:
        by = view.option("by", "feature") or "feature"
        limit = view.int_option("limit", 50)
        if not 1 <= limit <= 1000:
            raise BadRequest("limit must be 1..1000")
        return {"by": by, "rows": views.spenders(store, view, by, limit)}

    return await answer(request, build)


@router.get("/why")
async def get_why(request: Request) -> Any:
    return await answer(request, lambda store, view: {"filters": view.filters, **views.why(store, view)})


@router.get("/compare")
async def get_compare(request: Request) -> Any:
    def build(store: Store, view: View) -> Any:
        by = view.option("by", "model") or "model"
        picks = view.option_list("pick") or views.default_picks(store, view, by)
        if not picks:
            return {"by": by, "picks": [], "rows": []}
        return {"by": by, "picks": picks, "rows": views.compare(store, view, by, picks)}

    return await answer(request, build)


@router.get("/calls/{trace_id}/{span_id}")
async def get_call(request: Request, state: StateDep) -> Any:
    trace_id, span_id = check_ids(request.path_params["trace_id"], request.path_params["span_id"])
    store = state.store
    span = await run_in_threadpool(get_span, store, trace_id, span_id)
    if span is None:
        return api_error(404, f"no span {span_id} in trace {trace_id}")
    line = await run_in_threadpool(views.call_timeline, store, span)
    for key in ("attributes", "metadata", "source_record"):
        if isinstance(span.get(key), str):
            span[key] = json.loads(span[key])
    detail = {"call": span, "stalled": views.stalled(span), "timeline": line}
    return encode(detail)
