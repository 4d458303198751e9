"""A/B experiments over HTTP. Bad parameters get a 400 and an unknown experiment a 404, with JSON bodies.

    GET /api/experiments                       every experiment: variants, calls, first and last call
    GET /api/experiments/{name}?metric=latency_ms&stat=median&unit=call&mode=sequential
                                               estimates, comparisons with the control, SRM, MDE
    GET /api/experiments/{name}/timeline?metric=...&stat=...   the metric per variant over time
    POST /api/experiments/{name}/members       {"variant": "baseline", "calls": [[trace_id, span_id], ...]}
                                               count stored calls in a variant without copying them (the
                                               ``ingest`` scope; a replay records its baseline so)

Without since/start/end an experiment covers all its calls. More parameters: control, split (A=50,B=50),
effect (0.05: add calls_needed), error_class (with metric=error_rate). See docs/experiments.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from tokentrail.analytics.ranges import TimeRange
from tokentrail.exceptions import BadRequest
from tokentrail.experiments import analysis, data
from tokentrail.experiments.analysis import Spec
from tokentrail.server.api import json_body
from tokentrail.server.dashboard_api import encode
from tokentrail.server.state import StateDep, get_state
from tokentrail.store import Store

router = APIRouter(prefix="/api/experiments")
members_router = APIRouter(prefix="/api/experiments")
IDS = re.compile(r"^[0-9a-f]{32}$"), re.compile(r"^[0-9a-f]{16}$")
NAME = re.compile(r"^[^\x00-\x1f]{1,200}$")
MAX_MEMBERS = 10_000

RANGE = ("since", "start", "end")
SPEC_PARAMS = ("metric", "stat", "unit", "mode", "control", "error_class", "split", "effect")


def optional_range(params: Mapping[str, str]) -> TimeRange | None:
    """The range asked for, or None (all calls) when the request names none."""
    if not any(params.get(k) for k in RANGE):
        return None
    return TimeRange.resolve(params.get("since"), params.get("start"), params.get("end"))


def spec_of(params: Mapping[str, str]) -> Spec:
    """A checked Spec from query parameters; unknown parameters are refused."""
    unknown = sorted(set(params) - {*RANGE, *SPEC_PARAMS})
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}; use: {', '.join((*SPEC_PARAMS, *RANGE))}")
    effect = params.get("effect") or None
    try:
        effect_value = None if effect is None else float(effect)
    except ValueError:
        raise BadRequest(f"effect must be a number such as 0.05, not {effect!r}") from None
    return Spec(
        metric=params.get("metric") or "latency_ms",
        stat=params.get("stat") or None,
        unit=params.get("unit") or "call",
        mode=params.get("mode") or "sequential",
        control=params.get("control") or None,
        error_class=params.get("error_class") or None,
        split=analysis.parse_split(params.get("split")),
        effect=effect_value,
    ).checked()


def experiment_answer(store: Store, name: str, params: Mapping[str, str]) -> dict[str, Any]:
    spec = spec_of(params)
    return analysis.analyse(data.fetch_calls(store, name, spec.unit, optional_range(params)), spec)


def experiment_timeline(store: Store, name: str, params: Mapping[str, str]) -> dict[str, Any]:
    spec = spec_of(params)
    return analysis.timeline(data.fetch_calls(store, name, spec.unit, optional_range(params)), spec)


async def _answer(request: Request, build: Callable[[Store, str, Mapping[str, str]], Any]) -> Any:
    name, params = request.path_params["name"], dict(request.query_params)
    return encode(await run_in_threadpool(build, get_state(request).store, name, params))


@router.get("")
async def get_experiments(request: Request, state: StateDep) -> Any:
    """Every experiment (calls with experiment and variant labels), with its variants and call counts."""
    params = dict(request.query_params)
    found = await run_in_threadpool(data.list_experiments, state.store, optional_range(params))
    return encode({"experiments": found})


@router.get("/{name}")
async def get_experiment(request: Request) -> Any:
    """One metric of one experiment: variants with intervals, comparisons with the control, SRM and MDE."""
    return await _answer(request, experiment_answer)


@router.get("/{name}/timeline")
async def get_experiment_timeline(request: Request) -> Any:
    """The metric per variant per hour or day."""
    return await _answer(request, experiment_timeline)


def member_ids(body: Any) -> tuple[str, list[tuple[str, str]]]:
    """The variant and the (trace_id, span_id) pairs of a members request; BadRequest otherwise."""
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("variant"), str)
        or not NAME.match(body["variant"])
    ):
        raise BadRequest('the body is {"variant": "<name>", "calls": [["<trace_id>", "<span_id>"], ...]}')
    calls = body.get("calls")
    if not isinstance(calls, list) or not 0 < len(calls) <= MAX_MEMBERS:
        raise BadRequest(f"calls must be a list of 1 to {MAX_MEMBERS} [trace_id, span_id] pairs")
    for pair in calls:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(v, str) and r.match(v) for v, r in zip(pair, IDS, strict=True))
        ):
            raise BadRequest(f"{str(pair)[:80]!r} is not a [trace_id (32 hex), span_id (16 hex)] pair")
    return body["variant"], [(t, s) for t, s in calls]


@members_router.post("/{name}/members")
async def post_members(request: Request, state: StateDep) -> Any:
    """Count stored calls in the experiment's variant; answers how many were added."""
    name = request.path_params["name"]
    if not NAME.match(name):
        raise BadRequest("an experiment name is 1 to 200 printable characters")
    variant, ids = member_ids(await json_body(request, "the body must be JSON"))
    store = state.store  # reads as the key: a tenant's key adds only its tenants' calls
    added = await run_in_threadpool(data.add_members, store, name, variant, ids)
    return {"experiment": name, "variant": variant, "added": added}
