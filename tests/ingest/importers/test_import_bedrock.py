"""Bedrock model invocation log importer: record mapping and the three file forms."""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tokentrail.ingest.importers import ImportProblem, bedrock_logs, iter_calls
from tokentrail.ingest.importers.bedrock_logs import record_to_call
from tokentrail.model import Call

T0 = dt.datetime(2025, 1, 15, 14, 30)
PROMPT = "Where is my order 42? It was due last week."
SYSTEM = "You are a courteous support agent."
ANSWER = "Let me look that up for you."

CONVERSE: dict[str, Any] = {
    "schemaType": "ModelInvocationLog",
    "schemaVersion": "1.0",
    "timestamp": "2025-01-15T14:30:00Z",
    "accountId": "123456789012",
    "identity": {"arn": "arn:aws:sts::123456789012:assumed-role/support-app/i-0abc"},
    "region": "us-east-1",
    "inferenceRegion": "us-west-2",
    "requestId": "5d7c6c2e-1b7a-4f8e-9d3a-0c2b1e4f5a6b",
    "operation": "Converse",
    "modelId": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    "requestMetadata": {
        "application_name": "support-bot",
        "tenant_id": "acme",
        "feature": "triage",
        "env": "prod",
        "ticket": "T-42",
    },
    "input": {
        "inputContentType": "application/json",
        "inputBodyJson": {
            "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
            "system": [{"text": SYSTEM}, {"cachePoint": {"type": "default"}}],
            "inferenceConfig": {"maxTokens": 512, "stopSequences": ["###"]},
        },
        "inputTokenCount": 12,
        "cacheReadInputTokenCount": 2048,
        "cacheWriteInputTokenCount": 100,
    },
    "output": {
        "outputContentType": "application/json",
        "outputBodyJson": {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"text": ANSWER},
                        {
                            "toolUse": {
                                "toolUseId": "tooluse_1",
                                "name": "lookup_order",
                                "input": {"id": "42"},
                            }
                        },
                    ],
                }
            },
            "stopReason": "tool_use",
            "usage": {
                "inputTokens": 12,
                "outputTokens": 40,
                "totalTokens": 2200,
                "cacheReadInputTokens": 2048,
                "cacheWriteInputTokens": 100,
            },
            "metrics": {"latencyMs": 930},
        },
        "outputTokenCount": 40,
    },
}

CONVERSE_STREAM: dict[str, Any] = {
    "schemaType": "ModelInvocationLog",
    "schemaVersion": "1.0",
    "timestamp": "2025-01-15T14:31:00Z",
    "accountId": "123456789012",
    "identity": {"arn": "arn:aws:iam::123456789012:user/dev"},
    "region": "eu-west-1",
    "requestId": "0b1f7a52-3c3e-4ad1-9c51-7c1f0e2d8a11",
    "operation": "ConverseStream",
    "modelId": "amazon.nova-lite-v1:0",
    "input": {
        "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
        "inputTokenCount": 30,
    },
    "output": {
        "outputBodyJson": [
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Searching"}}},
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {
                "contentBlockStart": {
                    "contentBlockIndex": 1,
                    "start": {"toolUse": {"toolUseId": "t1", "name": "search_kb"}},
                }
            },
            {
                "contentBlockDelta": {
                    "contentBlockIndex": 1,
                    "delta": {"toolUse": {"input": '{"q": "refund"}'}},
                }
            },
            {"contentBlockStop": {"contentBlockIndex": 1}},
            {"messageStop": {"stopReason": "tool_use"}},
            {
                "metadata": {
                    "usage": {"inputTokens": 30, "outputTokens": 25},
                    "metrics": {"latencyMs": 1510},
                },
                "amazon-bedrock-invocationMetrics": {
                    "inputTokenCount": 30,
                    "outputTokenCount": 25,
                    "invocationLatency": 1500,
                    "firstByteLatency": 320,
                },
            },
        ],
        "outputTokenCount": 25,
    },
}

INVOKE_ANTHROPIC: dict[str, Any] = {
    "schemaType": "ModelInvocationLog",
    "schemaVersion": "1.0",
    "timestamp": "2025-01-15T14:32:00Z",
    "accountId": "123456789012",
    "region": "us-east-1",
    "requestId": "9a3e1f0c-5b55-4d0e-8f3e-6b2c2d1a0f99",
    "operation": "InvokeModel",
    "modelId": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
    "input": {
        "inputBodyJson": {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 300,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        },
        "inputTokenCount": 20,
    },
    "output": {
        "outputBodyJson": {
            "id": "msg_bdrk_01",
            "type": "message",
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 20, "output_tokens": 15},
        },
        "outputTokenCount": 15,
    },
}

INVOKE_STREAM_ANTHROPIC: dict[str, Any] = {
    "schemaType": "ModelInvocationLog",
    "timestamp": "2025-01-15T14:33:00Z",
    "requestId": "77f0c1de-8a9b-4c3d-9e2f-1a2b3c4d5e6f",
    "operation": "InvokeModelWithResponseStream",
    "modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "input": {"inputBodyJson": {"messages": [{"role": "user", "content": "hello"}]}},
    "output": {
        "outputBodyJson": [
            {"type": "message_start", "message": {"role": "assistant", "stop_reason": None}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi!"}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
            {
                "type": "message_stop",
                "amazon-bedrock-invocationMetrics": {
                    "inputTokenCount": 8,
                    "outputTokenCount": 4,
                    "invocationLatency": 700,
                    "firstByteLatency": 250,
                    "cacheReadInputTokenCount": 1000,
                },
            },
        ]
    },
}

THROTTLED: dict[str, Any] = {
    "schemaType": "ModelInvocationLog",
    "schemaVersion": "1.0",
    "timestamp": "2025-01-15T14:34:00Z",
    "accountId": "123456789012",
    "region": "us-east-1",
    "requestId": "c0ffee00-0000-4000-8000-000000000001",
    "operation": "Converse",
    "modelId": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    "errorCode": "ThrottlingException",
    "input": {"inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "x"}]}]}},
}


def convert(record: dict[str, Any]) -> Call:
    return record_to_call(copy.deepcopy(record), "fallback")


def test_converse_record_maps_every_field() -> None:
    call = convert(CONVERSE)
    request_id = CONVERSE["requestId"]
    assert call.trace_id == hashlib.md5(request_id.encode()).hexdigest()
    assert len(call.span_id) == 16 and call.span_id == hashlib.sha1(request_id.encode()).hexdigest()[:16]
    assert (call.kind, call.source, call.provider, call.operation) == (
        "llm",
        "bedrock-log",
        "aws.bedrock",
        "Converse",
    )
    assert call.request_model == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert call.name == "chat us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert call.response_id == request_id
    assert call.start_time == T0
    assert call.end_time == T0 + dt.timedelta(milliseconds=930)
    assert call.duration_ms == 930
    assert call.stream is False and call.ttft_ms is None
    # inputTokenCount excludes the cache: input = 12 + 2048 + 100
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (2160, 2048, 100)
    assert call.output_tokens == 40
    assert call.stop_reason == "tool_use"
    assert (call.tool_names, call.tool_calls) == (["lookup_order"], 1)
    assert (call.app, call.tenant, call.feature, call.environment) == (
        "support-bot",
        "acme",
        "triage",
        "prod",
    )
    assert call.metadata == CONVERSE["requestMetadata"]
    assert call.status == "ok" and call.error_class is None
    assert call.prompt_chars == len(PROMPT) + len(SYSTEM)
    assert call.attributes == {
        "aws.region": "us-east-1",
        "aws.account.id": "123456789012",
        "aws.identity.arn": "arn:aws:sts::123456789012:assumed-role/support-app/i-0abc",
        "aws.inference_region": "us-west-2",
        "gen_ai.operation.name": "chat",
        "aws.bedrock.schema_version": "1.0",
    }


def test_no_prompt_or_response_text_is_kept() -> None:
    text = repr(convert(CONVERSE))
    assert PROMPT not in text and SYSTEM not in text and ANSWER not in text


def test_converse_stream_chunks_give_latency_ttft_and_tools() -> None:
    call = convert(CONVERSE_STREAM)
    assert call.stream is True and call.operation == "ConverseStream"
    assert call.duration_ms == 1500 and call.ttlt_ms == 1500
    assert call.ttft_ms == 320
    assert call.stream_duration_ms == 1180
    assert call.chunks == 8
    assert call.end_time == dt.datetime(2025, 1, 15, 14, 31, 1, 500000)
    assert call.stop_reason == "tool_use"
    assert call.tool_names == ["search_kb"] and call.tool_calls == 1
    assert (call.input_tokens, call.output_tokens) == (30, 25)
    assert call.output_tokens_per_s == pytest.approx(25 / 1.18)
    assert call.attributes["gen_ai.operation.name"] == "chat"
    assert "aws.inference_region" not in call.attributes


def test_invoke_model_anthropic_body() -> None:
    call = convert(INVOKE_ANTHROPIC)
    assert call.request_model == "anthropic.claude-3-haiku-20240307-v1:0"
    assert call.attributes["aws.bedrock.model_id"] == INVOKE_ANTHROPIC["modelId"]
    assert call.operation == "InvokeModel" and call.stream is False
    assert call.attributes["gen_ai.operation.name"] == "chat"
    assert call.stop_reason == "tool_use"
    assert call.tool_names == ["get_weather"]
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens) == (20, 15, None)
    assert call.prompt_chars == len("Be brief.") + len("What is the weather in Paris?")
    # InvokeModel bodies carry no latency: the end is unknown rather than invented.
    assert call.start_time == T0 + dt.timedelta(minutes=2)
    assert call.duration_ms is None and call.end_time is None


def test_invoke_model_stream_takes_the_last_chunk_metrics() -> None:
    call = convert(INVOKE_STREAM_ANTHROPIC)
    assert call.stream is True
    assert (call.duration_ms, call.ttft_ms, call.stream_duration_ms) == (700, 250, 450)
    assert call.stop_reason == "end_turn"
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (1008, 1000, 4)
    assert call.tool_names == [] and call.tool_calls == 0


def test_throttling_error_record() -> None:
    call = convert(THROTTLED)
    assert call.status == "error" and call.error_class == "throttled"
    assert call.attributes["error.type"] == "ThrottlingException"
    assert call.output_tokens is None and call.tool_calls is None


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        ("ThrottlingException", "throttled"),
        ("ServiceQuotaExceededException", "throttled"),
        ("ModelNotReadyException", "throttled"),
        ("InternalServerException", "server_error"),
        ("ServiceUnavailableException", "server_error"),
        ("ModelErrorException", "server_error"),
        ("ModelStreamErrorException", "server_error"),
        ("ModelTimeoutException", "timeout"),
        ("AccessDeniedException", "auth"),
        ("ValidationException", "invalid_request"),
        ("ResourceNotFoundException", "invalid_request"),
        ("SomethingNewException", "other"),
    ],
)
def test_error_codes_map_to_the_closed_set(code: str, error_class: str) -> None:
    call = convert({**THROTTLED, "errorCode": code})
    assert (call.status, call.error_class) == ("error", error_class)


def test_stream_exception_event_is_an_error() -> None:
    record = copy.deepcopy(CONVERSE_STREAM)
    record["output"]["outputBodyJson"] = [{"messageStart": {}}, {"throttlingException": {"message": "slow"}}]
    call = convert(record)
    assert (call.status, call.error_class) == ("error", "throttled")
    assert call.attributes["error.type"] == "ThrottlingException"


def test_label_synonyms_and_exact_names() -> None:
    record = {
        **THROTTLED,
        "requestMetadata": {"app": "a1", "application_name": "a2", "experiment_id": "exp-7"},
    }
    call = convert(record)
    assert call.app == "a1"  # the exact label name wins over a synonym
    assert call.experiment == "exp-7"
    assert call.metadata == record["requestMetadata"]


def test_record_without_request_id_uses_the_fallback_key() -> None:
    record = {key: value for key, value in THROTTLED.items() if key != "requestId"}
    assert record_to_call(record, "a").trace_id != record_to_call(record, "b").trace_id
    assert record_to_call(record, "a").span_id == record_to_call(record, "a").span_id


# --- files --------------------------------------------------------------------------------------------


def import_paths(*paths: Path) -> tuple[list[Call], list[ImportProblem]]:
    problems: list[ImportProblem] = []
    calls = list(iter_calls("bedrock-logs", list(paths), problems))
    return calls, problems


def ndjson(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def test_cloudwatch_export_with_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    lines = [
        json.dumps(CONVERSE),
        "{not json",
        "",
        json.dumps({"hello": 1}),
        f"2025-01-15T14:34:00.000Z {json.dumps(THROTTLED)}",  # an export task's timestamp prefix
        "just some text",
    ]
    path.write_text("\n".join(lines) + "\n")
    calls, problems = import_paths(path)
    assert [call.response_id for call in calls] == [CONVERSE["requestId"], THROTTLED["requestId"]]
    assert [(p.path, p.line_no) for p in problems] == [(path, 2), (path, 4), (path, 6)]
    assert "not a Bedrock model invocation log record" in problems[1].message


def write_gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)


def test_s3_layout_is_walked_and_skips_permission_check_and_data(tmp_path: Path) -> None:
    root = tmp_path / "bucket" / "prefix" / "AWSLogs" / "123456789012" / "BedrockModelInvocationLogs"
    hour = root / "us-east-1" / "2025" / "01" / "15" / "14"
    write_gz(hour / "20250115T143000Z_1a2b.json.gz", ndjson(CONVERSE, CONVERSE_STREAM))
    write_gz(
        root / "us-east-1" / "2025" / "01" / "15" / "15" / "20250115T150000Z_3c4d.json.gz", ndjson(THROTTLED)
    )
    write_gz(hour / "data" / "5d7c6c2e_input.json.gz", json.dumps({"messages": []}) + "\n")
    (root / "permission-check").write_text("")
    (root / "us-east-1" / "permission-check.json.gz").write_bytes(b"")
    calls, problems = import_paths(tmp_path / "bucket")
    assert problems == []
    assert [call.response_id for call in calls] == [
        CONVERSE["requestId"],
        CONVERSE_STREAM["requestId"],
        THROTTLED["requestId"],
    ]
    # Named explicitly, a permission-check or data/ object is still skipped.
    assert (
        import_paths(
            root / "us-east-1" / "permission-check.json.gz", hour / "data" / "5d7c6c2e_input.json.gz"
        )[0]
        == []
    )


def test_same_record_from_cloudwatch_and_s3_has_the_same_ids(tmp_path: Path) -> None:
    (tmp_path / "cw.jsonl").write_text(ndjson(CONVERSE))
    write_gz(tmp_path / "s3" / "x.json.gz", ndjson(CONVERSE))
    calls, _ = import_paths(tmp_path / "cw.jsonl", tmp_path / "s3")
    assert len(calls) == 2
    assert {(call.trace_id, call.span_id) for call in calls} == {(calls[0].trace_id, calls[0].span_id)}


def envelope(records: list[dict[str, Any]], *, indent: int | None = 4) -> str:
    events = [
        {
            "logStreamName": "aws/bedrock/modelinvocations",
            "timestamp": 1736951400000 + index,
            "message": json.dumps(record),
            "ingestionTime": 1736951401000,
            "eventId": f"3776{index:020d}",
        }
        for index, record in enumerate(records)
    ]
    document = {"events": events, "searchedLogStreams": [], "nextToken": "Bxkq6kVGFtq2y_Moigeqscg"}
    return json.dumps(document, indent=indent) + "\n"


def test_aws_logs_envelope_pretty_and_compact(tmp_path: Path) -> None:
    no_time = {key: value for key, value in CONVERSE_STREAM.items() if key != "timestamp"}
    records = [CONVERSE, no_time, INVOKE_ANTHROPIC]
    (tmp_path / "pretty.json").write_text(envelope(records))
    (tmp_path / "compact.json").write_text(envelope(records, indent=None))
    for name in ("pretty.json", "compact.json"):
        calls, problems = import_paths(tmp_path / name)
        assert problems == []
        assert [call.response_id for call in calls] == [record["requestId"] for record in records]
        # a record without its own timestamp takes the log event's
        assert calls[1].start_time == dt.datetime(2025, 1, 15, 14, 30, 0, 1000)


def test_envelope_bad_event_is_reported_at_its_line(tmp_path: Path) -> None:
    text = envelope([CONVERSE, THROTTLED]).replace(json.dumps(json.dumps(THROTTLED)), '"oops, not json"')
    path = tmp_path / "events.json"
    path.write_text(text)
    calls, problems = import_paths(path)
    assert [call.response_id for call in calls] == [CONVERSE["requestId"]]
    assert len(problems) == 1
    lines = text.splitlines()
    bad = next(index for index, line in enumerate(lines) if "oops" in line)
    event_start = max(index for index in range(bad) if lines[index] == "        {")
    assert problems[0].line_no == event_start + 1
    assert problems[0].message == "the log event's message is not JSON"


def test_envelope_is_streamed_across_small_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bedrock_logs, "_CHUNK", 7)
    records = [{**CONVERSE, "requestId": f"req-{index}"} for index in range(40)]
    path = tmp_path / "big.json"
    path.write_text(envelope(records))
    calls, problems = import_paths(path)
    assert problems == []
    assert [call.response_id for call in calls] == [f"req-{index}" for index in range(40)]


def test_pretty_printed_records_and_arrays(tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    path.write_text(
        json.dumps(CONVERSE, indent=2) + "\n" + json.dumps([THROTTLED, INVOKE_ANTHROPIC], indent=2)
    )
    calls, problems = import_paths(path)
    assert problems == []
    assert [call.response_id for call in calls] == [
        CONVERSE["requestId"],
        THROTTLED["requestId"],
        INVOKE_ANTHROPIC["requestId"],
    ]


def test_broken_document_reports_and_keeps_what_came_before(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    text = envelope([CONVERSE, THROTTLED])
    second_message = text.index(json.dumps(json.dumps(THROTTLED)))
    path.write_text(text[: second_message + 100])
    calls, problems = import_paths(path)
    assert [call.response_id for call in calls] == [CONVERSE["requestId"]]
    assert len(problems) == 1 and "rest of file skipped" in problems[0].message


def test_truncated_gzip_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "cut.json.gz"
    data = gzip.compress(ndjson(*[{**CONVERSE, "requestId": f"r{i}"} for i in range(200)]).encode())
    path.write_bytes(data[: len(data) // 2])
    calls, problems = import_paths(path)
    assert 0 < len(calls) < 200
    assert len(problems) == 1 and problems[0].path == path
    assert "cannot read file" in problems[0].message
