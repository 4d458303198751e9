"""`tokentrail clickhouse schema [--cluster NAME]`: the DDL the ClickHouse store applies, to read or run."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from tokentrail.cli.common import fail, group

app = group("The ClickHouse store: its schema, for one server or a cluster.")

Cluster = Annotated[
    str | None, typer.Option(help="Cluster name (remote_servers): ON CLUSTER, Replicated, Distributed")
]


@app.command("schema")
def schema(cluster: Cluster = None) -> None:
    """Print the DDL the store applies to clickhouse://...[?cluster=NAME] (TTLs from retention)."""
    from tokentrail.store.clickhouse_schema import Layout, retention_days, schema_sql

    if cluster is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", cluster):
        fail(f"cluster name {cluster!r} must be letters, digits and underscores")
    try:
        retention = retention_days()
    except ValueError as exc:  # retention_days raises a plain ValueError, outside the tree
        fail(str(exc))
    typer.echo(schema_sql(Layout(cluster or None, retention)))
