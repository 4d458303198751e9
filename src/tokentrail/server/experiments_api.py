"""A/B experiments over HTTP. Bad parameters get a 400 and an unknown experiment a 404, with JSON bodies.

    GET /api/experiments                       every experiment: variants, calls, first and last call
    GET /api/experiments/{name}?metric=latency_ms&stat=median&unit=call&mode=sequential
                                               estimates, comparisons with the control, SRM, MDE
    GET /api/experiments/{name}/timeline?metric=...&stat=...   the metric per variant over time

Without since/start/end an experiment covers all its calls. More parameters: control, split (A=50,B=50),
effect (0.05: add calls_needed), error_class (with metric=error_rate). See docs/experiments.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from tokentrail.analytics import BadRequest, TimeRange
from tokentrail.experiments import analysis, data
from tokentrail.experiments.analysis import Spec
from tokentrail.server.api import api_error, guarded
from tokentrail.server.dashboard_api import encode
from tokentrail.store import Store

router = APIRouter(prefix="/api/experiments")

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
    try:
        return encode(await run_in_threadpool(build, request.app.state.store, name, params))
    except data.NotFound as exc:
        return api_error(404, str(exc))


@router.get("")
@guarded
async def get_experiments(request: Request) -> Any:
    """Every experiment (calls with experiment and variant labels), with its variants and call counts."""
    params = dict(request.query_params)
    found = await run_in_threadpool(data.list_experiments, request.app.state.store, optional_range(params))
    return encode({"experiments": found})


@router.get("/{name}")
@guarded
async def get_experiment(request: Request) -> Any:
    """One metric of one experiment: variants with intervals, comparisons with the control, SRM and MDE."""
    return await _answer(request, experiment_answer)


@router.get("/{name}/timeline")
@guarded
async def get_experiment_timeline(request: Request) -> Any:
    """The metric per variant per hour or day."""
    return await _answer(request, experiment_timeline)
