"""Named keys over HTTP, with the admin scope: GET /api/keys, POST /api/keys, DELETE /api/keys/{name}.

POST answers the new key once, in ``key``; it is never stored or shown again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tokentrail import keys
from tokentrail.server.api import api_error, json_body
from tokentrail.server.auth import keyring, requires

router = APIRouter(prefix="/api/keys", dependencies=[Depends(requires("admin"))])


def _strings(body: dict[str, Any], field: str) -> list[str]:
    value = body.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise keys.KeyError_(f"{field} must be a list of strings")
    return value


@router.get("")
async def list_keys(request: Request) -> Any:
    found = await asyncio.to_thread(keys.list_keys, keyring(request).store)
    return {"keys": [k.public() for k in found]}


@router.post("")
async def create_key(request: Request) -> Any:
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise keys.KeyError_('the body must be {"name": ..., "scopes": [...], "tenants": [...]}')
    scopes, tenants = _strings(body, "scopes"), _strings(body, "tenants")
    record, token = await asyncio.to_thread(
        keys.create_key, keyring(request).store, body["name"], scopes, tenants
    )
    keyring(request).invalidate()
    return JSONResponse({**record.public(), "key": token}, status_code=201)


@router.delete("/{name}")
async def revoke_key(request: Request, name: str) -> Any:
    existed = await asyncio.to_thread(keys.revoke_key, keyring(request).store, name)
    keyring(request).invalidate()
    if not existed:
        return api_error(404, f"no key named {name!r}")
    return {"revoked": name}
