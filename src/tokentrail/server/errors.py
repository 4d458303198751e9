"""The one table from tokentrail's exceptions (`tokentrail.exceptions`) to HTTP answers.

`install(app)` makes every `TokentrailError` a route lets through an answer with the status of the nearest
class in `STATUS` (walking the exception's class hierarchy):

- on the OTLP paths (``/v1/...``): a google.rpc.Status in the request's encoding (server/otlp.py);
- a browser's GET of a page without credentials: a redirect to the sign-in page;
- otherwise JSON ``{"error": message}`` (a QueryError adds its position and hint), with Retry-After on the
  classes in `RETRY_AFTER_S` and a Bearer challenge on 401.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from tokentrail.exceptions import ExternalError, InputError, NotFoundError, TokentrailError, Unavailable
from tokentrail.ingest.otlp import PayloadTooLarge, UnsupportedMediaType
from tokentrail.prompts.registry import PromptConflict, PromptError, PromptForbidden, PromptNotFound
from tokentrail.query import QueryError
from tokentrail.server import otlp, querypool
from tokentrail.server.auth import Forbidden, Unauthenticated
from tokentrail.store import QueryFailed, QueryTimeout, StoreBusy

STATUS: Final[dict[type[TokentrailError], int]] = {
    TokentrailError: 500,
    InputError: 400,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    NotFoundError: 404,
    PromptError: 400,
    PromptNotFound: 404,
    PromptForbidden: 403,
    PromptConflict: 409,
    Unauthenticated: 401,
    Forbidden: 403,
    StoreBusy: 429,
    QueryTimeout: 504,
    QueryFailed: 400,
    Unavailable: 503,
    querypool.PoolFull: 429,
    ExternalError: 502,
}
RETRY_AFTER_S: Final[dict[type[TokentrailError], str]] = {
    StoreBusy: otlp.RETRY_AFTER_S,
    Unavailable: otlp.RETRY_AFTER_S,
    querypool.PoolFull: querypool.RETRY_AFTER_S,
}


def nearest(table: dict[type[TokentrailError], Any], exc: BaseException) -> Any:
    """The value of the first of the exception's classes (most specific first) that `table` lists."""
    return next((table[c] for c in type(exc).__mro__ if c in table), None)


def status_of(exc: TokentrailError) -> int:
    """The HTTP status of an exception; an OTLP `Rejected` carries its own."""
    return exc.status if isinstance(exc, otlp.Rejected) else int(nearest(STATUS, exc))


def headers_of(exc: TokentrailError, status: int) -> dict[str, str]:
    retry = nearest(RETRY_AFTER_S, exc)
    if retry is not None:
        return {"Retry-After": retry}
    return {"WWW-Authenticate": 'Bearer realm="tokentrail"'} if status == 401 else {}


def body_of(exc: TokentrailError) -> dict[str, Any]:
    if isinstance(exc, QueryError):
        return {"error": exc.message, **exc.to_dict()}
    return {"error": str(exc)}


def as_rejected(exc: TokentrailError) -> otlp.Rejected:
    if isinstance(exc, otlp.Rejected):
        return exc
    status = status_of(exc)
    return otlp.Rejected(status, str(exc), headers_of(exc, status))


async def answer(request: Request, exc: Exception) -> Response:
    """The exception in the caller's language: an OTLP Status, a redirect to the sign-in page, or JSON."""
    assert isinstance(exc, TokentrailError)
    path = request.url.path
    if path.startswith("/v1/"):
        return otlp.error_response(as_rejected(exc), otlp.media_of(request))
    status = status_of(exc)
    browser = "text/html" in request.headers.get("accept", "")
    if status == 401 and request.method == "GET" and browser and not path.startswith("/api/"):
        return RedirectResponse(f"/login?next={path}", status_code=303)
    return JSONResponse(body_of(exc), status_code=status, headers=headers_of(exc, status))


def install(app: FastAPI) -> None:
    """Answer every TokentrailError a route raises by the table."""
    app.add_exception_handler(TokentrailError, answer)
