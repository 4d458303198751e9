"""The prompt registry over HTTP (docs/prompts.md).

    GET  /api/prompts                                   names, stages and version counts   read, prompts:read
    GET  /api/prompts/{name}                            versions, stages, rollbacks, live  read, prompts:read
    GET  /api/prompts/{name}/audit                      the hash-chained log, verified     read, prompts:read
    POST /api/prompts                                   create a version                   prompts:write
    POST /api/prompts/{name}/versions/{n}/submit        submit it for review               prompts:write
    POST /api/prompts/{name}/versions/{n}/approve       approve (never one's own)          prompts:approve
    POST /api/prompts/{name}/versions/{n}/reject        reject, {"reason": ...}            prompts:approve
    POST /api/prompts/{name}/stages/{stage}             promote, {"version": n}            prompts:approve
    POST /api/prompts/{name}/stages/{stage}/rollback    back to the version held before    prompts:approve

The actor is the name of the key (or dashboard session) used. With no key configured the server runs as an
anonymous admin: a body may then name an ``actor``, recorded as unauthenticated. A refusal answers 403 (the
actor may not) or 409 (the state forbids it) with ``{"error": ...}`` and appends nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tokentrail.prompts import events as ev
from tokentrail.prompts.content import SHORT, Content
from tokentrail.prompts.registry import Actor, PromptError, Registry
from tokentrail.server.api import api_error
from tokentrail.server.auth import ANONYMOUS, requires
from tokentrail.server.state import get_state

read_router = APIRouter(prefix="/api/prompts", dependencies=[Depends(requires("read", "prompts:read"))])
write_router = APIRouter(prefix="/api/prompts", dependencies=[Depends(requires("prompts:write"))])
approve_router = APIRouter(prefix="/api/prompts", dependencies=[Depends(requires("prompts:approve"))])
ROUTERS = (read_router, write_router, approve_router)
T = TypeVar("T")


def registry(request: Request) -> Registry:
    found: Registry = get_state(request).prompts
    return found


async def body_of(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise PromptError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise PromptError("the body must be a JSON object")
    return body


def actor_of(request: Request, body: dict[str, Any]) -> Actor:
    principal = request.state.principal
    if principal == ANONYMOUS:  # no keys configured: local use, the caller names itself
        return Actor(str(body.get("actor") or principal.name), False)
    return Actor(principal.name, True)


async def answer(work: Callable[[], T], shape: Callable[[T], Any], status: int = 200) -> JSONResponse:
    result = await asyncio.to_thread(work)
    return JSONResponse(shape(result), status_code=status)


def version_json(version: ev.Version, stages: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "version": version.number,
        "content_id": version.content_id,
        "short_id": version.content_id[:SHORT],
        "status": version.status,
        "author": version.author,
        "created_at": version.created_at,
        "message": version.message,
        "decided_by": version.decided_by,
        "reason": version.reason,
        "stages": sorted(s for s, n in (stages or {}).items() if n == version.number),
        **version.content.as_dict(),
    }


def state_json(state: ev.State, reg: Registry) -> dict[str, Any]:
    stages = state.stages
    return {
        "name": state.name,
        "versions": [version_json(v, stages) for v in state.versions.values()],
        "stages": {s: stages.get(s) for s in reg.stages.names},
        "approval_stages": sorted(reg.stages.approval),
        "rollbacks": {s: state.rollbacks.get(s, 0) for s in reg.stages.names},
        "live": [dataclasses.asdict(span) for span in state.live],
    }


def audit_json(entries: list[ev.Event]) -> dict[str, Any]:
    problems = ev.verify(entries)
    return {
        "entries": [e.public() for e in entries],
        "verified": not problems,
        "problems": [dataclasses.asdict(p) for p in problems],
        "head": entries[-1].hash if entries else None,
    }


@read_router.get("")
async def list_prompts(request: Request) -> Any:
    reg = registry(request)

    def work() -> list[dict[str, Any]]:
        return [summary_json(reg.state(name)) for name in reg.names()]

    return await answer(work, lambda items: {"prompts": items})


def summary_json(state: ev.State) -> dict[str, Any]:
    return {"name": state.name, "versions": len(state.versions), "stages": state.stages}


@read_router.get("/{name}")
async def get_prompt(request: Request, name: str) -> Any:
    reg = registry(request)
    return await answer(lambda: reg.state(name), lambda state: state_json(state, reg))


@read_router.get("/{name}/audit")
async def get_audit(request: Request, name: str) -> Any:
    reg = registry(request)

    def work() -> list[ev.Event]:
        reg.state(name)  # 404 when unknown
        return reg.events(name)

    return await answer(work, audit_json)


async def acting(request: Request) -> tuple[Registry, dict[str, Any], Actor]:
    body = await body_of(request)
    return registry(request), body, actor_of(request, body)


@write_router.post("")
async def create_prompt(request: Request) -> Any:
    reg, body, actor = await acting(request)
    name, message = body.get("name"), body.get("message") or ""
    if not isinstance(name, str) or not isinstance(message, str):
        return api_error(400, "'name' (and 'message', when given) must be strings")
    content = Content.from_mapping(body)
    version, new = await asyncio.to_thread(reg.create, name, content, message, actor)
    return JSONResponse(
        {"name": name, "created": new, **version_json(version)}, status_code=201 if new else 200
    )


def decision(kind: str) -> Callable[[Request, str, int], Any]:
    async def decide(request: Request, name: str, n: int) -> Any:
        reg, body, actor = await acting(request)
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            return api_error(400, "'reason' must be a string")
        act = {
            ev.SUBMITTED: lambda: reg.submit(name, n, actor),
            ev.APPROVED: lambda: reg.approve(name, n, actor),
            ev.REJECTED: lambda: reg.reject(name, n, actor, reason),
        }[kind]
        return await answer(act, lambda v: {"name": name, **version_json(v)})

    decide.__name__ = f"{kind}_version"
    return decide


write_router.post("/{name}/versions/{n}/submit")(decision(ev.SUBMITTED))
approve_router.post("/{name}/versions/{n}/approve")(decision(ev.APPROVED))
approve_router.post("/{name}/versions/{n}/reject")(decision(ev.REJECTED))


@approve_router.post("/{name}/stages/{stage}")
async def promote(request: Request, name: str, stage: str) -> Any:
    reg, body, actor = await acting(request)
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        return api_error(400, 'the body must be {"version": <number>}')
    return await answer(lambda: reg.promote(name, version, stage, actor), lambda s: state_json(s, reg))


@approve_router.post("/{name}/stages/{stage}/rollback")
async def rollback(request: Request, name: str, stage: str) -> Any:
    reg, body, actor = await acting(request)
    reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    return await answer(lambda: reg.rollback(name, stage, actor, reason), lambda s: state_json(s, reg))
