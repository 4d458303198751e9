"""Every command, on DuckDB and ClickHouse, against answers computed in Python."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tokentrail.query import compile_query

from .conftest import Backend, same_rows
from .data import Row, group, sql_sum


def _newest_first(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: r.call.start_time or dt.datetime.min, reverse=True)


def test_default_display_is_timestamp_and_message(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run("filter status = 'error'")
    errors = _newest_first([r for r in llm_rows if r.call.status == "error"])
    assert result.columns == ["@timestamp", "@message"]
    assert result.column("@timestamp") == [r.call.start_time for r in errors]
    message = json.loads(result.rows[0][1])
    call = errors[0].call
    assert message["span_id"] == call.span_id
    assert message["input_tokens"] == (None if call.input_tokens is None else str(call.input_tokens))
    assert message["start_time"] == call.start_time.isoformat(timespec="microseconds") + "Z"  # type: ignore[union-attr]
    assert message["status"] == "error"


def test_fields_accumulate_and_compute(backend: Backend, llm_rows: list[Row]) -> None:
    query = "fields span_id | fields input_tokens * 2 as doubled, `span_id` as id | limit 3"
    result = backend.run(query)
    assert result.columns == ["span_id", "doubled", "id"]
    newest = _newest_first(llm_rows)[:3]
    expected = [
        (r.call.span_id, None if r.call.input_tokens is None else r.call.input_tokens * 2, r.call.span_id)
        for r in newest
    ]
    assert same_rows(result.rows, expected, ordered=True)


def test_ephemeral_field_usable_in_filter_and_sort(backend: Backend, llm_rows: list[Row]) -> None:
    query = "fields span_id, output_tokens / 2 as half | filter half > 900 | sort half desc, span_id"
    result = backend.run(query)
    picked = [r for r in llm_rows if r.call.output_tokens is not None and r.call.output_tokens / 2 > 900]
    picked.sort(key=lambda r: (-(r.call.output_tokens or 0), r.call.span_id))
    assert result.rows == [(r.call.span_id, (r.call.output_tokens or 0) / 2) for r in picked]


def test_alias_shadowing_a_column_name(backend: Backend, llm_rows: list[Row]) -> None:
    # `Status` and `status` differ in Insights; DuckDB ignores the case of names, so the compiler renames.
    result = backend.run("fields duration_ms * 2 as Status, status | filter Status > 9000 and status = 'ok'")
    picked = [r for r in llm_rows if (r.call.duration_ms or 0) * 2 > 9000 and r.call.status == "ok"]
    assert result.columns == ["Status", "status"]
    assert same_rows(result.rows, [((r.call.duration_ms or 0) * 2, "ok") for r in picked])


def test_display_keeps_only_the_last(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run("fields span_id, service | display service | display span_id, model | limit 2")
    assert result.columns == ["span_id", "model"]
    assert [r[0] for r in result.rows] == [r.call.span_id for r in _newest_first(llm_rows)[:2]]


def test_sort_limit_and_sort_by_expression(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run("fields span_id | sort strlen(name) asc, duration_ms desc | limit 4")
    expected = sorted(llm_rows, key=lambda r: (len(r.call.name), -(r.call.duration_ms or 0)))[:4]
    assert result.column("span_id") == [r.call.span_id for r in expected]


def test_limit_then_more_commands(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run(
        "sort duration_ms desc | limit 10 | stats count(*) as n, min(duration_ms) as slowest10"
    )
    durations = sorted((r.call.duration_ms or 0 for r in llm_rows), reverse=True)[:10]
    assert result.rows == [(10, durations[-1])]


def test_limit_is_capped(backend: Backend) -> None:
    assert "LIMIT 10000" in compile_query("limit 50000").sql
    assert len(backend.run("fields span_id | limit 50", limit=7).rows) == 7
    assert len(backend.run("fields span_id", limit=3).rows) == 3


def test_second_stats_over_the_first(backend: Backend, llm_rows: list[Row]) -> None:
    query = (
        "stats count(*) as n, sum(output_tokens) as out by service, provider"
        " | stats sum(n) as calls, max(out) as top, count(*) as groups"
    )
    result = backend.run(query)
    groups = group(llm_rows, lambda r: (r.call.service, r.call.provider))
    top = max(sql_sum([r.call.output_tokens for r in rows]) for rows in groups.values())
    assert result.rows == [(len(llm_rows), top, len(groups))]


def test_stats_default_names_and_sort_by_them(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run("stats count(*), count_distinct(span_id) by service | sort count(*) desc")
    assert result.columns == ["service", "count(*)", "count_distinct(span_id)"]
    counts = {k: len(v) for k, v in group(llm_rows, lambda r: r.call.service).items()}
    assert result.rows == sorted(((k, n, n) for k, n in counts.items()), key=lambda t: -t[1])


def test_stats_after_stats_by_default_name(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run("stats count(*) by service | stats sum(count(*)) as total")
    assert result.rows == [(len(llm_rows),)]


def test_stats_arithmetic_over_aggregates(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run("filter ispresent(output_tokens) | stats sum(output_tokens) / count(*) as mean")
    outputs = [r.call.output_tokens for r in llm_rows if r.call.output_tokens is not None]
    assert result.rows[0][0] == pytest.approx(sum(outputs) / len(outputs))


def test_parse_glob(backend: Backend, llm_rows: list[Row]) -> None:
    query = (
        'parse degraded "fallback user=* from=* to=*" as who, source, target'
        " | filter ispresent(who) | display span_id, who, source, target"
    )
    result = backend.run(query)
    expected = []
    for row in _newest_first(llm_rows):
        if row.call.degraded:
            words = dict(part.split("=") for part in row.call.degraded.split()[1:])
            expected.append((row.call.span_id, words["user"], words["from"], words["to"]))
    assert expected
    assert same_rows(result.rows, expected, ordered=True)


def test_parse_regex_named_groups(backend: Backend, llm_rows: list[Row]) -> None:
    query = (
        r"parse degraded /user=(?<who>\S+) from=(?<source>[a-z0-9-]+)/ | stats count(*) as n by who, source"
    )
    result = backend.run(query)
    counts: dict[tuple[str | None, str | None], int] = {}
    for row in llm_rows:
        words = dict(p.split("=") for p in row.call.degraded.split()[1:]) if row.call.degraded else {}
        key = (words.get("user"), words.get("from"))
        counts[key] = counts.get(key, 0) + 1
    assert same_rows(result.rows, [(*k, n) for k, n in counts.items()])


def test_dedup_keeps_the_newest_and_all_nulls(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run("fields @timestamp, tenant, span_id | dedup tenant")
    newest = _newest_first(llm_rows)
    seen: set[str] = set()
    expected = []
    for row in newest:
        tenant = row.call.tenant
        if tenant is None or tenant not in seen:
            expected.append((row.call.start_time, tenant, row.call.span_id))
            if tenant is not None:
                seen.add(tenant)
    assert len(seen) == 3 and len(expected) > 3
    assert same_rows(result.rows, expected, ordered=True)


def test_dedup_after_sort_uses_that_order(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run("fields service, duration_ms | sort duration_ms desc | dedup service")
    slowest = {
        k: max(r.call.duration_ms or 0 for r in v)
        for k, v in group(llm_rows, lambda r: r.call.service).items()
    }
    assert result.rows == sorted(slowest.items(), key=lambda kv: -kv[1])


def test_comments_and_multiline(backend: Backend, llm_rows: list[Row]) -> None:
    query = """
    # errors only
    filter status = "error"   # a trailing comment
    # count them
    | stats count(*) as n
    """
    assert backend.run(query).rows == [(sum(r.call.status == "error" for r in llm_rows),)]


def test_time_range_and_source(backend: Backend, rows: list[Row]) -> None:
    start, end = dt.datetime(2023, 12, 10), dt.datetime(2023, 12, 20, tzinfo=dt.UTC)
    inside = [r for r in rows if start <= (r.call.start_time or start) < end.replace(tzinfo=None)]
    spans = backend.run("stats count(*) as n", start=start, end=end, source="spans")
    calls = backend.run("stats count(*) as n", start=start, end=end)
    assert spans.rows == [(len(inside),)]
    assert calls.rows == [(sum(r.llm for r in inside),)]
    assert spans.rows[0][0] > calls.rows[0][0]


def test_time_range_with_a_time_zone(backend: Backend, rows: list[Row]) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    start = dt.datetime(2023, 12, 10, 2, 0, tzinfo=plus_two)  # = 2023-12-10 00:00 UTC
    expected = sum(
        r.llm and (r.call.start_time or start.replace(tzinfo=None)) >= dt.datetime(2023, 12, 10) for r in rows
    )
    assert backend.run("stats count(*) as n", start=start).rows == [(expected,)]


def test_injection_through_a_string_literal_finds_nothing(backend: Backend, rows: list[Row]) -> None:
    for text in ("x'; drop table spans; --", "x\\'; drop table spans; --", "x\\", "x'' or ''='"):
        literal = json.dumps(text)  # a double-quoted query string with the same escapes
        assert backend.run(f"filter feature = {literal}").rows == []
        assert backend.run(f"filter requestMetadata.team = {literal} or name like {literal}").rows == []
    assert backend.sql("SELECT count(*) AS n FROM spans").rows == [(len(rows),)]


def test_string_escapes_reach_the_store_intact(backend: Backend) -> None:
    result = backend.run(
        r"""fields "it's" as a, 'say "hi"' as b, "back\\slash" as c, "tab\there" as d | limit 1"""
    )
    assert result.rows == [("it's", 'say "hi"', "back\\slash", "tab\there")]
