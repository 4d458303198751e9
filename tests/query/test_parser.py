"""Text → syntax tree, and syntax errors."""

from __future__ import annotations

import pytest

import tokentrail.query
from tokentrail.query import QueryError, glob_to_regex, nodes, parse
from tokentrail.query.nodes import Binary, Call, FieldRef, Literal, Pos, Projection, Unary

from .test_acceptance import TOKENS_BY_APPLICATION


def _expr(text: str) -> nodes.Expr:
    command = parse(f"filter {text}").commands[0]
    assert isinstance(command, nodes.Filter)
    return command.condition


def _shape(node: nodes.Expr) -> object:
    """A compact form without positions: ('+', 'a', ('*', 'b', 'c'))."""
    match node:
        case FieldRef(name=name):
            return name
        case Literal(value=value):
            return value
        case Binary(op=op, left=left, right=right):
            return (op, _shape(left), _shape(right))
        case Unary(op=op, operand=operand):
            return (op, _shape(operand))
        case Call(name=name, args=args):
            return (name, *(_shape(a) for a in args))
        case nodes.Like(operand=operand, pattern=pattern, negated=negated):
            return ("not like" if negated else "like", _shape(operand), pattern)
        case nodes.InList(operand=operand, items=items, negated=negated):
            return ("not in" if negated else "in", _shape(operand), tuple(_shape(i) for i in items))
    return node


def test_acceptance_query_tree() -> None:
    query = parse(TOKENS_BY_APPLICATION)
    fields_cmd, stats, sort = query.commands
    assert isinstance(fields_cmd, nodes.Fields)
    assert [p.name for p in fields_cmd.items] == ["@timestamp", "Application", "InputTokens", "OutputTokens"]
    assert fields_cmd.items[1] == Projection(
        FieldRef("requestMetadata.application_name", Pos(1, 20)),
        "Application",
        "requestMetadata.application_name as Application",
    )
    assert isinstance(stats, nodes.Stats)
    assert [p.name for p in stats.aggregates] == ["TotalInput", "TotalOutput", "TotalTokens", "Requests"]
    assert _shape(stats.aggregates[2].expr) == ("sum", ("+", "InputTokens", "OutputTokens"))
    assert [p.name for p in stats.by] == ["Application"]
    assert stats.pos == Pos(2, 3)
    assert sort == nodes.Sort((nodes.SortKey(FieldRef("TotalTokens", Pos(3, 8)), True),), Pos(3, 3))


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("a + b * c ^ 2", ("+", "a", ("*", "b", ("^", "c", 2)))),
        ("(a + b) * c", ("*", ("+", "a", "b"), "c")),
        ("a - b - c", ("-", ("-", "a", "b"), "c")),
        ("2 ^ 3 ^ 2", ("^", 2, ("^", 3, 2))),
        ("-a % 3 = 1", ("=", ("%", ("-", "a"), 3), 1)),
        ("not a = 1 and b != 2 or c", ("or", ("and", ("not", ("=", "a", 1)), ("!=", "b", 2)), "c")),
        ("x <= 1.5 and y >= .5", ("and", ("<=", "x", 1.5), (">=", "y", 0.5))),
        (
            "a not like 'x' and b like /y\\/z/",
            (
                "and",
                ("not like", "a", Literal("x", Pos(1, 19))),
                ("like", "b", nodes.Regex("y/z", Pos(1, 34))),
            ),
        ),
        ("code not in [1, -2, 'x']", ("not in", "code", (1, ("-", 2), "x"))),
        (
            "@timestamp > 1 and `odd-name.x` = requestMetadata.team",
            ("and", (">", "@timestamp", 1), ("=", "odd-name.x", "requestMetadata.team")),
        ),
        ("ispresent(a) and count() > 0", ("and", ("ispresent", "a"), (">", ("count",), 0))),
        ('\'it\\\'s\' = "say \\"hi\\""', ("=", "it's", 'say "hi"')),
        (
            "notes = 1 and index = 2 and byte = 3",
            ("and", ("and", ("=", "notes", 1), ("=", "index", 2)), ("=", "byte", 3)),
        ),
    ],
)
def test_expression_trees(text: str, shape: object) -> None:
    assert _shape(_expr(text)) == shape


def test_regex_match_operator() -> None:
    node = _expr("name =~ /(?i)err/")
    assert node == nodes.Like(
        FieldRef("name", Pos(1, 8)), nodes.Regex("(?i)err", Pos(1, 16)), False, Pos(1, 8)
    )


def test_keywords_ignore_case_and_comments() -> None:
    query = parse(
        "# leading comment\nFILTER a = 1 # trailing\n| STATS Count(*) AS n BY b | SORT n DESC | LIMIT 5"
    )
    filter_cmd, stats, sort, limit = query.commands
    assert isinstance(stats, nodes.Stats) and stats.aggregates[0].alias == "n"
    assert isinstance(sort, nodes.Sort) and sort.keys[0].descending
    assert limit == nodes.Limit(5, Pos(3, 44))
    assert isinstance(filter_cmd, nodes.Filter) and filter_cmd.pos == Pos(2, 1)


def test_parse_and_dedup_and_display() -> None:
    query = parse(
        'parse @message "[*] * x *" as a, b, `c d`'
        r" | parse `x y` /(?<user>\S+) (?<n>\d+)/ | dedup a, b | display a"
    )
    glob, regex, dedup, display = query.commands
    assert glob == nodes.Parse(
        FieldRef("@message", Pos(1, 7)), "[*] * x *", False, ("a", "b", "c d"), Pos(1, 1)
    )
    assert isinstance(regex, nodes.Parse) and regex.is_regex and regex.names == ("user", "n")
    assert isinstance(dedup, nodes.Dedup) and [f.name for f in dedup.fields] == ["a", "b"]
    assert isinstance(display, nodes.Display) and display.fields[0].name == "a"


def test_glob_to_regex() -> None:
    assert glob_to_regex("[*] * The error was: *") == r"\[(.*?)\] (.*?) The error was: (.*)"
    assert glob_to_regex("a.b=*") == r"a\.b=(.*)"
    assert glob_to_regex("no stars") == "no stars"


@pytest.mark.parametrize(
    ("query", "message", "line", "column", "hint"),
    [
        ("fields a |", "unexpected end of query", 1, 11, "'fields'"),
        ("filter a == 1", "unexpected '='", 1, 11, "single '='"),
        ("stats count(*) by", "unexpected end of query", 1, 18, "a field name"),
        ('filter a = "x', "unexpected character '\"'", 1, 12, "matching quote"),
        ("fields a b", "unexpected 'b'", 1, 10, "','"),
        ("foo a", "unexpected 'foo'", 1, 1, "fields, display, filter"),
        ("fields a\n  | filter b && c", "unexpected character '&'", 2, 14, "'and'"),
        ("limit 0", "limit needs a whole number of rows", 1, 7, "limit 25"),
        ("limit 2.5", "limit needs a whole number of rows", 1, 7, None),
        ('parse a "* *" as x', "parse has 1 names for 2 '*'", 1, 9, "one name after 'as'"),
        ("parse a /(\\d+)/", "parse with a regex needs named groups", 1, 9, "(?<user>"),
        ("fields `a", "unexpected character '`'", 1, 8, "backtick"),
        ("  # only a comment\n", "the query is empty", None, None, "commands joined by '|'"),
        ("", "the query is empty", None, None, None),
    ],
)
def test_syntax_errors(
    query: str, message: str, line: int | None, column: int | None, hint: str | None
) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    error = caught.value
    assert message in error.message
    assert (error.line, error.column) == (line, column)
    if hint is not None:
        assert error.hint is not None and hint in error.hint


def test_public_names_are_sorted_and_exported() -> None:
    names = tokentrail.query.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    for name in names:
        assert hasattr(tokentrail.query, name)
