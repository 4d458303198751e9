"""``GET /metrics``: Prometheus exposition of the store's totals and the collector's health.

The totals span every tenant, so a tenant-bound key is refused (403).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from tokentrail.exporters.prometheus import exposition
from tokentrail.server.auth import Forbidden, requires
from tokentrail.server.state import StateDep

router = APIRouter(dependencies=[Depends(requires("metrics", "read"))])


@router.get("/metrics")
async def metrics(request: Request, state: StateDep) -> Response:
    if request.state.principal.tenants:
        raise Forbidden("/metrics reports every tenant: use a key not bound to tenants")
    body = await asyncio.to_thread(exposition, state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
