"""`tokentrail keys create|list|revoke`: named API keys with scopes, optionally bound to tenants.

The key is printed once, on the last line of `create`'s output; only its HMAC is stored. With DuckDB the
store file is locked while `serve` runs: manage keys over HTTP then (`/api/keys`, admin scope).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tokentrail import keys
from tokentrail.cli.common import console, fail, group, opened_store
from tokentrail.cli.options import Db

app = group("Named API keys with scopes and tenants.")


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for the key, e.g. acme-dashboard")],
    scopes: Annotated[str, typer.Option(help=f"Comma-separated, from: {', '.join(keys.SCOPES)}")],
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", help="Bind the key to this tenant (repeatable)")
    ] = None,
    db: Db = None,
) -> None:
    """Create a key and print it once (last line). Store only what you need; it cannot be shown again."""
    wanted = [s.strip() for s in scopes.split(",") if s.strip()]
    with opened_store(db) as store:
        record, token = keys.create_key(store, name, wanted, tenant or [])
    bound = f", tenants {', '.join(record.tenants)}" if record.tenants else ", all tenants"
    console.print(f"created key {escape(name)!r}: scopes {', '.join(record.scopes)}{escape(bound)}")
    console.print("the key (shown only now):", highlight=False)
    typer.echo(token)


@app.command("list")
def list_(db: Db = None) -> None:
    """The keys: name, id, scopes, tenants and creation time (never the secret)."""
    with opened_store(db) as store:
        found = keys.list_keys(store)
    table = Table("name", "id", "scopes", "tenants", "created (UTC)")
    for k in found:
        tenants = ", ".join(k.tenants) or "all"
        table.add_row(
            escape(k.name), k.id, ", ".join(k.scopes), escape(tenants), f"{k.created_at:%Y-%m-%d %H:%M}"
        )
    console.print(table)


@app.command("revoke")
def revoke(name: str, db: Db = None) -> None:
    """Delete a key; requests and dashboard sessions using it stop working."""
    with opened_store(db) as store:
        if not keys.revoke_key(store, name):
            fail(f"no key named {escape(name)!r}")
    console.print(f"revoked {escape(name)!r}")
