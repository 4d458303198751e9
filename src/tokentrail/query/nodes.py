"""The typed syntax tree of a query, as `parse` returns it.

A `Query` is a tuple of commands, one per ``|``-separated stage. Expressions are small frozen dataclasses;
every node knows its position (`Pos`) so that compile errors can point at it.
"""

from __future__ import annotations

import dataclasses
from typing import TypeAlias


@dataclasses.dataclass(frozen=True, slots=True)
class Pos:
    line: int
    column: int


# ---- expressions -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class FieldRef:
    """A field name as written (no backticks): ``duration_ms``, ``@timestamp``, ``input.inputTokenCount``"""

    name: str
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Literal:
    """A number (int or float) or a string."""

    value: int | float | str
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Regex:
    """A ``/regex/`` literal; ``pattern`` is the text between the slashes."""

    pattern: str
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    """A time period such as ``5m``: ``amount`` and ``unit`` as written (the unit is checked at compile)."""

    amount: int
    unit: str
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Star:
    """The ``*`` of ``count(*)``."""

    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Expr
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic (``+ - * / % ^``), comparison (``= != < <= > >=``) or boolean (``and``, ``or``)."""

    op: str
    left: Expr
    right: Expr
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Like:
    """``x like "sub"`` (substring), ``x like /re/`` or ``x =~ /re/`` (regex search); negated: not like."""

    operand: Expr
    pattern: Literal | Regex
    negated: bool
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class InList:
    operand: Expr
    items: tuple[Expr, ...]
    negated: bool
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """A function call; ``text`` is the call as written (whitespace collapsed), the default column name."""

    name: str
    args: tuple[Expr, ...]
    pos: Pos
    text: str


Expr: TypeAlias = FieldRef | Literal | Regex | Period | Star | Unary | Binary | Like | InList | Call


# ---- commands ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Projection:
    """``expr [as alias]``; ``name`` is the alias, else the expression as written."""

    expr: Expr
    alias: str | None
    text: str

    @property
    def name(self) -> str:
        return self.alias or self.text


@dataclasses.dataclass(frozen=True, slots=True)
class Fields:
    items: tuple[Projection, ...]
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Display:
    fields: tuple[FieldRef, ...]
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Filter:
    condition: Expr
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Stats:
    aggregates: tuple[Projection, ...]
    by: tuple[Projection, ...]
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class SortKey:
    expr: Expr
    descending: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Sort:
    keys: tuple[SortKey, ...]
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Limit:
    count: int
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Parse:
    """``parse source "glob * with * stars" as a, b`` or ``parse source /(?<name>re)/``.

    ``pattern`` is the glob text or the regex; ``names`` are the new fields, in group order.
    """

    source: Expr
    pattern: str
    is_regex: bool
    names: tuple[str, ...]
    pos: Pos


@dataclasses.dataclass(frozen=True, slots=True)
class Dedup:
    fields: tuple[FieldRef, ...]
    pos: Pos


Command: TypeAlias = Fields | Display | Filter | Stats | Sort | Limit | Parse | Dedup


@dataclasses.dataclass(frozen=True, slots=True)
class Query:
    commands: tuple[Command, ...]
