"""Bearer-key check for ingest endpoints."""

from __future__ import annotations

import hmac

from fastapi import Request


def authorized(request: Request, key: str | None) -> bool:
    if not key:
        return True
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())
