"""Alerts over HTTP: rules, states, history, silences, an evaluation at a given time, and backtests.

    GET    /api/alerts/rules              the file's rules and the stored ones
    PUT    /api/alerts/rules              add or replace a stored rule (JSON, the TOML fields)
    DELETE /api/alerts/rules/{name}
    GET    /api/alerts/states             every group's state
    GET    /api/alerts/history            state changes and deliveries, newest first
    POST   /api/alerts/silences           {"rule", "matchers", "start", "end", "comment"}
    POST   /api/alerts/eval?at=TIME       evaluate every rule at TIME (default now) and deliver
    GET    /api/alerts/backtest/{rule}?since=30d[&until=TIME]

Reading needs the ``read`` scope; changing rules, adding silences and evaluating need ``admin``
(server/auth.py). Alert tables are the server's own: they are read and written as the server
(AppState.raw_store); a backtest reads spans as the caller.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tokentrail.alerts import engine, notifiers
from tokentrail.alerts import state as alert_state
from tokentrail.alerts.backtest import backtest_named
from tokentrail.alerts.rules import rule_from_mapping
from tokentrail.server.api import api_error, json_body, jsonable
from tokentrail.server.auth import requires
from tokentrail.server.state import StateDep
from tokentrail.times import parse_time, utcnow

router = APIRouter(prefix="/api/alerts", dependencies=[Depends(requires("read"))])
admin_router = APIRouter(prefix="/api/alerts", dependencies=[Depends(requires("admin"))])


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: jsonable(v) for k, v in row.items()} for row in rows]


@router.get("/rules")
async def list_rules(state: StateDep) -> Any:
    store, ruleset = state.raw_store, state.alert_rules
    stored = await asyncio.to_thread(engine.stored_rules, store)
    rules = [{**r.as_mapping(), "source": "file"} for r in ruleset.rules]
    rules += [{**r.as_mapping(), "source": "api"} for r in stored]
    return {"rules": rules, "notifiers": sorted(ruleset.notifiers)}


@admin_router.put("/rules")
async def put_rule(request: Request, state: StateDep) -> Any:
    rule = rule_from_mapping(await json_body(request))
    await asyncio.to_thread(engine.save_rule, state.raw_store, state.alert_rules, rule, utcnow())
    return {"rule": rule.as_mapping()}


@admin_router.delete("/rules/{name}")
async def delete_rule(state: StateDep, name: str) -> Any:
    if not await asyncio.to_thread(engine.delete_rule, state.raw_store, name):
        return api_error(404, f"no stored rule {name!r}")
    return {"deleted": name}


@router.get("/states")
async def states(state: StateDep) -> Any:
    found = await asyncio.to_thread(alert_state.all_states, state.raw_store)
    return {"states": [s.as_dict() for s in found]}


@router.get("/history")
async def history(request: Request, state: StateDep) -> Any:
    store, rule = state.raw_store, request.query_params.get("rule")
    events = await asyncio.to_thread(alert_state.events, store, rule)
    sent = await asyncio.to_thread(notifiers.deliveries, store)
    return {"events": _rows(events), "deliveries": _rows(sent)}


@admin_router.post("/silences")
async def add_silence(request: Request, state: StateDep) -> Any:
    try:
        body = await request.json()
        now = utcnow()
        start, end = parse_time(str(body.get("start", "now")), now), parse_time(str(body["end"]), now)
        matchers = {str(k): str(v) for k, v in dict(body.get("matchers", {})).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return api_error(400, 'expected {"end": TIME, "rule"?: NAME, "matchers"?: {label: value}, "start"?}')
    args = (state.raw_store, body.get("rule"), matchers, start, end, str(body.get("comment", "")))
    return {"id": await asyncio.to_thread(engine.add_silence, *args)}


@admin_router.post("/eval")
async def evaluate(request: Request, state: StateDep) -> Any:
    at = parse_time(request.query_params.get("at", "now"), utcnow())
    args = (state.raw_store, state.alert_rules, at)
    changes = await asyncio.to_thread(engine.evaluate, *args)
    return {"at": jsonable(at), "changes": changes}


@router.get("/backtest/{name}")
async def run_backtest(request: Request, state: StateDep, name: str) -> Any:
    server, q = state.raw_store, request.query_params
    rules = await asyncio.to_thread(engine.all_rules, server, state.alert_rules)
    now = utcnow()
    since = parse_time(q.get("since", "30d"), now)
    until = parse_time(q["until"], now) if "until" in q else None
    found = await asyncio.to_thread(backtest_named, rules, state.store, name, since, until)
    return JSONResponse(found)
