"""Bearer-key check for ingest, shared by OTLP/HTTP and OTLP/gRPC."""

from __future__ import annotations

import hmac

from fastapi import Request

INGEST = "ingest"  # the principal the ingest key stands for


class Unauthenticated(Exception):
    """No bearer token, or not the right one."""


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (HTTP header or gRPC metadata)."""
    scheme, _, token = (header or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def principal(token: str | None, key: str | None) -> str:
    """Who `token` is for ingest; raises Unauthenticated. With no key configured, ingest is open."""
    if not key:
        return INGEST
    if token is not None and hmac.compare_digest(token.encode(), key.encode()):
        return INGEST
    raise Unauthenticated("missing or wrong ingest key: send Authorization: Bearer <TOKENTRAIL_INGEST_KEY>")


def authorized(request: Request, key: str | None) -> bool:
    try:
        principal(bearer_token(request.headers.get("authorization")), key)
    except Unauthenticated:
        return False
    return True
