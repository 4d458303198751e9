"""Tenant scoping applied under every read: `TenantStore` wraps a store and rewrites each query it runs.

Every table reference is resolved on the syntax tree (sqlglot) before the backend sees the SQL:

- ``spans``, ``calls``, ``daily_costs``, ``samples``, ``experiment_members``, ``log_records``,
  ``call_rollups`` and ``rollup_pending`` become ``(SELECT * FROM <table> WHERE tenant IN (...))``;
- ``call_dim_hours``, ``call_sketches`` and ``call_sketch_weeks`` (rollups per single dimension) keep only
  the rows of those tenants
  (``dim = 'tenant'``);
- ``stream_timelines`` keeps the timelines of those spans only (it has no tenant column of its own);
- ``budgets`` keeps only budgets of scope ``tenant`` whose value is one of the tenants;
- ``metric_points`` has no tenant column and reads as empty;
- ``rollup_mark`` (when the roll-ups last ran and the day before which they sealed the sketches into weeks)
  reads as it is;
- a name defined by a WITH clause around the reference reads that CTE (its own tables are rewritten too);
- any other table (the key store, schema bookkeeping, tables added later) is refused.

So a tenant-scoped reader sees only its tenants' rows whatever SQL reaches the store: the typed queries, the
query language and raw SQL alike. Tables whose name starts with ``auth_`` (keys and the server secret) are
refused to every caller of `check_tables`, scoped or not. The SQL that runs is the one regenerated from the
rewritten tree, so what the backend parses is what was checked.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Any

import sqlglot
from sqlglot import exp

from tokentrail.store.base import QueryFailed, QueryResult, Store

PRIVATE_PREFIX = "auth_"
TENANT_COLUMN_TABLES = frozenset(
    {
        "spans",
        "calls",
        "daily_costs",
        "samples",
        "experiment_members",
        "log_records",
        "call_rollups",
        "rollup_pending",
    }
)
EMPTY_TABLES = frozenset({"metric_points"})
PER_DIM_TABLES = frozenset({"call_dim_hours", "call_sketches", "call_sketch_weeks"})
SCOPED_TABLES = TENANT_COLUMN_TABLES | EMPTY_TABLES | {"budgets", "stream_timelines", *PER_DIM_TABLES}
OPEN_TABLES = frozenset({"rollup_mark"})  # the roll-up's bookkeeping times, no tenant's data: read as it is


def number_placeholders(sql: str, dialect: str) -> tuple[str, int]:
    """Rename each `?` to `:p0`, `:p1`, ... in textual order (tree order is not textual order)."""
    tokens = [t for t in sqlglot.tokenize(sql, read=dialect) if t.token_type == sqlglot.TokenType.PLACEHOLDER]
    out, last = [], 0
    for i, token in enumerate(tokens):
        out.append(sql[last : token.start] + f":p{i}")
        last = token.end + 1
    return "".join(out) + sql[last:], len(tokens)


def parse(sql: str, dialect: str) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise QueryFailed(f"cannot parse query: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1 or isinstance(statements[0], exp.Command):
        raise QueryFailed("a tenant-scoped key may run one SELECT statement only")
    return statements[0]


def _in_cte_scope(table: exp.Table) -> bool:
    """Whether an unqualified table name refers to a WITH clause enclosing it."""
    if table.args.get("db") or table.args.get("catalog"):
        return False
    node: exp.Expr | None = table.parent
    while node is not None:
        with_ = node.args.get("with_") or node.args.get("with")
        if isinstance(with_, exp.With) and any(cte.alias_or_name == table.name for cte in with_.expressions):
            return True
        node = node.parent
    return False


def check_tables(tree: exp.Expr) -> None:
    """Refuse the private tables (keys, server secret) to everyone."""
    for table in tree.find_all(exp.Table):
        if table.name.lower().startswith(PRIVATE_PREFIX) and not _in_cte_scope(table):
            raise QueryFailed(f"the table {table.name!r} is not readable")


def _tenant_filter(name: str, tenants: Sequence[str]) -> exp.Expr:
    values = [exp.Literal.string(t) for t in tenants]
    if name in TENANT_COLUMN_TABLES:
        return exp.column("tenant").isin(*values)
    if name == "budgets" or name in PER_DIM_TABLES:
        key = "scope" if name == "budgets" else "dim"
        return exp.and_(exp.column(key).eq(exp.Literal.string("tenant")), exp.column("value").isin(*values))
    if name == "stream_timelines":
        own = exp.select("trace_id", "span_id").from_("spans").where(exp.column("tenant").isin(*values))
        return exp.Tuple(expressions=[exp.column("trace_id"), exp.column("span_id")]).isin(
            query=own.subquery()
        )
    return exp.false()


def _scoped_source(table: exp.Table, tenants: Sequence[str]) -> exp.Expr:
    name = table.name.lower()
    inner = (
        exp.select("*").from_(exp.Table(this=exp.to_identifier(name))).where(_tenant_filter(name, tenants))
    )
    return inner.subquery(table.alias or name)


def restrict_tree(tree: exp.Expr, tenants: Sequence[str]) -> exp.Expr:
    """Replace every table reference of `tree` by its tenant-filtered form (see the module docstring)."""
    check_tables(tree)
    for table in list(tree.find_all(exp.Table)):
        name = table.name.lower()
        if name in SCOPED_TABLES:
            table.replace(_scoped_source(table, tenants))
        elif name in OPEN_TABLES:
            continue
        elif not isinstance(table.this, exp.Identifier) or not _in_cte_scope(table):
            raise QueryFailed(f"{table.sql()!r} is not readable with a tenant-scoped key")
    return tree


def restrict(sql: str, params: Sequence[Any], dialect: str, tenants: Sequence[str]) -> tuple[str, list[Any]]:
    """`sql` (with `?` values) rewritten for `tenants`, and its values in the new textual order."""
    numbered, count = number_placeholders(sql, dialect)
    if count != len(params):
        raise QueryFailed(f"query has {count} parameters but {len(params)} values were given")
    tree = restrict_tree(parse(numbered, dialect), tenants)
    nonce = secrets.token_hex(8)
    for node in list(tree.find_all(exp.Placeholder)):
        node.replace(exp.Literal.string(f"tt{nonce}_{str(node.name)[1:]}"))
    text = tree.sql(dialect=dialect)
    marker = re.compile(f"'tt{nonce}_(\\d+)'")
    order = [int(m.group(1)) for m in marker.finditer(text)]
    return marker.sub("?", text), [params[i] for i in order]


class TenantStore:
    """A store whose reads see only `tenants`' rows; writes pass through unchanged."""

    def __init__(self, store: Store, tenants: Sequence[str]) -> None:
        self._store = store
        self.tenants = tuple(tenants)
        self.dialect = store.dialect

    def query(
        self, sql: str, params: Sequence[Any] = (), timeout_s: float | None = None, dialect: str = "duckdb"
    ) -> QueryResult:
        text, values = restrict(sql, params, dialect, self.tenants)
        return self._store.query(text, values, timeout_s=timeout_s, dialect=dialect)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
