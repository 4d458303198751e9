"""DNS-rebinding protection: on a loopback bind, a request whose Host is not this server is refused (421).

A page on another site that rebinds its name to 127.0.0.1 still sends its own name as Host, so it cannot
read a collector listening on loopback. Allowed: 127.0.0.1, localhost and [::1] with the configured port,
plus TOKENTRAIL_ALLOWED_HOSTS (for a reverse proxy in front).
"""

from __future__ import annotations

import ipaddress
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from tokentrail.settings import Settings

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: Settings) -> frozenset[str]:
    names = [*LOOPBACK_NAMES, *settings.allowed_host_list]
    return frozenset(n.lower() for name in names for n in (name, f"{name}:{settings.port}"))


class HostCheck:
    """Pure ASGI middleware: HTTP requests with a Host outside `allowed` get 421 and a JSON body."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            host = headers.get(b"host", b"").decode("latin-1").lower()
            if host not in self.allowed:
                await refuse(send, host)
                return
        await self.app(scope, receive, send)


async def refuse(send: Send, host: str) -> None:
    body = json.dumps({"error": f"this server does not answer for Host {host!r} (TOKENTRAIL_ALLOWED_HOSTS)"})
    await send(
        {
            "type": "http.response.start",
            "status": 421,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
