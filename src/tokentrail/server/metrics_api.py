"""``GET /metrics``: Prometheus exposition of the store's totals and the collector's health."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from tokentrail.exporters.prometheus import exposition

router = APIRouter()


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    body = await asyncio.to_thread(exposition, request.app.state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
