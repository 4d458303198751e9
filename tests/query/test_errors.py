"""Refused queries: the message, where (line, column) and the hint."""

from __future__ import annotations

import datetime as dt

import pytest

from tokentrail.query import QueryError, compile_query


def _error(query: str, **options: object) -> QueryError:
    with pytest.raises(QueryError) as caught:
        compile_query(query, **options)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(
    ("query", "message", "line", "column", "hint"),
    [
        ("fields input_token", "unknown field 'input_token'", 1, 8, "'input_tokens'"),
        (
            "fields span_id\n| filter  statsu = 'ok'",
            "unknown field 'statsu'",
            2,
            11,
            "did you mean 'status'?",
        ),
        ("fields requestMetadata.tenant_id, modelid", "unknown field 'modelid'", 1, 35, "'modelId'"),
        ("fields strln(name)", "unknown function 'strln'", 1, 8, "did you mean 'strlen'?"),
        ("fields frommilis(1)", "unknown function 'frommilis'", 1, 8, "'fromMillis'"),
        ("fields substr(name)", "substr() got 1 argument", 1, 8, "usage: substr(s, start[, length])"),
        ("fields concat()", "concat() got 0 arguments", 1, 8, "usage: concat(s, ...)"),
        ("stats count(*) by bin(5x)", "bad period 5x", 1, 23, "ms, s, m, h, d or w"),
        ("stats count(*) by bin(0m)", "bad period 0m", 1, 23, "e.g. 5m"),
        ("stats count(*) by bin(duration_ms)", "expected a period such as 5m", 1, 23, "e.g. 5m"),
        ("fields 5m", "a period such as 5m goes in bin()", 1, 8, None),
        ("stats sum(*)", "* goes in count(*) only", 1, 11, None),
        (
            "filter sum(input_tokens) > 5",
            "sum() is an aggregate function and goes in stats",
            1,
            8,
            "stats sum(input_tokens)",
        ),
        (
            "stats input_tokens",
            "field 'input_tokens' in stats must be inside an aggregate",
            1,
            7,
            "by input_tokens",
        ),
        ("stats sum(count(*))", "count() cannot be nested", 1, 11, None),
        (
            "stats count(*) as n by service | filter provider = 'x'",
            "unknown field 'provider'",
            1,
            41,
            "service, n",
        ),
        (
            "stats count(*) as n by service | stats earliest(n)",
            "@timestamp is not available after stats",
            1,
            40,
            None,
        ),
        (
            "stats count(*) by service | stats count(*) by bin(1h)",
            "@timestamp is not available after stats",
            1,
            47,
            None,
        ),
        ("stats count(*), count(*)", "stats has two columns named 'count(*)'", 1, 1, "as count2"),
        ("filter @timestamp > 'yesterday'", "'yesterday' is not a time", 1, 19, "ISO 8601"),
        ("fields @timestamp + 1", "arithmetic on a time is not supported", 1, 19, "toMillis(@timestamp)"),
        ("stats pct(latency, 120)", "pct() needs a percentile from 0 to 100", 1, 7, "pct(latency, 95)"),
        ("fields toMillis(name)", "toMillis() needs a time", 1, 8, None),
        ("fields `requestMetadata.a'b`", "unsupported character in the key", 1, 8, "quotes"),
        ('fields `x"; drop table spans; --`', "unknown field 'x\"; drop table spans; --'", 1, 8, None),
        ("parse name /(?<x>[a-)/", "invalid regex", 1, 12, None),
        ("display nope", "unknown field 'nope'", 1, 9, None),
        ("dedup nope", "unknown field 'nope'", 1, 7, None),
        ("sort nope desc", "unknown field 'nope'", 1, 6, None),
        ("fields a /", "unexpected end of query", 1, 11, None),
    ],
)
def test_semantic_errors(query: str, message: str, line: int, column: int, hint: str | None) -> None:
    error = _error(query)
    assert message in error.message
    assert (error.line, error.column) == (line, column)
    if hint is not None:
        assert error.hint is not None and hint in error.hint
    assert str(error).startswith(error.message)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dialect": "postgres"}, "unknown dialect 'postgres'"),
        ({"source": "metric_points"}, "unknown source 'metric_points'"),
        ({"limit": 0}, "the row limit must be at least 1"),
        (
            {"start": dt.datetime(2024, 2, 1), "end": dt.datetime(2024, 1, 1)},
            "the time range ends before it starts",
        ),
    ],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    error = _error("fields span_id", **options)
    assert message in error.message
    assert error.line is None


def test_error_as_json() -> None:
    error = _error("fields strln(name)")
    assert error.to_dict() == {
        "message": "unknown function 'strln'",
        "line": 1,
        "column": 8,
        "hint": "did you mean 'strlen'?",
    }
    assert str(error) == "unknown function 'strln' (line 1, column 8). Hint: did you mean 'strlen'?"


def test_list_in_arithmetic() -> None:
    error = _error("fields tool_names + 1")
    assert (error.message, error.column, error.hint) == ("'+' needs a number, not a list", 19, None)
