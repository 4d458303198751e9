"""METRIC|key=value line importer."""

from __future__ import annotations

import datetime as dt
import gzip
import os
from pathlib import Path

import pytest

from tokentrail.ingest.importers import ImportProblem, iter_calls
from tokentrail.ingest.importers.metric_lines import parse_line
from tokentrail.model import Call

MTIME = dt.datetime(2025, 2, 1, 8, 0)


def parse(line: str, key: str = "f:1") -> Call:
    return parse_line(line, key, MTIME)


def test_span_line_after_python_logging_prefix() -> None:
    call = parse(
        "2025-01-15 14:30:00,123 INFO app.llm: METRIC|event=span|name=ask_llm_total|ms=812|provider=openai"
        "|model=gpt-4o-mini|in=1200|out=85|feature=search|tenant=acme"
    )
    assert (call.kind, call.name, call.source) == ("llm", "ask_llm_total", "metric-line")
    assert (call.provider, call.request_model) == ("openai", "gpt-4o-mini")
    assert (call.input_tokens, call.output_tokens) == (1200, 85)
    assert (call.feature, call.tenant) == ("search", "acme")
    # The log timestamp is when the span ended.
    assert call.end_time == dt.datetime(2025, 1, 15, 14, 30, 0, 123000)
    assert call.start_time == call.end_time - dt.timedelta(milliseconds=812)
    assert call.duration_ms == 812
    assert call.attributes == {"event": "span"}


def test_request_line_is_a_chain_span_with_path_as_feature() -> None:
    call = parse(
        "[2025-01-15T14:30:00.500+02:00] WARN METRIC|event=request|path=/api/chat/x|provider=bedrock"
        "|model=anthropic.claude-3-haiku|ms_total=1234"
    )
    assert call.kind == "chain"
    assert call.provider == "aws.bedrock"
    assert call.request_model == "anthropic.claude-3-haiku"
    assert call.feature == "/api/chat/x"
    assert call.attributes["path"] == "/api/chat/x"
    assert call.name == "/api/chat/x"
    assert call.duration_ms == 1234
    assert call.end_time == dt.datetime(2025, 1, 15, 12, 30, 0, 500000)


def test_explicit_feature_wins_over_path() -> None:
    call = parse("METRIC|event=request|path=/api/x|feature=chat|ms=5|ts=2025-01-15T14:30:00Z")
    assert call.feature == "chat"


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("METRIC|event=span|name=retrieve_docs|ms=40", "other"),
        ("METRIC|event=span|name=claude_summary|ms=40", "llm"),
        ("METRIC|event=span|name=step|model=gpt-4o|ms=40", "llm"),
        ("METRIC|event=tool|name=lookup|ms=40", "tool"),
        ("METRIC|event=request|name=chat_llm|ms=40", "chain"),
        ("METRIC|event=span|name=x|kind=agent", "agent"),
    ],
)
def test_kind_rules(line: str, kind: str) -> None:
    assert parse(line).kind == kind


def test_time_from_key_when_no_prefix() -> None:
    call = parse("METRIC|event=span|name=llm|ms=100|ts=1736951400")
    assert call.end_time == dt.datetime(2025, 1, 15, 14, 30)
    call = parse("METRIC|event=span|name=llm|time=2025-01-15T14:30:00Z")
    assert call.end_time == call.start_time == dt.datetime(2025, 1, 15, 14, 30)
    assert call.duration_ms is None


def test_mtime_is_the_fallback_and_is_marked() -> None:
    call = parse("app started METRIC|event=span|name=llm|ms=100")
    assert call.end_time == MTIME
    assert call.attributes["tokentrail.import.time_source"] == "file_mtime"


def test_status_error_and_unknown_keys() -> None:
    call = parse("METRIC|event=span|name=llm_call|model=x|status=error|error=RateLimitError|ms=5|region=eu")
    assert (call.status, call.error_class) == ("error", "throttled")
    assert call.attributes["error.type"] == "RateLimitError"
    assert call.attributes["region"] == "eu"
    http = parse("METRIC|event=span|name=llm_call|model=x|status=503")
    assert (http.status, http.error_class, http.http_status) == ("error", "server_error", 503)
    ok = parse("METRIC|event=span|name=llm_call|model=x|status=200|error=none")
    assert (ok.status, ok.error_class, ok.http_status) == ("ok", None, 200)


def test_values_are_unquoted_and_bare_parts_kept() -> None:
    call = parse('METRIC|event=span|name="ask llm"|flag|note=a=b')
    assert call.name == "ask llm"
    assert call.attributes["note"] == "a=b"
    assert call.attributes["metric.extra"] == ["flag"]


def test_ids_are_deterministic_and_request_id_groups_a_trace() -> None:
    first = parse("METRIC|event=request|request_id=r-1|ms=9", key="f:1")
    again = parse("METRIC|event=request|request_id=r-1|ms=9", key="f:1")
    second = parse("METRIC|event=span|request_id=r-1|name=llm|ms=5", key="f:2")
    assert (first.trace_id, first.span_id) == (again.trace_id, again.span_id)
    assert first.trace_id == second.trace_id and first.span_id != second.span_id
    assert len(first.trace_id) == 32 and len(first.span_id) == 16


def test_file_with_noise_bad_lines_and_gzip(tmp_path: Path) -> None:
    lines = [
        "2025-01-15 14:30:00,123 INFO starting",
        "2025-01-15 14:30:01,000 INFO x: METRIC|event=span|name=ask_llm|ms=812|model=m",
        "2025-01-15 14:30:02,000 INFO x: METRIC|",
        "2025-01-15 14:30:03,000 INFO x: METRIC|event=request|path=/a|ms_total=900",
        "METRIC|   |  ",
    ]
    plain = tmp_path / "app.log"
    plain.write_text("\n".join(lines) + "\n")
    zipped = tmp_path / "app.log.1.gz"
    zipped.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    epoch = MTIME.replace(tzinfo=dt.UTC).timestamp()
    os.utime(plain, (epoch, epoch))
    problems: list[ImportProblem] = []
    calls = list(iter_calls("metric-lines", [tmp_path], problems))
    assert [call.name for call in calls] == ["ask_llm", "/a"] * 2
    assert sorted((p.path.name, p.line_no) for p in problems) == [
        ("app.log", 3),
        ("app.log", 5),
        ("app.log.1.gz", 3),
        ("app.log.1.gz", 5),
    ]
    assert calls[0].trace_id != calls[2].trace_id  # another file, another identity
    assert calls[1].end_time == dt.datetime(2025, 1, 15, 14, 30, 3)


def test_file_without_times_uses_its_mtime(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("METRIC|event=span|name=llm|ms=5\n")
    epoch = MTIME.replace(tzinfo=dt.UTC).timestamp()
    os.utime(path, (epoch, epoch))
    calls = list(iter_calls("metric-lines", [path], []))
    assert calls[0].end_time == MTIME and calls[0].end_time.tzinfo is None
