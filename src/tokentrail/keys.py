"""Named API keys with scopes and tenants, stored hashed, and the server secret.

A key reads ``tt_<id>_<secret>``: the id (16 hex characters) finds the stored record, the secret (43 URL-safe
characters, 256 random bits) is checked against its HMAC-SHA256 under the server secret, compared in constant
time. The key itself is never stored: it is printed once when created. Random 256-bit secrets need no slow
hash; the HMAC keeps a stolen key table useless without the server secret.

The server secret (32 random bytes, generated once) lives in the store's ``auth_secret`` table, so restarts
keep dashboard sessions valid. Tables named ``auth_*`` are refused to every query path (store/scope.py).

Scopes: ``ingest`` (OTLP), ``read`` (every read: API, query console, dashboard), ``metrics`` (GET /metrics),
``prompts:read``, ``prompts:write``, ``prompts:approve``, and ``admin`` (everything, including keys and
budget changes). A key bound to tenants reads only their rows and writes spans only as them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Sequence

from tokentrail.exceptions import InputError
from tokentrail.store import Store

SCOPES = ("ingest", "read", "metrics", "prompts:read", "prompts:write", "prompts:approve", "admin")
PREFIX = "tt"
_TOKEN = re.compile(r"^tt_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class KeyError_(InputError):
    """A bad key name, scope or tenant, or a name already taken."""


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: the key's name, what it may do, and the tenants it is bound to (none: all)."""

    name: str
    scopes: frozenset[str]
    tenants: tuple[str, ...] = ()

    def allows(self, needed: Iterable[str]) -> bool:
        return "admin" in self.scopes or any(scope in self.scopes for scope in needed)


@dataclasses.dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    name: str
    scopes: tuple[str, ...]
    tenants: tuple[str, ...]
    digest: str
    created_at: dt.datetime

    @property
    def principal(self) -> Principal:
        return Principal(self.name, frozenset(self.scopes), self.tenants)

    def public(self) -> dict[str, object]:
        """Everything but the digest."""
        created = self.created_at.isoformat() + "Z"
        return {
            "name": self.name,
            "id": self.id,
            "scopes": list(self.scopes),
            "tenants": list(self.tenants),
            "created_at": created,
        }


def digest(secret: bytes, token_secret: str) -> str:
    return hmac.new(secret, token_secret.encode(), hashlib.sha256).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, else None."""
    match = _TOKEN.match(token)
    return (match.group(1), match.group(2)) if match else None


def matches(record: KeyRecord, secret: bytes, token_secret: str) -> bool:
    return hmac.compare_digest(record.digest, digest(secret, token_secret))


def check_definition(name: str, scopes: Sequence[str], tenants: Sequence[str]) -> None:
    if not _NAME.match(name):
        raise KeyError_(
            f"bad key name {name!r}: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise KeyError_(f"unknown or missing scopes {unknown}; choose from: {', '.join(SCOPES)}")
    if any(not t.strip() for t in tenants):
        raise KeyError_("a tenant name cannot be empty")


def server_secret(store: Store) -> bytes:
    """The store's server secret, created on first use (the first one written wins a race)."""
    rows = store.query("SELECT secret FROM auth_secret ORDER BY created_at, secret LIMIT 1").rows
    if not rows:
        store.execute("INSERT INTO auth_secret VALUES (?, ?)", [secrets.token_hex(32), _now()])
        rows = store.query("SELECT secret FROM auth_secret ORDER BY created_at, secret LIMIT 1").rows
    return bytes.fromhex(str(rows[0][0]))


def list_keys(store: Store) -> list[KeyRecord]:
    rows = store.query(
        "SELECT id, name, scopes, tenants, digest, created_at FROM auth_keys ORDER BY name"
    ).rows
    return [
        KeyRecord(str(i), str(n), tuple(json.loads(s)), tuple(json.loads(t)), str(d), c)
        for i, n, s, t, d, c in rows
    ]


def create_key(
    store: Store, name: str, scopes: Sequence[str], tenants: Sequence[str] = ()
) -> tuple[KeyRecord, str]:
    """Store a new key; returns its record and the key, which is shown once and never stored."""
    scopes = list(dict.fromkeys(scopes))
    tenants = list(dict.fromkeys(t.strip() for t in tenants))
    check_definition(name, scopes, tenants)
    if any(k.name == name for k in list_keys(store)):
        raise KeyError_(f"a key named {name!r} exists; revoke it first or choose another name")
    key_id, token_secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    record = KeyRecord(
        key_id, name, tuple(scopes), tuple(tenants), digest(server_secret(store), token_secret), _now()
    )
    store.execute(
        "INSERT INTO auth_keys VALUES (?, ?, ?, ?, ?, ?)",
        [record.id, name, json.dumps(scopes), json.dumps(tenants), record.digest, record.created_at],
    )
    return record, f"{PREFIX}_{key_id}_{token_secret}"


def revoke_key(store: Store, name: str) -> bool:
    existed = any(k.name == name for k in list_keys(store))
    if existed:
        store.execute("DELETE FROM auth_keys WHERE name = ?", [name])
    return existed


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
