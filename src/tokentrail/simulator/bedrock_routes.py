"""Bedrock runtime routes: ``/model/{modelId}/converse``, ``/converse-stream``, ``/invoke``,
``/invoke-with-response-stream``. The model id is URL-decoded and may hold ``:`` and ``/`` (inference
profiles, ARNs). No request signature is checked, so boto3 with dummy credentials works.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokentrail.simulator.bedrock_converse import CONVERSE, CONVERSE_STREAM
from tokentrail.simulator.bedrock_invoke import INVOKE, family
from tokentrail.simulator.exchange import serve

router = APIRouter()


@router.post("/model/{model_id:path}/converse")
async def converse(request: Request, model_id: str) -> Response:
    return await serve(request, CONVERSE, model_id)


@router.post("/model/{model_id:path}/converse-stream")
async def converse_stream(request: Request, model_id: str) -> Response:
    return await serve(request, CONVERSE_STREAM, model_id)


@router.post("/model/{model_id:path}/invoke")
async def invoke(request: Request, model_id: str) -> Response:
    return await _invoke(request, model_id, stream=False)


@router.post("/model/{model_id:path}/invoke-with-response-stream")
async def invoke_stream(request: Request, model_id: str) -> Response:
    return await _invoke(request, model_id, stream=True)


async def _invoke(request: Request, model_id: str, stream: bool) -> Response:
    try:
        body = json.loads(await request.body() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None  # serve() answers the parse error in Bedrock's shape
    return await serve(request, INVOKE[(family(model_id, body), stream)], model_id)
