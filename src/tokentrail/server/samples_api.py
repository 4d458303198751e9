"""Samples and the sampling policy over HTTP.

``GET /api/samples`` (time range, ``app``/``feature``/``tenant``/``provider``/``request_model``/``reason``
filters, ``limit``/``offset``), ``GET /api/samples/{trace_id}/{span_id}``, ``GET /api/sampling`` and
``PUT /api/sampling`` (a JSON object with the keys of the policy file; it needs the admin scope once any
key is configured). A new policy applies to the spans received from then on; it is not written back to
the policy file.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic
from fastapi import APIRouter, Request

from tokentrail.samples import queries
from tokentrail.samples.policy import Policy, describe
from tokentrail.server.api import api_error, filters, int_param, jsonable, time_range
from tokentrail.server.state import StateDep

router = APIRouter(prefix="/api")  # included with the read scope
admin_router = APIRouter(prefix="/api")  # included with the admin scope

HEX = frozenset("0123456789abcdef")


def _json(sample: dict[str, Any]) -> dict[str, Any]:
    return {key: jsonable(value) for key, value in sample.items()}


@router.get("/samples")
async def list_samples(request: Request, state: StateDep) -> Any:
    """Sampled, redacted calls in a time range, newest first, paged."""
    tr, flt = time_range(request), filters(request)
    limit, offset = int_param(request, "limit", 50), int_param(request, "offset", 0)
    total, found = await asyncio.to_thread(queries.list_samples, state.store, tr, flt, limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "samples": [_json(s) for s in found]}


@router.get("/samples/{trace_id}/{span_id}")
async def get_sample(request: Request, state: StateDep) -> Any:
    """One call's sample, by the ids of its span."""
    trace_id = request.path_params["trace_id"].lower()
    span_id = request.path_params["span_id"].lower()
    if len(trace_id) != 32 or len(span_id) != 16 or not set(trace_id + span_id) <= HEX:
        return api_error(400, "trace id must be 32 and span id 16 hex characters")
    found = await asyncio.to_thread(queries.get_sample, state.store, trace_id, span_id)
    if found is None:
        return api_error(404, f"no sample for span {trace_id}/{span_id}")
    return _json(found)


@router.get("/sampling")
async def get_sampling(state: StateDep) -> Any:
    policy: Policy = state.pipeline.policy
    return policy.model_dump()


@admin_router.put("/sampling")
async def put_sampling(request: Request, state: StateDep) -> Any:
    try:
        policy = Policy.model_validate(await request.json())
    except ValueError as exc:  # a validation error, or a body that is not JSON
        problem = describe(exc) if isinstance(exc, pydantic.ValidationError) else "the body must be JSON"
        return api_error(400, f"sampling policy: {problem}")
    state.pipeline.policy = policy
    return policy.model_dump()
