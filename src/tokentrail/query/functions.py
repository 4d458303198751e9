"""The Insights functions: name → how many arguments, and how to build its SQL.

Function names are case-insensitive (``fromMillis`` = ``frommillis``). `FUNCTIONS` is the registry; the
expression compiler checks the argument count and whether an aggregate may appear, then calls ``build``
with the compiled arguments.

Semantics worth knowing: ``substr`` counts from 0 as in Insights; ``log`` is the natural logarithm;
``strcontains`` answers 1 or 0; ``concat`` treats a missing value as ''; ``greatest``/``least`` are null
when any argument is null; ``pct`` is ``quantile_cont`` on DuckDB and ``quantile`` on ClickHouse;
``earliest``/``latest`` take the value at the first/last ``@timestamp``; ``bin`` buckets ``@timestamp``
from the Unix epoch (weeks from Monday).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final

from sqlglot import exp

from tokentrail.query import nodes
from tokentrail.query.dialects import Dialect
from tokentrail.query.errors import QueryError
from tokentrail.query.typed import (
    ANY,
    BOOL,
    NUM,
    STR,
    TIME,
    Typed,
    as_text,
    number_literal,
    parse_number,
    wrap,
)


@dataclasses.dataclass(frozen=True, slots=True)
class Site:
    """Where a function is called: for errors, the dialect, and the time column of the stage."""

    call: nodes.Call
    dialect: Dialect
    timestamp: Callable[[], Typed]

    def error(self, message: str, hint: str | None = None) -> QueryError:
        return QueryError(message, self.call.pos.line, self.call.pos.column, hint)

    @property
    def label(self) -> str:
        """How errors name the caller: 'sum()', or the operator for arithmetic ("'+'")."""
        name = self.call.name
        return f"'{name}'" if not name[:1].isalpha() else f"{name}()"


Builder = Callable[[Site, list[Typed]], Typed]


@dataclasses.dataclass(frozen=True, slots=True)
class Spec:
    usage: str
    min_args: int
    max_args: int | None  # None: any number
    build: Builder
    aggregate: bool = False
    period_at: int | None = None  # index of the argument that must be a period (5m)
    star: bool = False  # accepts count(*)


def as_number(typed: Typed, site: Site) -> exp.Expr:
    """A numeric operand: text is converted (null when not a number); times and lists are refused."""
    if typed.kind == STR:
        if isinstance(typed.const, str):
            number = parse_number(typed.const)
            return exp.Null() if number is None else number_literal(number)
        return site.dialect.to_number(typed.sql)
    if typed.kind == BOOL:
        return exp.cast(typed.sql, "INT")
    if typed.kind not in (NUM, ANY):
        raise site.error(
            f"{site.label} needs a number, not a {typed.kind}",
            "toMillis(t) turns a time into a number" if typed.kind == TIME else None,
        )
    return typed.sql


def as_time(typed: Typed, site: Site) -> exp.Expr:
    if typed.kind == TIME:
        return typed.sql
    if typed.kind == NUM:
        return site.dialect.from_millis(typed.sql)
    raise site.error(
        f"{site.label} needs a time such as @timestamp", "fromMillis(n) turns epoch ms into a time"
    )


# ---- numeric -----------------------------------------------------------------------------------


def _numeric(make: Callable[[list[exp.Expr]], exp.Expr]) -> Builder:
    return lambda site, args: Typed(make([as_number(a, site) for a in args]), NUM)


def _greatest(kind: type[exp.Greatest] | type[exp.Least]) -> Builder:
    return _numeric(lambda xs: kind(this=xs[0], expressions=xs[1:]))


# ---- strings -----------------------------------------------------------------------------------


def _concat(site: Site, args: list[Typed]) -> Typed:
    parts = [exp.Coalesce(this=as_text(a), expressions=[exp.Literal.string("")]) for a in args]
    return Typed(exp.Anonymous(this="concat", expressions=parts), STR)


def _trim(position: str) -> Builder:
    def build(site: Site, args: list[Typed]) -> Typed:
        chars = as_text(args[1]) if len(args) > 1 else None
        return Typed(exp.Trim(this=as_text(args[0]), expression=chars, position=position), STR)

    return build


def _substr(site: Site, args: list[Typed]) -> Typed:
    start = args[1]
    if isinstance(start.const, int):
        first: exp.Expr = exp.Literal.number(start.const + 1)
    else:  # Insights counts from 0, SQL from 1
        first = exp.cast(
            exp.Add(this=wrap(as_number(start, site)), expression=exp.Literal.number(1)), "BIGINT"
        )
    length = exp.cast(as_number(args[2], site), "BIGINT") if len(args) > 2 else None
    return Typed(exp.Substring(this=as_text(args[0]), start=first, length=length), STR)


def _replace(site: Site, args: list[Typed]) -> Typed:
    return Typed(exp.Anonymous(this="replace", expressions=[as_text(a) for a in args]), STR)


def _strcontains(site: Site, args: list[Typed]) -> Typed:
    found = exp.GT(
        this=exp.StrPosition(this=as_text(args[0]), substr=as_text(args[1])), expression=exp.Literal.number(0)
    )
    return Typed(exp.case().when(found, exp.Literal.number(1)).else_(exp.Literal.number(0)), NUM)


def _is_null(typed: Typed) -> exp.Expr:
    return exp.Is(this=wrap(typed.sql), expression=exp.Null())


def _ispresent(site: Site, args: list[Typed]) -> Typed:
    return Typed(exp.Not(this=exp.Paren(this=_is_null(args[0]))), BOOL)


def _isempty(site: Site, args: list[Typed]) -> Typed:
    empty = exp.EQ(this=as_text(args[0]), expression=exp.Literal.string(""))
    return Typed(exp.Paren(this=exp.Or(this=_is_null(args[0]), expression=empty)), BOOL)


def _isblank(site: Site, args: list[Typed]) -> Typed:
    blank = exp.Not(this=exp.RegexpLike(this=as_text(args[0]), expression=exp.Literal.string(r"\S")))
    return Typed(exp.Paren(this=exp.Or(this=_is_null(args[0]), expression=blank)), BOOL)


def _coalesce(site: Site, args: list[Typed]) -> Typed:
    kinds = {a.kind for a in args} - {ANY}
    if len(kinds) == 1:
        (kind,) = kinds
        values = [a.sql for a in args]
    elif kinds <= {NUM, BOOL}:
        kind, values = NUM, [as_number(a, site) for a in args]
    else:
        kind, values = STR, [as_text(a) for a in args]
    return Typed(exp.Coalesce(this=values[0], expressions=values[1:]), kind or ANY)


# ---- time --------------------------------------------------------------------------------------


def _period(typed: Typed) -> tuple[int, str]:
    assert isinstance(typed.const, tuple)
    return typed.const


def _bin(site: Site, args: list[Typed]) -> Typed:
    amount, unit = _period(args[0])
    return Typed(site.dialect.bucket(site.timestamp().sql, amount, unit), TIME)


def _datefloor(site: Site, args: list[Typed]) -> Typed:
    amount, unit = _period(args[1])
    return Typed(site.dialect.bucket(as_time(args[0], site), amount, unit), TIME)


def _dateceil(site: Site, args: list[Typed]) -> Typed:
    amount, unit = _period(args[1])
    ts = as_time(args[0], site)
    floor = site.dialect.bucket(ts.copy(), amount, unit)
    exact = exp.EQ(this=floor, expression=ts.copy())
    ceil = exp.case().when(exact, ts.copy()).else_(site.dialect.shift(floor.copy(), amount, unit))
    return Typed(ceil, TIME)


def _from_millis(site: Site, args: list[Typed]) -> Typed:
    return Typed(site.dialect.from_millis(as_number(args[0], site)), TIME)


def _to_millis(site: Site, args: list[Typed]) -> Typed:
    if args[0].kind != TIME:
        raise site.error("toMillis() needs a time such as @timestamp")
    return Typed(site.dialect.to_millis(args[0].sql), NUM)


# ---- aggregates --------------------------------------------------------------------------------


def _count(site: Site, args: list[Typed]) -> Typed:
    if not args or args[0].kind == "star":
        return Typed(exp.Count(this=exp.Star()), NUM)
    return Typed(exp.Count(this=args[0].sql), NUM)


def _count_distinct(site: Site, args: list[Typed]) -> Typed:
    return Typed(exp.Count(this=exp.Distinct(expressions=[args[0].sql])), NUM)


def _keep_kind(kind: type[exp.Min] | type[exp.Max]) -> Builder:
    return lambda site, args: Typed(kind(this=args[0].sql), args[0].kind)


def _pct(site: Site, args: list[Typed]) -> Typed:
    level = args[1].const
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 <= level <= 100:
        raise site.error(
            "pct() needs a percentile from 0 to 100 as its second argument", "e.g. pct(latency, 95)"
        )
    return Typed(site.dialect.percentile(as_number(args[0], site), level / 100), NUM)


def _arg_at(kind: type[exp.ArgMin] | type[exp.ArgMax]) -> Builder:
    def build(site: Site, args: list[Typed]) -> Typed:
        return Typed(kind(this=args[0].sql, expression=site.timestamp().sql), args[0].kind)

    return build


def _agg(usage: str, build: Builder, *, star: bool = False) -> Spec:
    low = 0 if star else 1
    return Spec(usage, low, 1, build, aggregate=True, star=star)


FUNCTIONS: Final[dict[str, Spec]] = {
    # numeric
    "abs": Spec("abs(n)", 1, 1, _numeric(lambda xs: exp.Abs(this=xs[0]))),
    "ceil": Spec("ceil(n)", 1, 1, _numeric(lambda xs: exp.Ceil(this=xs[0]))),
    "floor": Spec("floor(n)", 1, 1, _numeric(lambda xs: exp.Floor(this=xs[0]))),
    "greatest": Spec("greatest(n, ...)", 1, None, _greatest(exp.Greatest)),
    "least": Spec("least(n, ...)", 1, None, _greatest(exp.Least)),
    "log": Spec("log(n)", 1, 1, _numeric(lambda xs: exp.Ln(this=xs[0]))),
    "sqrt": Spec("sqrt(n)", 1, 1, _numeric(lambda xs: exp.Sqrt(this=xs[0]))),
    "pow": Spec("pow(base, exponent)", 2, 2, _numeric(lambda xs: exp.Pow(this=xs[0], expression=xs[1]))),
    # strings and general
    "strlen": Spec("strlen(s)", 1, 1, lambda site, a: Typed(exp.Length(this=as_text(a[0])), NUM)),
    "toupper": Spec("toupper(s)", 1, 1, lambda site, a: Typed(exp.Upper(this=as_text(a[0])), STR)),
    "tolower": Spec("tolower(s)", 1, 1, lambda site, a: Typed(exp.Lower(this=as_text(a[0])), STR)),
    "concat": Spec("concat(s, ...)", 1, None, _concat),
    "trim": Spec("trim(s[, chars])", 1, 2, _trim("BOTH")),
    "ltrim": Spec("ltrim(s[, chars])", 1, 2, _trim("LEADING")),
    "rtrim": Spec("rtrim(s[, chars])", 1, 2, _trim("TRAILING")),
    "substr": Spec("substr(s, start[, length]) (start counts from 0)", 2, 3, _substr),
    "replace": Spec("replace(s, search, replacement)", 3, 3, _replace),
    "strcontains": Spec("strcontains(s, search)", 2, 2, _strcontains),
    "ispresent": Spec("ispresent(field)", 1, 1, _ispresent),
    "isempty": Spec("isempty(field)", 1, 1, _isempty),
    "isblank": Spec("isblank(field)", 1, 1, _isblank),
    "coalesce": Spec("coalesce(a, b, ...)", 1, None, _coalesce),
    # time
    "bin": Spec("bin(period), e.g. bin(5m)", 1, 1, _bin, period_at=0),
    "datefloor": Spec("datefloor(time, period)", 2, 2, _datefloor, period_at=1),
    "dateceil": Spec("dateceil(time, period)", 2, 2, _dateceil, period_at=1),
    "frommillis": Spec("fromMillis(epoch_ms)", 1, 1, _from_millis),
    "tomillis": Spec("toMillis(time)", 1, 1, _to_millis),
    # aggregates (stats only)
    "count": _agg("count(*) or count(field)", _count, star=True),
    "count_distinct": _agg("count_distinct(field)", _count_distinct),
    "sum": _agg("sum(n)", _numeric(lambda xs: exp.Sum(this=xs[0]))),
    "avg": _agg("avg(n)", _numeric(lambda xs: exp.Avg(this=xs[0]))),
    "min": _agg("min(field)", _keep_kind(exp.Min)),
    "max": _agg("max(field)", _keep_kind(exp.Max)),
    "stddev": _agg("stddev(n)", _numeric(lambda xs: exp.Stddev(this=xs[0]))),
    "pct": Spec("pct(n, percentile), e.g. pct(latency, 95)", 2, 2, _pct, aggregate=True),
    "earliest": _agg("earliest(field)", _arg_at(exp.ArgMin)),
    "latest": _agg("latest(field)", _arg_at(exp.ArgMax)),
}

FUNCTION_NAMES: Final = (
    "fromMillis",
    "toMillis",
    *(n for n in FUNCTIONS if n not in ("frommillis", "tomillis")),
)
