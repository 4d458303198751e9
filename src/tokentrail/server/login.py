"""The dashboard's sign-in: GET/POST /login (a key pasted once → a session cookie) and POST /logout.

The cookie is HttpOnly, SameSite=Strict, Secure over HTTPS, and expires after TOKENTRAIL_SESSION_HOURS.
Only keys with the ``read`` (or ``admin``) scope can sign in. Sign-out is a form carrying the CSRF token.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from tokentrail.server.auth import PUBLIC, SESSION_COOKIE, keyring
from tokentrail.server.dashboard import render
from tokentrail.server.state import StateDep

router = APIRouter(include_in_schema=False, dependencies=[Depends(PUBLIC)])
MAX_FORM_BYTES = 4096


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme) may be the place to go after signing in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def read_form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def login_page(request: Request, message: str = "", status: int = 200, target: str = "/") -> Response:
    return render(request, "login.html", None, status, title="Sign in", message=message, next=target)


@router.get("/login")
async def login_form(request: Request) -> Response:
    return login_page(request, target=safe_next(request.query_params.get("next")))


@router.post("/login")
async def login(request: Request, state: StateDep) -> Response:
    form = await read_form(request)
    target = safe_next(form.get("next"))
    ring = keyring(request)
    record = ring.find(form.get("key", "").strip())
    if record is None or not record.principal.allows(("read",)):
        return login_page(request, "That key is wrong, revoked, or lacks the read scope.", 401, target)
    hours = state.settings.session_hours
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        ring.session(record, hours * 3600),
        max_age=int(hours * 3600),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form, cookie = await read_form(request), request.cookies.get(SESSION_COOKIE, "")
    sent = form.get("csrf", "")
    if not cookie or not hmac.compare_digest(sent.encode(), keyring(request).csrf_token(cookie).encode()):
        return login_page(request, "Sign-out needs the form's token; reload the page and try again.", 403)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response
