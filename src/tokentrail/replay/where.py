"""`--where`: a filter in the query language's syntax, evaluated on an archived sample's fields (no eval)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tokentrail.query import nodes
from tokentrail.query.errors import QueryError
from tokentrail.query.parser import parse

FIELDS = ("app", "feature", "tenant", "provider", "request_model", "reason", "input_chars", "output_chars")
Row = Mapping[str, Any]
ALLOWED = (nodes.FieldRef, nodes.Literal, nodes.Regex, nodes.Unary, nodes.Binary, nodes.Like, nodes.InList)
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def compile_where(text: str) -> Callable[[Row], bool]:
    """A predicate over archived rows; QueryError for bad syntax or a field a sample does not have."""
    commands = parse(f"filter {text}").commands
    if len(commands) != 1 or not isinstance(commands[0], nodes.Filter):
        raise QueryError("--where takes one filter condition, without '|'")
    condition = commands[0].condition
    _check(condition)
    return lambda row: bool(_value(condition, row))


def _check(expr: nodes.Expr) -> None:
    if isinstance(expr, nodes.FieldRef) and expr.name not in FIELDS:
        raise QueryError(f"--where can use the fields {', '.join(FIELDS)}, not {expr.name!r}")
    if not isinstance(expr, ALLOWED):
        raise QueryError("--where takes comparisons, and/or/not, like and in; not functions or arithmetic")
    if isinstance(expr, nodes.Binary) and expr.op not in (*COMPARE, "and", "or"):
        raise QueryError(f"--where does not take {expr.op!r}: it compares fields with values")
    for child in _children(expr):
        _check(child)


def _children(expr: nodes.Expr) -> tuple[nodes.Expr, ...]:
    if isinstance(expr, nodes.Unary):
        return (expr.operand,)
    if isinstance(expr, nodes.Binary):
        return (expr.left, expr.right)
    if isinstance(expr, nodes.Like):
        return (expr.operand,)
    if isinstance(expr, nodes.InList):
        return (expr.operand, *expr.items)
    return ()


def _value(expr: nodes.Expr, row: Row) -> Any:
    if isinstance(expr, nodes.FieldRef):
        return row.get(expr.name)
    if isinstance(expr, nodes.Literal | nodes.Regex):
        return expr.value if isinstance(expr, nodes.Literal) else expr.pattern
    if isinstance(expr, nodes.Unary):
        return not _value(expr.operand, row) if expr.op == "not" else -_value(expr.operand, row)
    if isinstance(expr, nodes.Like):
        found = _like(expr, str(_value(expr.operand, row) or ""))
        return found != expr.negated
    if isinstance(expr, nodes.InList):
        inside = _text(_value(expr.operand, row)) in {_text(_value(i, row)) for i in expr.items}
        return inside != expr.negated
    return _binary(expr, row) if isinstance(expr, nodes.Binary) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _like(expr: nodes.Like, text: str) -> bool:
    if isinstance(expr.pattern, nodes.Regex):
        return re.search(expr.pattern.pattern, text) is not None
    return str(expr.pattern.value) in text


def _binary(expr: nodes.Binary, row: Row) -> Any:
    if expr.op in ("and", "or"):
        first = bool(_value(expr.left, row))
        if first == (expr.op == "or"):
            return first
        return bool(_value(expr.right, row))
    left, right = _value(expr.left, row), _value(expr.right, row)
    if left is None or right is None:
        return False
    if isinstance(left, str) != isinstance(right, str):
        cast: Callable[[Any], Any] = str if expr.op in ("=", "!=") else float
        try:
            left, right = cast(left), cast(right)
        except ValueError:  # text that is not a number is never ordered against one
            return False
    return COMPARE[expr.op](left, right)
