"""A gate for raw SQL (``tokentrail sql``): one read-only statement, or `QueryError`.

Allowed: a single SELECT (with or without WITH, set operations included), DESCRIBE or SHOW. Refused:
several statements, anything that writes or changes settings, ``SELECT ... INTO``, table functions or
file paths that read outside the database (``read_csv``, ``'file.parquet'``, ClickHouse ``url()``/``file()``,
...), also inside ``SHOW <query>``, and the private ``auth_*`` tables. This is a first line only: the stores
run every query where it cannot reach outside (DuckDB opened with ``enable_external_access = false`` and
``lock_configuration = true``; ClickHouse queries with ``readonly = 1``).
"""

from __future__ import annotations

import re
from typing import Any, Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from tokentrail.query.errors import QueryError
from tokentrail.store.schema import QUERYABLE
from tokentrail.store.scope import PRIVATE_PREFIX

_WRITES: Final = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Copy,
    exp.Command,
    exp.Set,
    exp.Pragma,
    exp.Use,
    exp.TruncateTable,
)
_SAFE_TABLE_FUNCTIONS: Final = frozenset({"range", "generate_series", "unnest", "numbers"})
_OUTSIDE_FUNCTIONS: Final = frozenset(
    {"getenv", "file", "url", "read_text", "read_blob", "s3", "remote", "remotesecure", "executable", "input"}
)
_FILE_LIKE: Final = re.compile(
    r"[/\\:]|\.(csv|tsv|parquet|json|jsonl|ndjson|txt|gz|zst|arrow|db|duckdb|xlsx)$", re.I
)
_HINT = "only a single SELECT, WITH ... SELECT, DESCRIBE or SHOW is allowed"
_TABLES_HINT = f"the tables and views you can query: {', '.join(QUERYABLE)}"


def check_read_only(sql: str, dialect: str = "duckdb") -> str:
    """Return ``sql`` (trimmed, without a trailing ';') if it is one read-only statement, else raise."""
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise QueryError("the SQL is empty", hint=_HINT)
    statements = _parse(text, dialect)
    if len(statements) != 1:
        raise QueryError(f"expected one statement, got {len(statements)}", hint=_HINT)
    statement = statements[0]
    if _is_show(statement):
        _check_shown(statement, dialect)
        return text
    if not isinstance(statement, exp.Query | exp.Describe):
        raise QueryError(f"{_kind(statement)} statements are not allowed", hint=_HINT)
    _check_tree(statement)
    _check_names(statement)
    return text


def _parse(text: str, dialect: str) -> list[exp.Expr]:
    try:
        parsed = sqlglot.parse(text, read=dialect)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        hint = f"{_HINT}, over {', '.join(QUERYABLE)}"
        raise QueryError(_syntax_message(first), first.get("line"), first.get("col"), hint) from None
    return [statement for statement in parsed if statement is not None]


def _syntax_message(error: dict[str, Any]) -> str:
    """The parser's complaint in the user's terms: where it stopped, never the parser's own classes."""
    near = str(error.get("highlight") or "").strip()
    before = str(error.get("start_context") or "").split()
    description = str(error.get("description") or "")
    if description.startswith("Required keyword") and near:
        return f"SQL syntax error: something is missing after {near!r}"
    if near and before:
        return f"SQL syntax error: unexpected {near!r} after {before[-1]!r}"
    return f"SQL syntax error near {near!r}" if near else "SQL syntax error"


def _check_names(statement: exp.Expr) -> None:
    """Every table named is one of ours (or a WITH name): a clear error instead of the engine's catalog."""
    own = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    for table in statement.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier) and not table.db:
            name = table.name.lower()
            if name not in QUERYABLE and name not in own:
                raise QueryError(f"no table or view named {table.name!r}", hint=_TABLES_HINT)


def _is_show(statement: exp.Expr) -> bool:
    if isinstance(statement, exp.Show):
        return True
    if isinstance(statement, exp.Command) and str(statement.this).upper() == "SHOW":
        rest = str(statement.expression or "")
        return ";" not in rest
    return False


def _check_shown(statement: exp.Expr, dialect: str) -> None:
    """`SHOW <query>` describes the query, and DuckDB binds (so reads) its sources: check it as a query."""
    shown_text = statement.expression if isinstance(statement, exp.Command) else None
    rest = str(shown_text.this if isinstance(shown_text, exp.Literal) else shown_text or "")
    if not rest.strip() or re.fullmatch(r"[\w\s.\"]*", rest):
        return
    shown = _parse(rest, dialect)
    if len(shown) != 1 or not isinstance(shown[0], exp.Query):
        raise QueryError("SHOW takes a table name or one SELECT", hint=_HINT)
    _check_tree(shown[0])


def _kind(statement: exp.Expr) -> str:
    if isinstance(statement, exp.Command):
        return str(statement.this).upper()
    return statement.key.upper()


def _check_tree(statement: exp.Expr) -> None:
    for node in statement.walk():
        if isinstance(node, _WRITES):
            raise QueryError(f"{_kind(node)} is not allowed in read-only SQL", hint=_HINT)
        if isinstance(node, exp.Select) and node.args.get("into"):
            raise QueryError("SELECT ... INTO writes a table and is not allowed", hint=_HINT)
        if isinstance(node, exp.Table):
            _check_table(node)
        if isinstance(node, exp.Lateral) and isinstance(node.this, exp.Func):
            _check_table_function(node.this)
        if isinstance(node, exp.Func) and _reads_outside(_function_name(node)):
            raise QueryError(
                f"{_function_name(node)}() reads outside the database and is not allowed", hint=_HINT
            )


def _check_table(table: exp.Table) -> None:
    source = table.this
    if table.name.lower().startswith(PRIVATE_PREFIX):
        raise QueryError(f"the table {table.name!r} is not readable", hint="query the tables and views")
    if isinstance(source, exp.Identifier):
        if _FILE_LIKE.search(source.name):
            raise QueryError(
                f"reading the file {source.name!r} is not allowed", hint="query the tables and views"
            )
        return
    if not isinstance(source, exp.Func):
        raise QueryError(
            f"the table source {source.sql()!r} is not allowed", hint="query the tables and views"
        )
    _check_table_function(source)


def _check_table_function(source: exp.Func) -> None:
    name = _function_name(source)
    if name not in _SAFE_TABLE_FUNCTIONS:
        raise QueryError(
            f"the table function {name or source.sql()!r} is not allowed", hint="query the tables and views"
        )


def _reads_outside(name: str) -> bool:
    return name in _OUTSIDE_FUNCTIONS or name.startswith("read_") or name.endswith("_scan")


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower()
