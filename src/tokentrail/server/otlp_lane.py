"""OTLP/HTTP's three paths, answered before FastAPI routes the request.

An exporter's request is the collector's busiest path, and a one-span request spent about a quarter of the
event loop's time on the way to its handler: FastAPI's route matching over every route of the app, and
its dependency solving. Under `bench/ingest.py`'s one-span shape that time sits in the cycle of every
group (the answers and the next requests are read between two commits), so `OtlpLane`, an ASGI
middleware inside the host check and the app's error handling of last resort, takes ``/v1/traces``,
``/v1/metrics`` and ``/v1/logs`` itself and passes every other request on: a median 24 % more one-span
requests a second in alternating runs (docs/architecture.md, Storage). It does what the route's
dependencies did: the ``ingest`` scope (server/auth.py), the app's state; errors are answered by the app's
one table (server/errors.py), as OTLP Status messages.
These paths take POST only (405 with ``Allow: POST`` otherwise, as before), with or without a trailing
slash (the routes answered one with a redirect).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tokentrail.exceptions import TokentrailError
from tokentrail.server import errors, otlp
from tokentrail.server.auth import requires
from tokentrail.server.state import AppState, state_of

Handler = Callable[[Request, AppState], Awaitable[Response]]
PATHS: Final[dict[str, Handler]] = {
    "/v1/traces": otlp.export_traces,
    "/v1/metrics": otlp.export_metrics,
    "/v1/logs": otlp.export_logs,
}
INGEST = requires("ingest")


class OtlpLane:
    """Pure ASGI middleware: requests to `PATHS` are handled here, everything else goes on to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # a trailing slash too (the routes redirected it; an exporter configured with one now just works)
        handler = PATHS.get(scope["path"].rstrip("/")) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await respond(request, handler)
        await response(scope, receive, send)


async def respond(request: Request, handler: Handler) -> Response:
    """The handler's answer to a POST with a key holding the ingest scope; the error's answer otherwise."""
    if request.method != "POST":
        return JSONResponse({"error": "method not allowed: OTLP/HTTP uses POST"}, 405, {"Allow": "POST"})
    try:
        await INGEST(request)
        return await handler(request, state_of(request.app))
    except TokentrailError as exc:
        return await errors.answer(request, exc)
