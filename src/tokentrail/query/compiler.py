"""A parsed query → one SQL SELECT, for DuckDB or ClickHouse.

Each command is a stage that wraps the SELECT built so far as a subquery (``FROM (...) AS tN``):

- before the first ``stats`` the relation is the rows of ``calls`` (or ``spans``) in the time range, plus the
  fields that ``fields ... as``, ``parse`` and ``sort`` add; native columns and aliases (`fields.py`) stay
  usable;
- ``stats`` replaces the relation with its result: only its output names are fields after it, so a second
  ``stats`` or a ``sort``/``filter`` works on the first one's results;
- the last stage picks the displayed fields, orders (``sort``, else newest ``@timestamp`` first, or by the
  ``by`` fields after stats) and limits the rows.

Every new column gets a SQL name that no column of the relation has, compared without case (DuckDB
identifiers ignore case; ClickHouse aliases shadow columns), and every column reference is qualified by
the stage's alias. Values in the query become sqlglot literals; no user text is formatted into SQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from sqlglot import exp

from tokentrail import model
from tokentrail.query import fields, nodes
from tokentrail.query.dialects import DIALECTS, Dialect, to_utc_naive
from tokentrail.query.errors import QueryError
from tokentrail.query.expressions import ExpressionCompiler, Mode
from tokentrail.query.parser import parse, to_re2
from tokentrail.query.typed import Typed, as_text

DEFAULT_LIMIT = 10_000
SOURCES = ("calls", "spans")
DEFAULT_DISPLAY = ("@timestamp", "@message")


@dataclasses.dataclass(frozen=True, slots=True)
class CompiledQuery:
    """The SQL of a query (literals inlined, so ``params`` is empty) and the names of its result columns."""

    sql: str
    params: list[Any]
    columns: list[str]


@dataclasses.dataclass(frozen=True, slots=True)
class _Column:
    sql: str
    kind: str


def compile_query(
    text: str | nodes.Query,
    dialect: str = "duckdb",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    source: str = "calls",
) -> CompiledQuery:
    """Compile a query to SQL for ``dialect`` over ``source`` rows with ``start <= start_time < end``.

    ``limit`` is the default and the largest number of rows returned; a larger ``limit`` command is capped.
    Times without a time zone are UTC. Raises `QueryError` for a bad query or bad options.
    """
    if dialect not in DIALECTS:
        raise QueryError(f"unknown dialect {dialect!r}", hint="use one of: " + ", ".join(DIALECTS))
    if source not in SOURCES:
        raise QueryError(f"unknown source {source!r}", hint="use calls (LLM calls) or spans (every span)")
    if limit < 1:
        raise QueryError(f"the row limit must be at least 1, not {limit}")
    start = None if start is None else to_utc_naive(start)
    end = None if end is None else to_utc_naive(end)
    if start is not None and end is not None and start > end:
        raise QueryError("the time range ends before it starts", hint="swap start and end")
    query = parse(text) if isinstance(text, str) else text
    pipeline = _Pipeline(DIALECTS[dialect], source, start, end, limit)
    for command in query.commands:
        pipeline.apply(command)
    return pipeline.finish()


def compile_filter(text: str, dialect: str = "duckdb", source: str = "calls") -> exp.Select:
    """The rows of ``source`` that one ``filter`` condition keeps, as a sqlglot SELECT to nest in other SQL.

    ``text`` is the condition alone (``feature = "summarize" and status = "error"``); anything else than
    one condition (a second command after ``|``) raises `QueryError`.
    """
    if dialect not in DIALECTS:
        raise QueryError(f"unknown dialect {dialect!r}", hint="use one of: " + ", ".join(DIALECTS))
    query = parse(f"filter {text}")
    if len(query.commands) != 1 or not isinstance(query.commands[0], nodes.Filter):
        raise QueryError("expected one filter condition, without | and other commands")
    pipeline = _Pipeline(DIALECTS[dialect], source, None, None, DEFAULT_LIMIT)
    pipeline.apply(query.commands[0])
    return pipeline.select


class _StageScope:
    """Names as one stage sees them: its input relation is aliased ``alias``."""

    def __init__(self, pipeline: _Pipeline, alias: str) -> None:
        self._pipeline = pipeline
        self.alias = alias
        self.dialect: Dialect = pipeline.dialect

    def column(self, name: str) -> exp.Expr:
        return exp.column(name, table=self.alias, quoted=True)

    def named(self, name: str) -> Typed | None:
        found = self._pipeline.names.get(name)
        return None if found is None else Typed(self.column(found.sql), found.kind)

    def field(self, ref: nodes.FieldRef) -> Typed:
        known = self.named(ref.name)
        if known is not None:
            return known
        if self._pipeline.native:
            resolved = fields.resolve(ref.name, self, ref.pos)
            if resolved is not None:
                return resolved
        raise self._unknown(ref)

    def timestamp(self, pos: nodes.Pos) -> Typed:
        if not self._pipeline.native:
            hint = "put bin(), earliest() and latest() in the first stats"
            raise QueryError("@timestamp is not available after stats", pos.line, pos.column, hint)
        return Typed(self.column("start_time"), "time")

    def _unknown(self, ref: nodes.FieldRef) -> QueryError:
        mine = list(self._pipeline.names)
        if self._pipeline.native:
            hint = fields.did_you_mean(ref.name, fields.known_names(mine))
        else:
            hint = fields.did_you_mean(
                ref.name, mine
            ) or "after stats only its results are fields: " + ", ".join(mine)
        return QueryError(f"unknown field {ref.name!r}", ref.pos.line, ref.pos.column, hint)


class _Pipeline:
    def __init__(
        self, dialect: Dialect, source: str, start: dt.datetime | None, end: dt.datetime | None, cap: int
    ):
        self.dialect = dialect
        self.cap = cap
        self.names: dict[str, _Column] = {}  # fields the query defined, by the name it uses
        self.taken = {name.lower() for name in model.COLUMN_NAMES}  # SQL names in the relation
        self.native = True  # native columns and aliases are available (no stats yet)
        self.display: list[str] = []
        self.order: list[tuple[str, bool]] | None = None  # (SQL name, descending)
        self.group_keys: list[str] = []
        self.pending_limit: int | None = None
        self._stages = 0
        self.select = self._base(source, start, end)

    def _base(self, source: str, start: dt.datetime | None, end: dt.datetime | None) -> exp.Select:
        select = exp.select(exp.Star()).from_(exp.to_table(source))
        ts = exp.column("start_time", quoted=True)
        if start is not None:
            select = select.where(
                exp.GTE(this=ts.copy(), expression=self.dialect.timestamp(start)), copy=False
            )
        if end is not None:
            select = select.where(exp.LT(this=ts.copy(), expression=self.dialect.timestamp(end)), copy=False)
        return select

    # ---- plumbing ----

    def _next(self) -> _StageScope:
        self._stages += 1
        return _StageScope(self, f"t{self._stages}")

    def _from(self, scope: _StageScope, *projections: exp.Expr) -> exp.Select:
        subquery = self.select.subquery(scope.alias, copy=False)
        return exp.select(*(projections or (exp.Star(),))).from_(subquery, copy=False)

    def _fresh(self, name: str) -> str:
        """A SQL column name for ``name`` that the relation does not have yet (ignoring case)."""
        candidate, n = name, 1
        while candidate.lower() in self.taken:
            n += 1
            candidate = f"{name}_{n}"
        self.taken.add(candidate.lower())
        return candidate

    def _add(self, scope: _StageScope, new: list[tuple[str, Typed]], show: bool = True) -> None:
        projections: list[exp.Expr] = [exp.Star()]
        for name, typed in new:
            column = _Column(self._fresh(name), typed.kind)
            projections.append(exp.alias_(typed.sql, column.sql, quoted=True))
            self.names[name] = column
            if show:
                self._show(name)
        self.select = self._from(scope, *projections)

    def _show(self, name: str) -> None:
        if name not in self.display:
            self.display.append(name)

    def _ordering(self, scope: _StageScope) -> list[exp.Ordered]:
        if self.order is not None:
            keys = self.order
        elif self.native:
            keys = [("start_time", True)]
        else:
            keys = [(key, False) for key in self.group_keys]
        return [exp.Ordered(this=scope.column(sql), desc=desc, nulls_first=False) for sql, desc in keys]

    def _flush_limit(self) -> None:
        if self.pending_limit is not None:
            scope = self._next()
            ordered = _order(self._from(scope), self._ordering(scope))
            self.select = ordered.limit(min(self.pending_limit, self.cap), copy=False)
            self.pending_limit = None

    # ---- commands ----

    def apply(self, command: nodes.Command) -> None:
        self._flush_limit()
        match command:
            case nodes.Fields():
                self._fields(command)
            case nodes.Display():
                self._display(command)
            case nodes.Filter():
                scope = self._next()
                condition = ExpressionCompiler(scope).condition(command.condition)
                self.select = self._from(scope).where(condition, copy=False)
            case nodes.Stats():
                self._stats(command)
            case nodes.Sort():
                self._sort(command)
            case nodes.Limit():
                self.pending_limit = command.count
            case nodes.Parse():
                self._parse(command)
            case nodes.Dedup():
                self._dedup(command)

    def _fields(self, command: nodes.Fields) -> None:
        scope = self._next()
        new: list[tuple[str, Typed]] = []
        for item in command.items:
            if item.alias is None and isinstance(item.expr, nodes.FieldRef):
                scope.field(item.expr)  # check that it exists
            else:
                new.append((item.name, ExpressionCompiler(scope).compile(item.expr)))
        if new:
            self._add(scope, new, show=False)
        for item in command.items:
            self._show(item.name)

    def _display(self, command: nodes.Display) -> None:
        scope = self._next()
        for ref in command.fields:
            scope.field(ref)
        self.display = list(dict.fromkeys(ref.name for ref in command.fields))

    def _stats(self, command: nodes.Stats) -> None:
        scope = self._next()
        by = [(p.name, ExpressionCompiler(scope).compile(p.expr)) for p in command.by]
        aggregates = [
            (p.name, ExpressionCompiler(scope, Mode.STATS).compile(p.expr)) for p in command.aggregates
        ]
        _check_unique([p.name for p in (*command.by, *command.aggregates)], command.pos)
        self.names, self.taken, self.display = {}, set(), []
        projections = []
        for name, typed in (*by, *aggregates):
            column = _Column(self._fresh(name), typed.kind)
            self.names[name] = column
            self.display.append(name)
            projections.append(exp.alias_(typed.sql, column.sql, quoted=True))
        select = self._from(scope, *projections)
        if by:
            select = select.group_by(*(typed.sql.copy() for _, typed in by), copy=False)
        self.select = select
        self.native, self.order = False, None
        self.group_keys = [self.names[name].sql for name, _ in by]

    def _sort(self, command: nodes.Sort) -> None:
        scope = self._next()
        keys: list[tuple[str, bool]] = []
        hidden: list[tuple[str, Typed]] = []
        for key in command.keys:
            typed = ExpressionCompiler(scope).compile(key.expr)
            if isinstance(typed.sql, exp.Column) and typed.sql.table == scope.alias:
                keys.append((typed.sql.name, key.descending))
            else:  # an expression: computed as a hidden column of the relation
                name = f"__sort_{self._stages}_{len(hidden)}"
                hidden.append((name, typed))
                keys.append((name, key.descending))
        if hidden:
            self._add(scope, hidden, show=False)
            renamed = {name: self.names.pop(name).sql for name, _ in hidden}
            keys = [(renamed.get(sql, sql), desc) for sql, desc in keys]
        self.order = keys

    def _parse(self, command: nodes.Parse) -> None:
        scope = self._next()
        text = as_text(scope.field(_as_ref(command.source)))
        pattern, groups = _parse_pattern(command)
        matched = exp.RegexpLike(this=text, expression=exp.Literal.string(pattern))
        new = []
        for name, group in zip(command.names, groups, strict=True):
            value = self.dialect.regexp_extract(text.copy(), pattern, group)
            new.append((name, Typed(exp.case().when(matched.copy(), value), "str")))
        self._add(scope, new)

    def _dedup(self, command: nodes.Dedup) -> None:
        scope = self._next()
        keys = [scope.field(ref).sql for ref in command.fields]
        nulls = [exp.Is(this=key.copy(), expression=exp.Null()) for key in keys]
        order = self._ordering(scope)
        rank = exp.Window(
            this=exp.RowNumber(),
            partition_by=keys,
            order=exp.Order(expressions=order) if order else None,
        )
        any_null = exp.or_(*nulls) if len(nulls) > 1 else nulls[0]
        flag = exp.case().when(any_null, exp.Literal.number(1)).else_(rank)  # nulls are never deduplicated
        name = f"__rank_{self._stages}"
        self._add(scope, [(name, Typed(flag, "num"))], show=False)
        column = self.names.pop(name).sql
        outer = self._next()
        keep = exp.EQ(this=outer.column(column), expression=exp.Literal.number(1))
        self.select = self._from(outer).where(keep, copy=False)

    # ---- the last stage ----

    def finish(self) -> CompiledQuery:
        scope = self._next()
        names = self.display or (list(DEFAULT_DISPLAY) if self.native else [])
        projections = [exp.alias_(scope.field(_as_ref(name)).sql, name, quoted=True) for name in names]
        limit = min(self.pending_limit or self.cap, self.cap)
        select = _order(self._from(scope, *projections), self._ordering(scope)).limit(limit, copy=False)
        return CompiledQuery(select.sql(dialect=self.dialect.name, pretty=True), [], names)


def _order(select: exp.Select, ordering: list[exp.Ordered]) -> exp.Select:
    return select.order_by(*ordering, copy=False) if ordering else select


def _as_ref(value: nodes.Expr | str) -> nodes.FieldRef:
    if isinstance(value, str):
        return nodes.FieldRef(value, nodes.Pos(1, 1))
    assert isinstance(value, nodes.FieldRef)
    return value


def _check_unique(names: list[str], pos: nodes.Pos) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            other = re.sub(r"\W+", "_", name).strip("_") or "x"
            hint = f"name them apart with as, e.g. ... as {other}2"
            raise QueryError(f"stats has two columns named {name!r}", pos.line, pos.column, hint)
        seen.add(name)


_REGEX_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def glob_to_regex(glob: str) -> str:
    """An Insights parse glob → a regex: each ``*`` captures (lazily; the last one greedily)."""
    parts = ["".join("\\" + c if c in _REGEX_SPECIAL else c for c in part) for part in glob.split("*")]
    captures = ["(.*?)"] * (len(parts) - 2) + ["(.*)"] if len(parts) > 1 else []
    return "".join(part + capture for part, capture in zip(parts, [*captures, ""], strict=True))


def _parse_pattern(command: nodes.Parse) -> tuple[str, list[int]]:
    if not command.is_regex:
        return glob_to_regex(command.pattern), list(range(1, len(command.names) + 1))
    pattern = to_re2(command.pattern)
    index = re.compile(pattern).groupindex
    return pattern, [index[name] for name in command.names]
