"""Per-call JSONL importer."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tokentrail.ingest.importers import ImportProblem, iter_calls
from tokentrail.ingest.importers.jsonl import parse_record
from tokentrail.model import Call

MTIME = dt.datetime(2025, 2, 1, 8, 0)
END = dt.datetime(2025, 1, 15, 14, 30)


def parse(record: dict[str, Any], key: str = "f:1") -> Call:
    return parse_record(json.dumps(record), key, MTIME)


def test_typical_record() -> None:
    call = parse(
        {
            "ts": "2025-01-15T14:30:00Z",
            "feature": "search",
            "model": "gpt-4o-mini",
            "latency_ms": 812,
            "input": 1200,
            "output": 85,
            "cache_read": 1024,
            "stop_reason": "stop",
            "retries": 1,
            "region": "eu",
        }
    )
    assert (call.kind, call.source, call.name) == ("llm", "jsonl", "gpt-4o-mini")
    assert (call.feature, call.request_model, call.stop_reason) == ("search", "gpt-4o-mini", "stop")
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens) == (1200, 85, 1024)
    assert call.end_time == END and call.start_time == END - dt.timedelta(milliseconds=812)
    assert call.attempts == 2
    assert call.attributes == {"region": "eu"}
    assert call.status == "ok"


def test_common_variants() -> None:
    call = parse(
        {
            "timestamp": 1736951400000,
            "provider": "Azure",
            "model": "gpt-4o",
            "operation": "chat",
            "prompt_tokens": 300,
            "completion_tokens": 20,
            "ttft_ms": 150,
            "duration_s": 1.5,
            "tenant": "acme",
            "app": "crm",
            "cost_usd": 0.0021,
            "variant": "B",
        }
    )
    assert call.end_time == END
    assert call.provider == "azure.ai.openai"
    assert call.name == "chat gpt-4o"
    assert (call.input_tokens, call.output_tokens) == (300, 20)
    assert (call.ttft_ms, call.duration_ms, call.stream) == (150, 1500, True)
    assert (call.tenant, call.app, call.variant) == ("acme", "crm", "B")
    assert (call.cost_usd, call.price_source) == (0.0021, "imported")


def test_anthropic_usage_excludes_cache_and_openai_usage_includes_it() -> None:
    anthropic = parse(
        {
            "model": "claude-3-5-haiku",
            "usage": {
                "input_tokens": 10,
                "cache_read_input_tokens": 500,
                "cache_creation_input_tokens": 20,
                "output_tokens": 7,
            },
        }
    )
    assert (anthropic.input_tokens, anthropic.cache_read_tokens, anthropic.cache_write_tokens) == (
        530,
        500,
        20,
    )
    openai = parse(
        {
            "model": "gpt-4o",
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 64},
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
        }
    )
    assert (openai.input_tokens, openai.cache_read_tokens, openai.reasoning_tokens) == (100, 64, 2)
    # a cache count larger than the input count means the input count excluded it
    assert parse({"input": 3, "cache_read": 900}).input_tokens == 903


@pytest.mark.parametrize(
    ("error", "error_class"),
    [
        ("RateLimitError", "throttled"),
        ("openai.APITimeoutError", "timeout"),
        ("Timeout", "timeout"),
        ("APIConnectionError", "connection"),
        ("AuthenticationError", "auth"),
        ("PermissionDeniedError", "auth"),
        ("BadRequestError", "invalid_request"),
        ("NotFoundError", "invalid_request"),
        ("UnprocessableEntityError", "invalid_request"),
        ("InternalServerError", "server_error"),
        ("ServiceUnavailableError", "server_error"),
        ("ContentFilterFinishReasonError", "content_filtered"),
        ("anthropic.APIStatusError", "other"),
        ("WeirdError", "other"),
    ],
)
def test_error_lines_are_classified_by_class_name(error: str, error_class: str) -> None:
    call = parse({"feature": "search", "error": error, "msg": "rate limit exceeded; request timed out"})
    assert (call.status, call.error_class) == ("error", error_class)
    assert call.attributes["error.type"] == error
    assert call.attributes["msg"] == "rate limit exceeded; request timed out"


def test_api_status_error_uses_the_status_code() -> None:
    call = parse({"error": "APIStatusError", "status_code": 502})
    assert (call.error_class, call.http_status) == ("server_error", 502)


def test_long_messages_are_cut_and_error_text_is_not_a_class() -> None:
    call = parse({"error": "Rate limit reached for requests", "msg": "x" * 2000})
    assert (call.status, call.error_class) == ("error", "other")
    assert len(call.attributes["msg"]) == 500
    assert call.attributes["error.message"] == "Rate limit reached for requests"


def test_prompt_and_response_text_are_never_kept() -> None:
    record = {
        "model": "gpt-4o",
        "input": "my secret prompt",
        "output": "my secret answer",
        "messages": [{"role": "user", "content": "another secret"}],
        "message": {"content": "secret too"},
    }
    call = parse(record)
    assert "secret" not in repr(call)
    assert call.prompt_chars == len("my secret prompt") + len("another secret")
    assert call.input_tokens is None and call.output_tokens is None


def test_metadata_objects_and_given_ids() -> None:
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    call = parse(
        {
            "trace_id": trace_id,
            "span_id": span_id,
            "feature": "top",
            "metadata": {"feature": "nested", "team": "growth", "ticket": 42, "beta": True},
        }
    )
    assert (call.trace_id, call.span_id) == (trace_id, span_id)
    assert (call.feature, call.team) == ("top", "growth")
    assert call.metadata == {"feature": "nested", "team": "growth", "ticket": "42", "beta": "true"}


def test_no_time_falls_back_to_mtime() -> None:
    call = parse({"model": "m"})
    assert call.start_time == call.end_time == MTIME
    assert call.attributes["tokentrail.import.time_source"] == "file_mtime"


def test_bad_lines_are_counted_with_file_and_line(tmp_path: Path) -> None:
    good = json.dumps({"model": "m", "latency_ms": 5, "ts": "2025-01-15T14:30:00Z"})
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join([good, "", "{oops", "[1, 2]", good, '"text"']) + "\n")
    (tmp_path / "ignored.csv").write_text("a,b\n")
    problems: list[ImportProblem] = []
    calls = list(iter_calls("jsonl", [tmp_path], problems))
    assert len(calls) == 2
    assert calls[0].span_id != calls[1].span_id  # same content, other line
    assert [(p.path, p.line_no) for p in problems] == [(path, 3), (path, 4), (path, 6)]
    assert problems[0].message.startswith("invalid JSON")
    assert problems[1].message == "expected a JSON object, got list"
