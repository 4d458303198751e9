"""A compiled expression with the little type knowledge the compiler needs.

Insights fields are dynamically typed; SQL columns are not. The compiler tracks a coarse *kind* for each
expression so that it can compare ``@timestamp`` with epoch milliseconds, compare a text field with a
number, and so on (see ``expressions.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Final

from sqlglot import exp

from tokentrail import model

NUM: Final = "num"
STR: Final = "str"
TIME: Final = "time"
BOOL: Final = "bool"
LIST: Final = "list"
ANY: Final = "any"
PERIOD: Final = "period"  # only as a function argument: bin(5m)
STAR: Final = "star"  # only as a function argument: count(*)

_LOGICAL_KINDS: Final = {
    model.STR: STR,
    model.INT: NUM,
    model.FLOAT: NUM,
    model.BOOL: BOOL,
    model.TIME: TIME,
    model.STR_LIST: LIST,
    model.JSON: STR,
}


def kind_of_column(name: str) -> str:
    """The kind of a native column of `model.COLUMNS`."""
    return _LOGICAL_KINDS[model.COLUMN_TYPES[name]]


@dataclasses.dataclass(frozen=True, slots=True)
class Typed:
    """``sql`` is a sqlglot expression; ``const`` holds the Python value when the expression is a literal
    (a number, a string, or a period as ``(amount, unit)``)."""

    sql: exp.Expr
    kind: str
    const: int | float | str | tuple[int, str] | None = None


_ATOMS = (exp.Column, exp.Literal, exp.Paren, exp.Null, exp.Boolean)


def wrap(expression: exp.Expr) -> exp.Expr:
    """Parenthesise a compound operand: sqlglot prints hand-built trees without adding parentheses.

    Function calls need none, but ``and``/``or`` are `exp.Func` subclasses too, hence the `exp.Binary` test.
    """
    if isinstance(expression, _ATOMS) or (
        isinstance(expression, exp.Func) and not isinstance(expression, exp.Binary)
    ):
        return expression
    return exp.Paren(this=expression)


def number_literal(value: float) -> exp.Expr:
    """A number literal; negative values become a negation, as sqlglot expects."""
    literal = exp.Literal.number(abs(value))
    return exp.Neg(this=literal) if value < 0 else literal


def parse_number(text: str) -> int | float | None:
    """The number a text holds, or None."""
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def number_text(value: float) -> str:
    """How a number literal reads as text: 200 → '200', 2.5 → '2.5', 2.0 → '2'."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def as_text(typed: Typed) -> exp.Expr:
    if typed.kind == STR:
        return typed.sql
    return exp.cast(typed.sql, "TEXT")


def as_bool(typed: Typed) -> exp.Expr:
    """A condition: numbers are true when not 0 (strcontains gives 1 or 0)."""
    if typed.kind == NUM:
        return exp.NEQ(this=wrap(typed.sql), expression=exp.Literal.number(0))
    return typed.sql
