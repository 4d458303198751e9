"""Access control: who a request is (a named key, the legacy ingest key, or a dashboard session) and what
it may do. Every route declares the scopes it needs by a dependency on its router, `requires(...)`; an
app-wide dependency (`enforce`) makes any route that declares none require ``admin``, so a route added
later cannot be left open by forgetting. The OTLP/HTTP paths, answered before routing (server/otlp_lane.py),
call ``requires("ingest")`` themselves.

- No key configured (no named key and no TOKENTRAIL_INGEST_KEY): every request acts as an anonymous admin;
  `serve` then refuses to bind a non-loopback address unless told ``--insecure``.
- Otherwise every request needs ``Authorization: Bearer <key>`` or a dashboard session cookie with a scope
  the route accepts (``admin`` is accepted everywhere). TOKENTRAIL_INGEST_KEY is a key with the ``ingest``
  scope only.
- The resolved principal is kept in a context variable for the request; `RequestStore` reads it under every
  query, so a tenant-bound key reads only its tenants' rows (store/scope.py) on every route, and a read
  that runs without a principal fails.
- Sessions: ``tt_session`` = ``<key id>.<expiry>.<HMAC>``, HttpOnly, SameSite=Strict, expiring; a revoked
  key ends its sessions. Unsafe methods on a session need ``X-CSRF-Token`` (an HMAC of the session that
  every page carries in ``<meta name="csrf-token">``).
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import hmac
import threading
import time
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.routing import iter_route_contexts

from tokentrail import keys
from tokentrail.exceptions import TokentrailError
from tokentrail.keys import KeyRecord, Principal
from tokentrail.store import QueryResult, Store, StoreError
from tokentrail.store.scope import TenantStore

SESSION_COOKIE = "tt_session"
CSRF_HEADER = "x-csrf-token"
ANONYMOUS = Principal("anonymous", frozenset({"admin"}))
LEGACY_INGEST = "TOKENTRAIL_INGEST_KEY"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("tt_principal", default=None)


class Denied(TokentrailError):
    """A request without the right credentials (server/errors.py: 401 or 403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(Denied):
    """No key or session, or a wrong or revoked key."""


class Forbidden(Denied):
    """A key or session without the scope (or the CSRF header) the route needs."""


class KeyRing:
    """The named keys, cached for `ttl_s` (API revocations apply at once), and the server secret."""

    def __init__(self, store: Store, ingest_key: str | None, ttl_s: float = 2.0) -> None:
        self.store, self._ingest_key, self._ttl_s = store, ingest_key, ttl_s
        self._lock = threading.Lock()
        self._records: dict[str, KeyRecord] = {}
        self._loaded = -1e9
        self._secret: bytes | None = None

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = keys.server_secret(self.store)
        return self._secret

    def records(self) -> dict[str, KeyRecord]:
        with self._lock:
            if time.monotonic() - self._loaded > self._ttl_s:
                self._records = {k.id: k for k in keys.list_keys(self.store)}
                self._loaded = time.monotonic()
            return self._records

    def invalidate(self) -> None:
        with self._lock:
            self._loaded = -1e9

    def configured(self) -> bool:
        return bool(self._ingest_key) or bool(self.records())

    def find(self, token: str) -> KeyRecord | None:
        """The named key `token` is, if it is one and not revoked."""
        parts = keys.split_token(token)
        record = self.records().get(parts[0]) if parts else None
        return record if parts and record and keys.matches(record, self.secret, parts[1]) else None

    def authenticate(self, token: str) -> Principal | None:
        if self._ingest_key and hmac.compare_digest(token.encode(), self._ingest_key.encode()):
            return Principal(LEGACY_INGEST, frozenset({"ingest"}))
        record = self.find(token)
        return record.principal if record else None

    # -- dashboard sessions
    def _sign(self, purpose: str, text: str) -> str:
        return hmac.new(self.secret, f"{purpose}:{text}".encode(), hashlib.sha256).hexdigest()

    def session(self, record: KeyRecord, lifetime_s: float) -> str:
        body = f"{record.id}.{int(time.time() + lifetime_s)}"
        return f"{body}.{self._sign('session', body)}"

    def session_principal(self, cookie: str) -> Principal | None:
        key_id, _, rest = cookie.partition(".")
        expires, _, signature = rest.partition(".")
        body = f"{key_id}.{expires}"
        if not expires.isdigit() or not hmac.compare_digest(signature, self._sign("session", body)):
            return None
        record = self.records().get(key_id)
        return record.principal if record and int(expires) > time.time() else None

    def csrf_token(self, cookie: str) -> str:
        return self._sign("csrf", cookie)[:32]


def keyring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.keyring
    return ring


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (an HTTP header or gRPC metadata)."""
    scheme, _, token = (header or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def bearer(request: Request) -> str | None:
    return bearer_token(request.headers.get("authorization"))


def ingest_principal(ring: KeyRing, token: str | None) -> Principal:
    """Who an OTLP/gRPC export is, from the bearer token of its metadata: a principal with the ``ingest``
    (or ``admin``) scope, or Denied (401, or 403 for a key without it). No key configured: anonymous admin."""
    if token is None:
        if ring.configured():
            raise Unauthenticated("a key is required: send authorization: Bearer <key> metadata")
        return ANONYMOUS
    found = ring.authenticate(token)
    if found is None:
        raise Unauthenticated("wrong or revoked key")
    if not found.allows(("ingest",)):
        raise Forbidden(f"the key {found.name!r} lacks the scope ingest")
    return found


def resolve(request: Request) -> Principal:
    """The request's principal, or Denied(401)."""
    ring = keyring(request)
    token = bearer(request)
    if token is not None:
        found = ring.authenticate(token)
        if found is None:
            raise Unauthenticated("wrong or revoked key")
        return found
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = ring.session_principal(cookie)
        if found is not None:
            check_csrf(request, ring, cookie)
            return found
    if not ring.configured():
        return ANONYMOUS
    raise Unauthenticated("a key is required: send Authorization: Bearer <key>, or sign in at /login")


def check_csrf(request: Request, ring: KeyRing, cookie: str) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), ring.csrf_token(cookie).encode()):
        raise Forbidden(f"missing or wrong {CSRF_HEADER} header for a request made with a session")


@dataclasses.dataclass(frozen=True)
class Requirement:
    """A route dependency: the request needs a principal holding one of `scopes` (empty: open to all)."""

    scopes: tuple[str, ...]

    async def __call__(self, request: Request) -> Principal | None:
        if not self.scopes:
            _current.set(None)  # open routes read nothing as anybody
            return None
        principal = resolve(request)
        if not principal.allows(self.scopes):
            raise Forbidden(f"the key {principal.name!r} lacks the scope {' or '.join(self.scopes)}")
        _current.set(principal)
        request.state.principal = principal
        return principal


def requires(*scopes: str) -> Requirement:
    return Requirement(tuple(scopes))


PUBLIC = requires()


def declared(route: Any) -> Requirement | None:
    """The Requirement a route's dependencies (its router's included) declare, if any."""
    dependant = getattr(route, "dependant", None)
    for dependency in getattr(dependant, "dependencies", ()):
        if isinstance(dependency.call, Requirement):
            return dependency.call
    return None


def route_requirements(app: Any) -> dict[int, Requirement | None]:
    """Each route's declared Requirement, by the id of the route object a request is matched to (the
    router's and the include's dependencies are merged only in the route contexts)."""
    return {id(ctx.original_route): declared(ctx) for ctx in iter_route_contexts(app.routes)}


async def enforce(request: Request) -> None:
    """App-wide: a route that declares no scope needs ``admin``."""
    route, known = request.scope.get("route"), request.app.state.route_requirements
    if id(route) not in known:  # the first request, or a route added since
        known.update(route_requirements(request.app))
    if known.get(id(route)) is None:
        await requires("admin")(request)


def current_principal() -> Principal | None:
    return _current.get()


class RequestStore:
    """The store as routes see it: every read runs as the request's principal (tenant-scoped when bound)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.dialect = store.dialect

    @property
    def tenants(self) -> tuple[str, ...] | None:
        """The tenants the request's key is bound to, None when it sees all: as `TenantStore.tenants`, so the
        long views read the rollups a scoped reader has (store/rollup_reads.py::per_dim)."""
        principal = _current.get()
        return principal.tenants if principal is not None and principal.tenants else None

    def query(
        self, sql: str, params: Sequence[Any] = (), timeout_s: float | None = None, dialect: str = "duckdb"
    ) -> QueryResult:
        principal = _current.get()
        if principal is None:
            raise StoreError("a read ran without a principal: its route declares no access scope")
        reader: Any = TenantStore(self._store, principal.tenants) if principal.tenants else self._store
        result: QueryResult = reader.query(sql, params, timeout_s=timeout_s, dialect=dialect)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
