"""Text → `nodes.Query`, with the grammar in ``insights.lark``.

Syntax errors become `QueryError` with the line, column and a hint built from what the parser expected.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from typing import Any

import lark
from lark import Token, Transformer, v_args
from lark.tree import Meta

from tokentrail.query import nodes
from tokentrail.query.errors import QueryError

_COMMANDS_HINT = (
    "a query is commands joined by '|': fields, display, filter, stats, sort, limit, parse, dedup"
)

_TERMINAL_NAMES = {
    "FIELD": "a field name",
    "BACKTICKED": "a `quoted field`",
    "NUMBER": "a number",
    "STRING": 'a "string"',
    "REGEX": "a /regex/",
    "PERIOD": "a period such as 5m",
    "COMPARE": "a comparison (= != < <= > >=)",
    "DIRECTION": "asc or desc",
    "$END": "the end of the query",
}


@functools.cache
def _lark() -> lark.Lark:
    grammar = importlib.resources.files("tokentrail.query").joinpath("insights.lark").read_text("utf-8")
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def parse(text: str) -> nodes.Query:
    """Parse a query into its syntax tree; raise `QueryError` on a syntax error."""
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise QueryError("the query is empty", hint=_COMMANDS_HINT)
    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    try:
        query = _ToNodes(text).transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, QueryError):
            raise exc.orig_exc from None
        raise
    assert isinstance(query, nodes.Query)
    return query


# ---- syntax errors -----------------------------------------------------------------------------


def _syntax_error(exc: lark.exceptions.UnexpectedInput, text: str) -> QueryError:
    line, column = _position(exc, text)
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        char = exc.char
        message = f"unexpected character {char!r}"
        hint = _char_hint(char) or _expected_hint(exc.allowed or set())
        return QueryError(message, line, column, hint)
    token = getattr(exc, "token", None)
    expected = _expected(exc)
    if token is None or token.type == "$END":
        line, column = _end_position(text)
        return QueryError("unexpected end of query", line, column, _expected_hint(expected))
    message = f"unexpected {token.value!r}"
    return QueryError(message, line, column, _token_hint(str(token.value), expected))


def _expected(exc: lark.exceptions.UnexpectedInput) -> set[str]:
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        return set(exc.accepts or exc.expected)  # accepts: exact for the parser's state stack
    return set(getattr(exc, "expected", None) or ())


def _position(exc: lark.exceptions.UnexpectedInput, text: str) -> tuple[int, int]:
    line, column = getattr(exc, "line", -1), getattr(exc, "column", -1)
    if isinstance(line, int) and line > 0 and isinstance(column, int):
        return line, column
    return _end_position(text)


def _end_position(text: str) -> tuple[int, int]:
    """Just after the last character that is not blank or a comment."""
    lines = ["" if line.lstrip().startswith("#") else line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return (len(lines), len(lines[-1]) + 1) if lines else (1, 1)


def _char_hint(char: str) -> str | None:
    if char in "\"'":
        return "close the string with a matching quote on the same line"
    if char in "&|":
        return "use 'and' and 'or' for boolean logic"
    if char == "`":
        return "close the `quoted field` with a backtick"
    return None


def _token_hint(value: str, expected: set[str]) -> str:
    if value == "=" and "COMPARE" not in expected:
        return "compare with a single '=' (there is no '==')"
    if {"_FIELDS", "_FILTER", "_STATS"} & expected:
        return _COMMANDS_HINT
    return _expected_hint(expected)


_OPERATORS = frozenset(
    {"PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "CARET", "COMPARE", "_MATCH", "_LIKE", "_IN", "_AND", "_OR"}
)


def _expected_hint(expected: set[str]) -> str:
    names = sorted({_describe(name) for name in expected - _OPERATORS - {"NOT"}})
    if expected & _OPERATORS:
        names.append("an operator")
    if not names:
        return "check the syntax near this position"
    return "expected " + ", ".join(names)


def _describe(terminal: str) -> str:
    if terminal in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[terminal]
    for term in _lark().terminals:
        if term.name == terminal:
            value = term.pattern.value
            return f"'{value}'"
    return terminal.lower()


# ---- tree → nodes ------------------------------------------------------------------------------


def _pos(item: Meta | Token) -> nodes.Pos:
    return nodes.Pos(item.line or 0, item.column or 0)


def _unquote_string(token: Token) -> str:
    body = str(token)[1:-1]
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), body)


def _unquote_regex(token: Token) -> str:
    return str(token)[1:-1].replace("\\/", "/")


def _name(token: Token) -> str:
    text = str(token)
    return text[1:-1] if token.type == "BACKTICKED" else text


@v_args(meta=True)
class _ToNodes(Transformer[Token, Any]):
    """Builds `nodes` from lark's parse tree; ``text`` is the query, for the as-written names."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def _source(self, meta: Meta) -> str:
        return " ".join(self._text[meta.start_pos : meta.end_pos].split())

    # commands
    def start(self, meta: Meta, children: list[Any]) -> nodes.Query:
        return nodes.Query(tuple(children))

    def fields_cmd(self, meta: Meta, children: list[Any]) -> nodes.Fields:
        return nodes.Fields(tuple(children), _pos(meta))

    def display_cmd(self, meta: Meta, children: list[Any]) -> nodes.Display:
        return nodes.Display(tuple(children), _pos(meta))

    def filter_cmd(self, meta: Meta, children: list[Any]) -> nodes.Filter:
        return nodes.Filter(children[0], _pos(meta))

    def stats_cmd(self, meta: Meta, children: list[Any]) -> nodes.Stats:
        aggregates, by = children
        return nodes.Stats(tuple(aggregates), tuple(by or ()), _pos(meta))

    def stats_items(self, meta: Meta, children: list[Any]) -> list[nodes.Projection]:
        return children

    by_items = stats_items

    def sort_cmd(self, meta: Meta, children: list[Any]) -> nodes.Sort:
        return nodes.Sort(tuple(children), _pos(meta))

    def sort_key(self, meta: Meta, children: list[Any]) -> nodes.SortKey:
        expr, direction = children
        return nodes.SortKey(expr, direction is not None and str(direction).lower() == "desc")

    def limit_cmd(self, meta: Meta, children: list[Any]) -> nodes.Limit:
        (token,) = children
        if not str(token).isdigit() or int(token) < 1:
            raise QueryError(f"limit needs a whole number of rows, not {token}", *_xy(token), "e.g. limit 25")
        return nodes.Limit(int(token), _pos(meta))

    def parse_glob(self, meta: Meta, children: list[Any]) -> nodes.Parse:
        source, pattern, *names = children
        glob = _unquote_string(pattern)
        stars = glob.count("*")
        if stars != len(names):
            hint = f"give one name after 'as' for each '*' of the pattern ({stars})"
            raise QueryError(f"parse has {len(names)} names for {stars} '*'", *_xy(pattern), hint)
        return nodes.Parse(source, glob, False, tuple(names), _pos(meta))

    def parse_regex(self, meta: Meta, children: list[Any]) -> nodes.Parse:
        source, token = children
        pattern = _unquote_regex(token)
        names = regex_group_names(pattern, token)
        return nodes.Parse(source, pattern, True, names, _pos(meta))

    def parse_source(self, meta: Meta, children: list[Any]) -> nodes.FieldRef:
        return nodes.FieldRef(_name(children[0]), _pos(meta))

    def dedup_cmd(self, meta: Meta, children: list[Any]) -> nodes.Dedup:
        return nodes.Dedup(tuple(children), _pos(meta))

    def projection(self, meta: Meta, children: list[Any]) -> nodes.Projection:
        expr, alias = children
        return nodes.Projection(expr, alias, self._source(meta))

    def name(self, meta: Meta, children: list[Any]) -> str:
        return _name(children[0])

    # expressions
    def or_op(self, meta: Meta, children: list[Any]) -> nodes.Binary:
        return nodes.Binary("or", children[0], children[1], _pos(meta))

    def and_op(self, meta: Meta, children: list[Any]) -> nodes.Binary:
        return nodes.Binary("and", children[0], children[1], _pos(meta))

    def not_op(self, meta: Meta, children: list[Any]) -> nodes.Unary:
        return nodes.Unary("not", children[1], _pos(meta))

    def compare(self, meta: Meta, children: list[Any]) -> nodes.Binary:
        left, op, right = children
        return nodes.Binary(str(op), left, right, _pos(op))

    def arith(self, meta: Meta, children: list[Any]) -> nodes.Binary:
        left, op, right = children
        return nodes.Binary(str(op), left, right, _pos(op))

    def neg(self, meta: Meta, children: list[Any]) -> nodes.Unary:
        return nodes.Unary("-", children[1], _pos(meta))

    def like(self, meta: Meta, children: list[Any]) -> nodes.Like:
        operand, negated, pattern = children
        return nodes.Like(operand, self._pattern(pattern), negated is not None, _pos(meta))

    def match(self, meta: Meta, children: list[Any]) -> nodes.Like:
        operand, pattern = children
        return nodes.Like(operand, self._pattern(pattern), False, _pos(meta))

    def _pattern(self, token: Token) -> nodes.Literal | nodes.Regex:
        if token.type == "REGEX":
            return nodes.Regex(_unquote_regex(token), _pos(token))
        return nodes.Literal(_unquote_string(token), _pos(token))

    def in_list(self, meta: Meta, children: list[Any]) -> nodes.InList:
        operand, negated, *items = children
        values = tuple(item for item in items if item is not None)
        return nodes.InList(operand, values, negated is not None, _pos(meta))

    def func_call(self, meta: Meta, children: list[Any]) -> nodes.Call:
        name, *args = children
        values = tuple(arg for arg in args if arg is not None)
        return nodes.Call(str(name), values, _pos(meta), self._source(meta))

    def star(self, meta: Meta, children: list[Any]) -> nodes.Star:
        return nodes.Star(_pos(meta))

    def field_ref(self, meta: Meta, children: list[Any]) -> nodes.FieldRef:
        return nodes.FieldRef(_name(children[0]), _pos(meta))

    def number(self, meta: Meta, children: list[Any]) -> nodes.Literal:
        text = str(children[0])
        value: int | float = int(text) if text.isdigit() else float(text)
        return nodes.Literal(value, _pos(meta))

    def string(self, meta: Meta, children: list[Any]) -> nodes.Literal:
        return nodes.Literal(_unquote_string(children[0]), _pos(meta))

    def period(self, meta: Meta, children: list[Any]) -> nodes.Period:
        match = re.fullmatch(r"(\d+)([A-Za-z]+)", str(children[0]))
        assert match is not None
        return nodes.Period(int(match.group(1)), match.group(2), _pos(meta))


def _xy(token: Token) -> tuple[int, int]:
    return token.line or 0, token.column or 0


def regex_group_names(pattern: str, token: Token | None = None) -> tuple[str, ...]:
    """The named groups of an Insights regex (``(?<name>...)``), in order; `QueryError` if there are none."""
    line, column = _xy(token) if token is not None else (None, None)
    try:
        compiled = re.compile(to_re2(pattern))
    except re.error as exc:
        raise QueryError(
            f"invalid regex: {exc.msg}", line, column, "check the pattern between the slashes"
        ) from None
    names = tuple(sorted(compiled.groupindex, key=compiled.groupindex.__getitem__))
    if not names:
        raise QueryError(
            "parse with a regex needs named groups", line, column, r"name each group: /(?<user>\S+)/"
        )
    return names


def to_re2(pattern: str) -> str:
    """Insights (PCRE-style) named groups ``(?<name>`` → ``(?P<name>``, the spelling RE2 and Python accept."""
    return re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern)
