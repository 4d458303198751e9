"""Expression nodes → sqlglot expressions, with light typing.

Comparisons line their operands up the way Insights users expect:

- a time compared with a number reads the number as epoch milliseconds; with a string, as an ISO 8601 time.
  Literals become timestamp literals, so the comparison stays a plain range on ``start_time``.
- text compared with a number: ``=``, ``!=`` and ``in`` compare the number's text ("200" = 200); ordering
  (``<`` ...) converts the text to a number (null when it is not one).
- arithmetic and numeric functions convert text to numbers the same way.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Protocol

from sqlglot import exp

from tokentrail.query import nodes
from tokentrail.query.dialects import PERIOD_UNITS, Dialect, to_utc_naive
from tokentrail.query.errors import QueryError
from tokentrail.query.fields import did_you_mean
from tokentrail.query.functions import FUNCTION_NAMES, FUNCTIONS, Site, Spec, as_number
from tokentrail.query.parser import to_re2
from tokentrail.query.typed import (
    BOOL,
    NUM,
    PERIOD,
    STAR,
    STR,
    TIME,
    Typed,
    as_bool,
    as_text,
    number_literal,
    number_text,
    parse_number,
    wrap,
)

_COMPARISONS: dict[str, type[exp.Binary]] = {
    "=": exp.EQ,
    "!=": exp.NEQ,
    "<": exp.LT,
    "<=": exp.LTE,
    ">": exp.GT,
    ">=": exp.GTE,
}
_ARITHMETIC: dict[str, type[exp.Binary]] = {
    "+": exp.Add,
    "-": exp.Sub,
    "*": exp.Mul,
    "/": exp.Div,
    "%": exp.Mod,
    "^": exp.Pow,
}
_PERIOD_HINT = "use a whole number and a unit: ms, s, m, h, d or w (e.g. 5m)"


class Mode(enum.Enum):
    ROW = "row"  # fields, filter, sort, stats ... by: no aggregates
    STATS = "stats"  # a stats item: fields only inside an aggregate
    AGGREGATE = "aggregate"  # inside an aggregate's arguments: no nested aggregate


class Scope(Protocol):
    dialect: Dialect

    def field(self, ref: nodes.FieldRef) -> Typed: ...

    def named(self, name: str) -> Typed | None:
        """A column of the stage known by exactly this name (e.g. 'count(*)' after stats), or None."""

    def timestamp(self, pos: nodes.Pos) -> Typed: ...


def _error(message: str, pos: nodes.Pos, hint: str | None = None) -> QueryError:
    return QueryError(message, pos.line, pos.column, hint)


class ExpressionCompiler:
    def __init__(self, scope: Scope, mode: Mode = Mode.ROW) -> None:
        self.scope = scope
        self.dialect = scope.dialect
        self.mode = mode

    def compile(self, node: nodes.Expr) -> Typed:
        match node:
            case nodes.FieldRef():
                return self._field(node)
            case nodes.Literal(value=str() as text):
                return Typed(exp.Literal.string(text), STR, text)
            case nodes.Literal(value=number):
                return Typed(exp.Literal.number(number), NUM, number)
            case nodes.Unary():
                return self._unary(node)
            case nodes.Binary():
                return self._binary(node)
            case nodes.Like():
                return self._like(node)
            case nodes.InList():
                return self._in(node)
            case nodes.Call():
                return self._call(node)
            case nodes.Regex():
                raise _error("a /regex/ goes after like, =~ or parse", node.pos)
            case nodes.Period():
                raise _error("a period such as 5m goes in bin(), datefloor() or dateceil()", node.pos)
            case nodes.Star():
                raise _error("* goes in count(*) only", node.pos)
        raise AssertionError(node)  # pragma: no cover

    def condition(self, node: nodes.Expr) -> exp.Expr:
        return as_bool(self.compile(node))

    # ---- leaves and operators ----

    def _field(self, ref: nodes.FieldRef) -> Typed:
        if self.mode is Mode.STATS:
            hint = f"aggregate it, e.g. count_distinct({ref.name}), or group by it: stats ... by {ref.name}"
            raise _error(f"field {ref.name!r} in stats must be inside an aggregate function", ref.pos, hint)
        return self.scope.field(ref)

    def _unary(self, node: nodes.Unary) -> Typed:
        operand = self.compile(node.operand)
        if node.op == "not":
            return Typed(exp.Not(this=wrap(as_bool(operand))), BOOL)
        if isinstance(operand.const, int | float):
            return Typed(number_literal(-operand.const), NUM, -operand.const)
        return Typed(exp.Neg(this=wrap(self._number(operand, node.pos))), NUM)

    def _binary(self, node: nodes.Binary) -> Typed:
        left, right = self.compile(node.left), self.compile(node.right)
        if node.op in ("and", "or"):
            kind = exp.And if node.op == "and" else exp.Or
            return Typed(kind(this=wrap(as_bool(left)), expression=wrap(as_bool(right))), BOOL)
        if node.op in _COMPARISONS:
            left, right = self._align(left, right, ordering=node.op not in ("=", "!="), pos=node.pos)
            return Typed(_COMPARISONS[node.op](this=wrap(left.sql), expression=wrap(right.sql)), BOOL)
        a, b = self._number(left, node.pos, node.op), self._number(right, node.pos, node.op)
        return Typed(_ARITHMETIC[node.op](this=wrap(a), expression=wrap(b)), NUM)

    def _number(self, typed: Typed, pos: nodes.Pos, op: str = "-") -> exp.Expr:
        if typed.kind == TIME:
            raise _error(
                "arithmetic on a time is not supported", pos, "toMillis(@timestamp) gives epoch milliseconds"
            )
        return as_number(typed, self._site(nodes.Call(op, (), pos, op)))

    def _like(self, node: nodes.Like) -> Typed:
        text = as_text(self.compile(node.operand))
        if isinstance(node.pattern, nodes.Regex):
            found: exp.Expr = exp.RegexpLike(
                this=text, expression=exp.Literal.string(to_re2(node.pattern.pattern))
            )
        else:
            position = exp.StrPosition(this=text, substr=exp.Literal.string(str(node.pattern.value)))
            found = exp.GT(this=position, expression=exp.Literal.number(0))
        return Typed(exp.Not(this=exp.Paren(this=found)) if node.negated else found, BOOL)

    def _in(self, node: nodes.InList) -> Typed:
        operand = self.compile(node.operand)
        if not node.items:
            return Typed(exp.Boolean(this=node.negated), BOOL)
        pairs = [
            self._align(operand, self.compile(item), ordering=False, pos=node.pos) for item in node.items
        ]
        if any(
            left.sql != operand.sql for left, _ in pairs
        ):  # the operand had to change: use text throughout
            operand = Typed(as_text(operand), STR)
            pairs = [(operand, Typed(as_text(right), STR)) for _, right in pairs]
        found = exp.In(this=wrap(operand.sql), expressions=[right.sql for _, right in pairs])
        return Typed(exp.Not(this=exp.Paren(this=found)) if node.negated else found, BOOL)

    # ---- type alignment ----

    def _align(self, left: Typed, right: Typed, *, ordering: bool, pos: nodes.Pos) -> tuple[Typed, Typed]:
        if left.kind == TIME and right.kind != TIME:
            return left, self._as_time(right, pos)
        if right.kind == TIME and left.kind != TIME:
            return self._as_time(left, pos), right
        if left.kind == STR and right.kind == NUM:
            return self._text_number(left, right, ordering, pos)
        if left.kind == NUM and right.kind == STR:
            b, a = self._text_number(right, left, ordering, pos)
            return a, b
        return left, right

    def _text_number(self, text: Typed, number: Typed, ordering: bool, pos: nodes.Pos) -> tuple[Typed, Typed]:
        if isinstance(text.const, str):
            value = parse_number(text.const)
            if value is not None:
                return Typed(number_literal(value), NUM, value), number
        if not ordering and isinstance(number.const, int | float):
            return text, Typed(exp.Literal.string(number_text(number.const)), STR, number_text(number.const))
        if isinstance(text.const, str):  # a non-numeric string against a number: compare as text
            return text, Typed(as_text(number), STR)
        return Typed(self._number(text, pos), NUM), number

    def _as_time(self, typed: Typed, pos: nodes.Pos) -> Typed:
        if isinstance(typed.const, int | float):
            moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=typed.const)
            return Typed(self.dialect.timestamp(moment), TIME)
        if isinstance(typed.const, str):
            return Typed(self.dialect.timestamp(_parse_time(typed.const, pos)), TIME)
        if typed.kind == NUM:
            return Typed(self.dialect.from_millis(typed.sql), TIME)
        return typed

    # ---- function calls ----

    def _call(self, call: nodes.Call) -> Typed:
        if self.mode is not Mode.STATS and (known := self.scope.named(call.text)) is not None:
            return known  # e.g. sort count(*) after stats count(*)
        spec = self._spec(call)
        if spec.aggregate and self.mode is Mode.ROW:
            hint = f"use it in stats: stats {call.text} by ..."
            raise _error(f"{call.name}() is an aggregate function and goes in stats", call.pos, hint)
        if spec.aggregate and self.mode is Mode.AGGREGATE:
            raise _error(f"{call.name}() cannot be nested in another aggregate function", call.pos)
        inner = ExpressionCompiler(self.scope, Mode.AGGREGATE if spec.aggregate else self.mode)
        args = [inner._argument(spec, index, arg) for index, arg in enumerate(call.args)]
        return spec.build(self._site(call), args)

    def _spec(self, call: nodes.Call) -> Spec:
        spec = FUNCTIONS.get(call.name.lower())
        if spec is None:
            hint = did_you_mean(call.name, FUNCTION_NAMES) or "see the function list in the query docs"
            raise _error(f"unknown function {call.name!r}", call.pos, hint)
        count = len(call.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            raise _error(
                f"{call.name}() got {count} argument{'s' * (count != 1)}", call.pos, f"usage: {spec.usage}"
            )
        return spec

    def _argument(self, spec: Spec, index: int, arg: nodes.Expr) -> Typed:
        if isinstance(arg, nodes.Star) and spec.star:
            return Typed(exp.Star(), STAR)
        if spec.period_at == index:
            if not isinstance(arg, nodes.Period):
                raise _error(
                    f"expected a period such as 5m, 1h or 1d; usage: {spec.usage}", _pos_of(arg), _PERIOD_HINT
                )
            return _period(arg)
        return self.compile(arg)

    def _site(self, call: nodes.Call) -> Site:
        return Site(call, self.dialect, lambda: self.scope.timestamp(call.pos))


def _period(node: nodes.Period) -> Typed:
    if node.unit not in PERIOD_UNITS or node.amount <= 0:
        raise _error(f"bad period {node.amount}{node.unit}", node.pos, _PERIOD_HINT)
    return Typed(exp.Null(), PERIOD, (node.amount, node.unit))


def _parse_time(text: str, pos: nodes.Pos) -> dt.datetime:
    try:
        return to_utc_naive(dt.datetime.fromisoformat(text.strip()))
    except ValueError:
        number = parse_number(text)
        if number is not None:
            return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=number)
        raise _error(
            f"{text!r} is not a time", pos, "use epoch milliseconds or ISO 8601, e.g. '2024-01-31T12:00:00Z'"
        ) from None


def _pos_of(node: nodes.Expr) -> nodes.Pos:
    return node.pos
