"""The web dashboard: server-rendered pages (Jinja2) with charts drawn by plotly.js from the dashboard API.

Pages (all take the view parameters of `dashboard_params`, so every view is a shareable URL):

    /                        overview: tiles, time series, breakdowns by app, feature, tenant, model, ...
    /spenders                features (or another dimension) ranked by cost, with the change vs the
                             previous period of equal length
    /why?feature=x           what drove that cost: models, tenants, prompt versions, and the calls behind it
    /calls                   calls, filtered, sorted and paged
    /call/{trace}/{span}     every field of one call and its streaming timeline
    /trace/{trace}           the spans of a trace as a waterfall, with the rounds of a tool loop
    /compare?by=model        latency, TTFT, cost per call, errors and tokens/s side by side, with a link
                             to the experiment the compared calls belong to
    /experiments[/{name}]    A/B experiments with intervals (dashboard_experiments.py)
    /query                   the query console (POSTs to /api/query)
    /prompts[/{name}]        the prompt registry (prompts_pages.py)
    /alerts                  rules, states, firings with deliveries, a rule's backtest (alerts_pages.py)

The overview shades the alert firings of its range on its time series.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from tokentrail.alerts import history
from tokentrail.analytics.calls import count_calls, get_span, list_calls, trace_spans
from tokentrail.analytics.compare import period_compare
from tokentrail.analytics.dashboard import top_values
from tokentrail.exceptions import BadRequest
from tokentrail.experiments.data import experiments_among
from tokentrail.retention import oldest_kept
from tokentrail.samples import queries as sample_queries
from tokentrail.server import dashboard_static
from tokentrail.server import dashboard_views as views
from tokentrail.server.api import jsonable
from tokentrail.server.auth import SESSION_COOKIE, keyring, requires
from tokentrail.server.dashboard_api import check_ids
from tokentrail.server.dashboard_format import FILTERS
from tokentrail.server.dashboard_params import (
    FILTER_FIELDS,
    PRESETS,
    View,
    canonical,
    needs_redirect,
    parse_view,
)
from tokentrail.server.state import get_state
from tokentrail.store import QueryFailed, QueryTimeout, Store

router = APIRouter(include_in_schema=False, dependencies=[Depends(requires("read"))])

NAV = (
    ("/", "Overview"),
    ("/spenders", "Top spenders"),
    ("/calls", "Calls"),
    ("/compare", "Compare"),
    ("/experiments", "Experiments"),
    ("/query", "Query"),
    ("/prompts", "Prompts"),
    ("/alerts", "Alerts"),
)
# Columns of the call list: sort key, heading, numeric.
CALL_COLUMNS = (
    ("start_time", "Time (UTC)", False),
    ("feature", "Feature", False),
    ("tenant", "Tenant", False),
    ("request_model", "Model", False),
    ("status", "Status", False),
    ("input_tokens", "Input tok.", True),
    ("output_tokens", "Output tok.", True),
    ("cost_usd", "Cost", True),
    ("duration_ms", "Latency", True),
    ("ttft_ms", "TTFT", True),
    ("attempts", "Attempts", True),
)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

Handler = Callable[[Request, View], Response]


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tokentrail", "web/templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals.update(
        static=dashboard_static.static_url, plotly=dashboard_static.PLOTLY, nav=NAV, presets=PRESETS
    )
    env.globals.update(filter_fields=FILTER_FIELDS, urlencode=urlencode)
    return env


def csrf_of(request: Request) -> str:
    """The CSRF token of the request's dashboard session ('' without one); pages carry it for their POSTs."""
    cookie = request.cookies.get(SESSION_COOKIE)
    ring = keyring(request)
    return ring.csrf_token(cookie) if cookie and ring.session_principal(cookie) else ""


def render(request: Request, template: str, view: View | None, status: int = 200, **context: Any) -> Response:
    context.setdefault("charts", False)
    context.setdefault("csrf", csrf_of(request))
    html = environment().get_template(template).render(path=request.url.path, view=view, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def error_page(request: Request, status: int, message: str, view: View | None = None) -> Response:
    return render(request, "error.html", view, status, title="Error", message=message)


def page(path: str, on: APIRouter = router) -> Callable[[Handler], Handler]:
    """Register a GET page (on `on`): canonical URL redirect, view parsing, and errors shown as a page."""

    def register(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            pairs = list(request.query_params.multi_items())
            if needs_redirect(pairs):
                query = urlencode(canonical(pairs))
                return RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
            try:
                view = parse_view(pairs)
                return await run_in_threadpool(handler, request, view)
            except (BadRequest, QueryFailed) as exc:
                return error_page(request, 400, str(exc))
            except QueryTimeout as exc:
                return error_page(request, 504, f"The query took too long: {exc}")

        endpoint.__name__ = handler.__name__
        on.add_api_route(path, endpoint, methods=["GET"], response_class=HTMLResponse)
        return handler

    return register


def store_of(request: Request) -> Store:
    store: Store = get_state(request).store
    return store


@page("/")
def overview(request: Request, view: View) -> Response:
    timeout = get_state(request).settings.query_timeout_s
    tiles = views.overview_tiles(store_of(request), view, timeout)
    kept = {
        "since": oldest_kept(get_state(request).raw_store).get("spans"),
        "days": get_state(request).retention.calls,
    }
    tr = view.time_range
    firings = history.firings(get_state(request).raw_store, tr.start, tr.end)
    return render(
        request,
        "overview.html",
        view,
        title="Overview",
        tiles=tiles,
        dims=views.OVERVIEW_DIMS,
        charts=True,
        kept=kept,
        firings=firings,
        bands=json.dumps(history.bands(firings, tr.start, tr.end), default=jsonable),
    )


@page("/spenders")
def spenders(request: Request, view: View) -> Response:
    by = view.option("by", "feature") or "feature"
    rows = views.spenders(store_of(request), view, by)
    totals = views.with_change(period_compare(store_of(request), view.time_range, (), view.filters).dicts())
    return render(
        request,
        "spenders.html",
        view,
        title="Top spenders",
        by=by,
        rows=rows,
        totals=totals[0],
        dims=views.SPENDER_DIMS,
    )


@page("/why")
def why(request: Request, view: View) -> Response:
    data = views.why(store_of(request), view)
    return render(request, "why.html", view, title="Why", charts=True, **data)


@page("/calls")
def calls(request: Request, view: View) -> Response:
    sort, order = view.option("sort", "start_time") or "start_time", view.option("order", "desc")
    limit, offset = view.int_option("limit", 50), view.int_option("offset", 0)
    if not 1 <= limit <= 500:
        raise BadRequest("limit must be 1..500")
    store = store_of(request)
    rows = list_calls(store, view.time_range, view.filters, sort, order != "asc", limit, offset)
    total = count_calls(store, view.time_range, view.filters)
    return render(
        request,
        "calls.html",
        view,
        title="Calls",
        rows=rows.dicts(),
        total=total,
        sort=sort,
        order=order,
        limit=limit,
        offset=offset,
        columns=CALL_COLUMNS,
    )


@page("/call/{trace_id}/{span_id}")
def call(request: Request, view: View) -> Response:
    trace_id, span_id = check_ids(request.path_params["trace_id"], request.path_params["span_id"])
    store = store_of(request)
    span = get_span(store, trace_id, span_id)
    if span is None:
        return error_page(request, 404, f"No span {span_id} in trace {trace_id}.", view)
    sample = sample_queries.get_sample(store, trace_id, span_id)
    return render(
        request,
        "call.html",
        view,
        title=f"Call {span['name'] or span_id}",
        span=span,
        fields=views.call_fields(span),
        timeline=views.call_timeline(store, span),
        stalled=views.stalled(span),
        stall_factor=views.STALL_FACTOR,
        stall_min_ms=views.STALL_MIN_MS,
        sample=sample,
        messages=views.sample_messages(sample),
    )


@page("/trace/{trace_id}")
def trace(request: Request, view: View) -> Response:
    trace_id, _ = check_ids(request.path_params["trace_id"], "0" * 16)
    spans = trace_spans(store_of(request), trace_id).dicts()
    if not spans:
        return error_page(request, 404, f"No spans stored for trace {trace_id}.", view)
    rows = views.trace_rows(spans)
    llm = [s for s in spans if s["kind"] == "llm"]
    stats = {
        "spans": len(spans),
        "llm": len(llm),
        "tools": sum(s["kind"] == "tool" for s in spans),
        "rounds": max((r["round"] or 0 for r in rows), default=0),
        "cost_usd": sum(s["cost_usd"] or 0 for s in llm),
        "tokens": sum((s["input_tokens"] or 0) + (s["output_tokens"] or 0) for s in llm),
        "duration_ms": max(r["offset_ms"] + r["duration_ms"] for r in rows),
    }
    return render(
        request, "trace.html", view, title=f"Trace {trace_id}", trace_id=trace_id, rows=rows, stats=stats
    )


@page("/compare")
def compare(request: Request, view: View) -> Response:
    by = view.option("by", "model") or "model"
    store = store_of(request)
    picks = view.option_list("pick") or views.default_picks(store, view, by)
    rows = views.compare(store, view, by, picks) if picks else []
    choices = [v for v, _ in top_values(store, view.time_range, by, view.filters, 20)]
    choices += [p for p in picks if p not in choices]
    experiments = experiments_among(store, view.time_range, view.filters, by, picks) if rows else []
    return render(
        request,
        "compare.html",
        view,
        title="Compare",
        by=by,
        picks=picks,
        rows=rows,
        choices=choices,
        dims=views.COMPARE_DIMS,
        charts=bool(rows),
        experiments=experiments,
        experiment_path=lambda name: f"/experiments/{quote(name, safe='')}",
    )


@page("/query")
def query(request: Request, view: View) -> Response:
    return render(request, "query.html", view, title="Query", text=view.option("q", "") or "", charts=True)
