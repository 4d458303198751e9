"""The dashboard's Alerts page, /alerts: the rules (the file's and the stored ones), every group's current
state, the firings with the deliveries sent for each, the latest state changes, and the backtest of a chosen
rule (``?rule=NAME``) over the page's time range, the same rows as ``GET /api/alerts/backtest/{rule}``.

Alert tables are the server's own (read as the server, like the alerts API); the backtest reads the calls
as the caller. The overview marks the firings on its time series (dashboard.overview).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from tokentrail.alerts import engine, history, state
from tokentrail.alerts.backtest import UnknownRule, backtest_named
from tokentrail.server.api import jsonable
from tokentrail.server.dashboard import error_page, page, render, store_of
from tokentrail.server.dashboard_params import CUSTOM, View
from tokentrail.server.state import get_state


def rule_rows(request: Request) -> list[dict[str, Any]]:
    ruleset, server = get_state(request).alert_rules, get_state(request).raw_store
    rows = [{**r.as_mapping(), "source": "file"} for r in ruleset.rules]
    return rows + [{**r.as_mapping(), "source": "api"} for r in engine.stored_rules(server)]


def backtest_of(request: Request, view: View, name: str) -> tuple[list[dict[str, Any]], str]:
    """The rows and the API URL giving the same rows."""
    rules = engine.all_rules(get_state(request).raw_store, get_state(request).alert_rules)
    until = view.time_range.end if view.since == CUSTOM and view.end else None
    params = {"since": jsonable(view.time_range.start), **({"until": jsonable(until)} if until else {})}
    found = backtest_named(rules, store_of(request), name, view.time_range.start, until)
    return found, f"/api/alerts/backtest/{name}?{urlencode(params)}"


@page("/alerts")
def alerts(request: Request, view: View) -> Response:
    server, chosen = get_state(request).raw_store, view.option("rule")
    try:
        tested = backtest_of(request, view, chosen) if chosen else None
    except UnknownRule as exc:
        return error_page(request, 404, str(exc.args[0]), view)
    return render(
        request,
        "alerts.html",
        view,
        title="Alerts",
        rules=rule_rows(request),
        states=state.all_states(server),
        firings=history.firings(server),
        events=state.events(server, limit=50),
        chosen=chosen,
        tested=tested,
    )
