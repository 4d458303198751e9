"""Budgets over HTTP: list, set, delete, and the status SDKs poll (GET /api/budgets/status).

Reading needs the ``read`` scope; the status also accepts ``ingest``, so the key an SDK exports with serves
its budget guard (a tenant-bound key sees its tenants' budgets only). Changing a budget needs ``admin``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tokentrail import budgets
from tokentrail.budgets import Budget
from tokentrail.server.api import api_error, json_body
from tokentrail.server.auth import requires
from tokentrail.server.state import StateDep

router = APIRouter(prefix="/api/budgets", dependencies=[Depends(requires("read"))])
status_router = APIRouter(prefix="/api/budgets", dependencies=[Depends(requires("read", "ingest"))])
admin_router = APIRouter(prefix="/api/budgets", dependencies=[Depends(requires("admin"))])


def _as_dict(budget: Budget) -> dict[str, Any]:
    return {
        "scope": budget.scope,
        "value": budget.value,
        "period": budget.period,
        "amount_usd": budget.amount_usd,
    }


@router.get("")
async def list_budgets(state: StateDep) -> Any:
    found = await asyncio.to_thread(budgets.list_budgets, state.store)
    return {"budgets": [_as_dict(b) for b in found]}


@status_router.get("/status")
async def budget_status(state: StateDep) -> Any:
    """Spent so far this period, run-rate forecast and days to exhaustion, for every budget."""
    found = await asyncio.to_thread(budgets.status, state.store)
    return {"budgets": [s.as_dict() for s in found]}


@admin_router.put("")
async def put_budget(request: Request, state: StateDep) -> Any:
    budget = Budget.from_mapping(await json_body(request))
    await asyncio.to_thread(budgets.set_budget, state.store, budget)
    return JSONResponse({"budget": _as_dict(budget)}, status_code=200)


@admin_router.delete("/{scope}/{value}/{period}")
async def delete_budget(state: StateDep, scope: str, value: str, period: str) -> Any:
    existed = await asyncio.to_thread(budgets.delete_budget, state.store, scope, value, period)
    if not existed:
        return api_error(404, f"no {period} budget for {scope} {value!r}")
    return {"deleted": {"scope": scope, "value": value, "period": period}}
