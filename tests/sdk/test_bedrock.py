"""The real boto3 bedrock-runtime client against the simulator: Converse(Stream) and
InvokeModel(WithResponseStream) with Anthropic, Nova and Llama bodies; retries, errors; requestMetadata."""

from __future__ import annotations

import gc
import hashlib
import json
from typing import Any

import botocore.exceptions
import pytest
from botocore.retries.standard import ExponentialBackoff

from tokentrail import semconv as sc
from tokentrail.ingest.normalize import to_call
from tokentrail.sdk import bedrock

from .conftest import BedrockClient, Recorder, assert_stream_timing, assert_usage, timing_retries

MESSAGES = [{"role": "user", "content": [{"text": "Summarise the incident report."}]}]
TIMED = {"ttft_ms": 40, "itl_ms": 20, "output_tokens": 8, "tokens_per_chunk": 1}
CACHED = {"input_tokens": 400, "cache_read_tokens": 200, "cache_write_tokens": 50}
MODELS = {
    "anthropic": "anthropic.claude-3-haiku-20240307-v1:0",
    "nova": "amazon.nova-lite-v1:0",
    "llama": "meta.llama3-8b-instruct-v1:0",
}
BODIES: dict[str, dict[str, Any]] = {
    "anthropic": {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "hi"}],
    },
    "nova": {"messages": MESSAGES, "inferenceConfig": {"maxTokens": 200}},
    "llama": {"prompt": "hi", "max_gen_len": 200},
}


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore waits up to 1 s (x2 per attempt) before retrying a throttle; the count is what we test."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.01)


def test_converse(bedrock: BedrockClient, rec: Recorder) -> None:
    response = bedrock.steer(**CACHED).converse(modelId=MODELS["nova"], messages=MESSAGES)
    assert response["usage"]["inputTokens"] == 150  # Bedrock reports input without the cache ...
    attrs = rec.one()
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 400  # ... the span follows the OTel rule
    assert_usage(attrs, rec.plan())
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == MODELS["nova"]
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0] == response["stopReason"]
    assert (attrs[sc.TT_ATTEMPTS], attrs[sc.TT_HTTP_STATUS]) == (1, 200)
    assert attrs[sc.TT_BEDROCK_LATENCY_MS] == response["metrics"]["latencyMs"]
    assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1"


def test_converse_stream_with_tool(bedrock: BedrockClient, rec: Recorder) -> None:
    tools = {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}]}
    response = bedrock.steer(**TIMED, tool_call="lookup").converse_stream(
        modelId=MODELS["anthropic"], messages=MESSAGES, toolConfig=tools
    )
    for _ in response["stream"]:
        pass
    attrs = rec.one()
    plan = rec.plan()
    assert_usage(attrs, plan)
    assert attrs[sc.TT_TOOL_NAMES] == ("lookup",)
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0] == "tool_use"
    assert attrs[sc.TT_CHUNKS] == plan.chunks


@timing_retries
def test_converse_stream_timing(bedrock: BedrockClient, rec: Recorder) -> None:
    response = bedrock.steer(**TIMED, **CACHED).converse_stream(modelId=MODELS["nova"], messages=MESSAGES)
    for _ in response["stream"]:
        pass
    attrs = rec.one()
    assert_usage(attrs, rec.plan())
    assert_stream_timing(attrs, rec.plan(), itl_ms=20)
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0] == "end_turn"


@pytest.mark.parametrize("fmt", ["anthropic", "nova", "llama"])
def test_invoke_model(bedrock: BedrockClient, rec: Recorder, fmt: str) -> None:
    directive = {"input_tokens": 60} if fmt == "llama" else CACHED
    response = bedrock.steer(**directive).invoke_model(modelId=MODELS[fmt], body=json.dumps(BODIES[fmt]))
    body = json.loads(response["body"].read())  # the caller still gets the whole body
    assert body
    attrs = rec.one()
    assert_usage(attrs, rec.plan())
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0]
    assert attrs[sc.GEN_AI_OPERATION_NAME] == ("text_completion" if fmt == "llama" else "chat")


@pytest.mark.parametrize("fmt", ["anthropic", "nova", "llama"])
@timing_retries
def test_invoke_model_stream(bedrock: BedrockClient, rec: Recorder, fmt: str) -> None:
    directive = TIMED if fmt == "llama" else {**TIMED, **CACHED}
    response = bedrock.steer(**directive).invoke_model_with_response_stream(
        modelId=MODELS[fmt], body=json.dumps(BODIES[fmt])
    )
    for _ in response["body"]:
        pass
    attrs = rec.one()
    plan = rec.plan()
    assert_usage(attrs, plan)
    assert_stream_timing(attrs, plan, itl_ms=20)
    assert attrs[sc.TT_BEDROCK_FIRST_BYTE_LATENCY_MS] >= 0
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0]


def test_invoke_model_stream_of_a_tool_call_names_the_tool(bedrock: BedrockClient, rec: Recorder) -> None:
    """A block's end tells the worker nothing and stays on the caller; a tool block's start names the tool
    and is read on the worker (a text stream's framing: `test_invoke_model_stream`)."""
    tool = {"name": "lookup", "input_schema": {"type": "object"}}
    body = {**BODIES["anthropic"], "tools": [tool]}
    response = bedrock.steer(**TIMED, tool_call="lookup").invoke_model_with_response_stream(
        modelId=MODELS["anthropic"], body=json.dumps(body)
    )
    events = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    assert {"content_block_start", "content_block_stop"} <= {event["type"] for event in events}
    attrs = rec.one()
    assert attrs[sc.TT_TOOL_NAMES] == ("lookup",)
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0] == "tool_use"
    assert_usage(attrs, rec.plan())
    assert attrs[sc.TT_CHUNKS] == rec.plan().chunks


def test_throttled_then_success(bedrock: BedrockClient, rec: Recorder) -> None:
    bedrock.steer(fail=[429, 429]).converse(modelId=MODELS["nova"], messages=MESSAGES)
    attrs = rec.one()
    assert (attrs[sc.TT_ATTEMPTS], attrs[sc.TT_HTTP_STATUS]) == (3, 200)
    assert sc.TT_ERROR_CLASS not in attrs


def test_throttled_exhausted(bedrock: BedrockClient, rec: Recorder) -> None:
    with pytest.raises(botocore.exceptions.ClientError):
        bedrock.steer(fail=[429] * 3).converse(modelId=MODELS["nova"], messages=MESSAGES)
    attrs = rec.one()
    assert (attrs[sc.TT_ATTEMPTS], attrs[sc.TT_HTTP_STATUS], attrs[sc.TT_ERROR_CLASS]) == (
        3,
        429,
        "throttled",
    )
    assert attrs[sc.ERROR_TYPE] == "ThrottlingException"


def test_server_error(bedrock: BedrockClient, rec: Recorder) -> None:
    with pytest.raises(botocore.exceptions.ClientError):
        bedrock.steer(fail=[500] * 3).invoke_model(modelId=MODELS["nova"], body=json.dumps(BODIES["nova"]))
    attrs = rec.one()
    assert (attrs[sc.TT_ATTEMPTS], attrs[sc.TT_HTTP_STATUS], attrs[sc.TT_ERROR_CLASS]) == (
        3,
        500,
        "server_error",
    )


def test_timeout(rec: Recorder) -> None:
    slow = BedrockClient(
        rec.sim.url, read_timeout=0.25, retries={"mode": "standard", "total_max_attempts": 2}
    )
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        slow.steer(fail=["timeout"] * 2, hang_ms=3000).converse(modelId=MODELS["nova"], messages=MESSAGES)
    slow.client.close()
    attrs = rec.one()
    assert (attrs[sc.TT_ATTEMPTS], attrs[sc.TT_ERROR_CLASS]) == (2, "timeout")


def test_content_filtered(bedrock: BedrockClient, rec: Recorder) -> None:
    response = bedrock.steer(fail=["content_filter"], fail_after=2).converse_stream(
        modelId=MODELS["nova"], messages=MESSAGES
    )
    for _ in response["stream"]:
        pass
    attrs = rec.one()
    assert (attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0], attrs[sc.TT_ERROR_CLASS], attrs[sc.TT_CHUNKS]) == (
        "content_filtered",
        "content_filtered",
        2,
    )


def test_midstream_exception(bedrock: BedrockClient, rec: Recorder) -> None:
    response = bedrock.steer(
        fail=[429], fail_mode="midstream", fail_after=2
    ).invoke_model_with_response_stream(modelId=MODELS["nova"], body=json.dumps(BODIES["nova"]))
    with pytest.raises(botocore.exceptions.EventStreamError):
        for _ in response["body"]:
            pass
    response["body"].close()
    attrs = rec.one()
    assert (attrs[sc.TT_CHUNKS], attrs[sc.TT_ERROR_CLASS], attrs[sc.TT_HTTP_STATUS]) == (2, "throttled", 200)


def test_anthropic_error_chunk(bedrock: BedrockClient, rec: Recorder) -> None:
    """An Anthropic-format stream may send its error as a chunk: boto3 raises nothing; the span records it."""
    response = bedrock.steer(
        fail=[529], fail_mode="midstream", fail_after=3
    ).invoke_model_with_response_stream(modelId=MODELS["anthropic"], body=json.dumps(BODIES["anthropic"]))
    for _ in response["body"]:
        pass
    attrs = rec.one()
    assert (attrs[sc.TT_CHUNKS], attrs[sc.TT_ERROR_CLASS], attrs[sc.ERROR_TYPE]) == (
        3,
        "server_error",
        "overloaded_error",
    )


# --- requestMetadata --------------------------------------------------------------------------------------


def _sent_metadata(rec: Recorder, bedrock_client: BedrockClient, **labels: Any) -> dict[str, str]:
    seen: dict[str, Any] = {}

    def capture(params: dict[str, Any], **_: Any) -> None:
        seen.update(params.get("requestMetadata") or {})

    bedrock_client.client.meta.events.register("provide-client-params.bedrock-runtime.Converse", capture)
    user = labels.pop("_user", None)
    with rec.tt.labels(**labels):
        kwargs: dict[str, Any] = {"requestMetadata": user} if user else {}
        bedrock_client.steer().converse(modelId=MODELS["nova"], messages=MESSAGES, **kwargs)
    return seen


def test_labels_sent_as_request_metadata(bedrock: BedrockClient, rec: Recorder) -> None:
    sent = _sent_metadata(rec, bedrock, feature="triage", tenant="acme corp", ticket="T-1", note="café <ok>")
    assert sent == {"feature": "triage", "tenant": "acme corp", "note": "caf_ _ok_", "ticket": "T-1"}
    attrs = rec.one()
    assert attrs[sc.label_attribute("feature")] == "triage"
    assert attrs[sc.TT_METADATA_PREFIX + "note"] == "café <ok>"  # the span keeps the value as given
    assert sc.TT_REQUEST_METADATA_DROPPED not in attrs


def test_request_metadata_limits(bedrock: BedrockClient, rec: Recorder) -> None:
    user = {f"u{i}": "v" for i in range(14)} | {"feature": "mine"}
    extra = {f"m{i:02d}": "x" * 300 for i in range(5)}
    sent = _sent_metadata(rec, bedrock, _user=user, feature="triage", **extra)
    assert len(sent) == 16
    assert sent["feature"] == "mine"  # never overwritten
    assert sent["m00"] == "x" * 256  # cut to the limit
    assert rec.one()[sc.TT_REQUEST_METADATA_DROPPED] == 5  # feature (taken) + m01..m04 (no room)


def test_request_metadata_hashes_user_id() -> None:
    from tokentrail.sdk.context import EMPTY_LABELS

    labels = EMPTY_LABELS.merged({"user_id": "alice@example.com"})
    digest = hashlib.sha256(b"alice@example.com").hexdigest()[:32]
    assert bedrock.label_metadata(labels, hash_user_id=True) == [("user_id", digest)]
    assert bedrock.label_metadata(labels, hash_user_id=False) == [("user_id", "alice@example.com")]


def test_body_format_detection() -> None:
    assert bedrock.body_format("us.anthropic.claude-3-5-sonnet-20241022-v2:0") == "anthropic"
    assert (
        bedrock.body_format("arn:aws:bedrock:us-east-1:1:application-inference-profile/x", {"generation": ""})
        == "llama"
    )
    assert bedrock.body_format("arn:aws:bedrock:x", {"output": {}}) == "nova"
    assert bedrock.body_format("arn:aws:bedrock:x", {"type": "message"}) == "anthropic"
    assert bedrock.body_format("arn:aws:bedrock:x") is None


def test_one_client_only(rec: Recorder) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tokentrail import Tokentrail

    memory = InMemorySpanExporter()
    other = Tokentrail(
        send_to_collector=False, use_global_provider=False, span_processors=[SimpleSpanProcessor(memory)]
    )
    mine, theirs = BedrockClient(rec.sim.url), BedrockClient(rec.sim.url)
    assert other.instrument_bedrock(mine.client) is True
    mine.steer(fail=[429]).converse(modelId=MODELS["nova"], messages=MESSAGES)
    theirs.steer().converse(modelId=MODELS["nova"], messages=MESSAGES)
    assert other.force_flush(10)
    (span,) = memory.get_finished_spans()
    assert dict(span.attributes or {})[sc.TT_ATTEMPTS] == 2  # counted once, though both patches see it
    assert len(rec.llm()) == 1  # the other client: the class-level (session) patch
    assert other.uninstrument() == 1
    mine.client.close()
    theirs.client.close()


IDS: dict[str, Any] = {"trace_id": "a" * 32, "span_id": "b" * 16, "parent_span_id": None}


def test_stored_operation_is_the_bedrock_api_name(bedrock: BedrockClient, rec: Recorder) -> None:
    """As in Bedrock's invocation logs, a stored Bedrock call's operation is the API it went through;
    the GenAI operation (chat) stays in the gen_ai.operation.name attribute."""
    client = bedrock.steer(output_tokens=3)
    client.converse(modelId=MODELS["nova"], messages=MESSAGES)
    for _ in client.converse_stream(modelId=MODELS["nova"], messages=MESSAGES)["stream"]:
        pass
    client.invoke_model(modelId=MODELS["nova"], body=json.dumps(BODIES["nova"]))["body"].read()
    streamed = client.invoke_model_with_response_stream(
        modelId=MODELS["nova"], body=json.dumps(BODIES["nova"])
    )
    for _ in streamed["body"]:
        pass
    stored = []
    for span in rec.llm():
        attrs = dict(span.attributes or {})
        assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
        call = to_call(attrs, **IDS, name=span.name, start_ns=span.start_time or 0, end_ns=span.end_time or 0)
        assert call.attributes[sc.GEN_AI_OPERATION_NAME] == "chat" and call.kind == "llm"
        stored.append(call.operation)
    assert sorted(stored) == ["Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"]


def test_other_providers_keep_the_gen_ai_operation() -> None:
    attrs = {sc.GEN_AI_PROVIDER_NAME: "openai", sc.GEN_AI_OPERATION_NAME: "chat", sc.RPC_METHOD: "Converse"}
    call = to_call(attrs, **IDS, name="chat gpt-4o", start_ns=1, end_ns=2)
    assert call.operation == "chat"


TEXT_START: dict[str, Any] = {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}


@pytest.mark.parametrize(
    ("event", "sorted_as"),
    [
        ({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}, True),
        ({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ""}}, None),
        (
            {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "x"}},
            None,
        ),
        (
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": "{"},
            },
            None,
        ),
        (
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": '"text":""'}},
            True,
        ),
        (
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
            None,
        ),
        ({"type": "content_block_delta", "index": 12, "delta": {"type": "text_delta", "text": "Hi"}}, True),
        ({"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": '"'}}, True),
        ({"type": "content_block_stop", "index": 12}, False),
        ({"type": "ping"}, False),
        ({**TEXT_START, "content_block": {"type": "text", "text": ""}}, False),
        ({**TEXT_START, "content_block": {"type": "text", "text": "Hi"}}, None),
        ({**TEXT_START, "content_block": {"type": "text", "text": "", "citations": []}}, None),
        ({**TEXT_START, "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}}, None),
        ({"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 3}}, None),
    ],
)
def test_anthropic_invoke_chunks_sorted_on_the_caller_without_decoding(
    event: dict[str, Any], sorted_as: bool | None
) -> None:
    """Plain text deltas leave only their time, events with nothing to read nothing; every other chunk is
    kept for the worker, which decodes it."""
    compact = json.dumps(event, separators=(",", ":")).encode()
    assert bedrock.classify_anthropic_chunk({"chunk": {"bytes": compact}}) is sorted_as
    spaced = json.dumps(event).encode()  # not Bedrock's form: kept, and read correctly on the worker
    assert bedrock.classify_anthropic_chunk({"chunk": {"bytes": spaced}}) is None


def _stream_args(operation: str) -> dict[str, Any]:
    args: dict[str, Any] = {"modelId": MODELS["nova"]}
    if operation == "converse_stream":
        args["messages"] = MESSAGES
    else:
        args["body"] = json.dumps(BODIES["nova"])
    return args


@pytest.mark.parametrize("operation", ["converse_stream", "invoke_model_with_response_stream"])
@pytest.mark.parametrize("events_read", [None, 1])
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_stream_dropped_before_its_end_ends_closed_early(
    bedrock: BedrockClient, rec: Recorder, operation: str, events_read: int | None
) -> None:
    """A stream never iterated, or left after its first event, and dropped: the call ends, cancelled, when
    the stream object is freed (its class's finalizer). Its connection, never read to the end nor closed,
    is left to the collector too (urllib3 warns of the socket: that is the app's drop, not ours)."""
    response = getattr(bedrock.steer(**TIMED), operation)(**_stream_args(operation))
    if events_read is not None:
        events = iter(response["stream" if operation == "converse_stream" else "body"])
        for _ in range(events_read):
            next(events)
        del events
    del response
    gc.collect()  # botocore's stream refers to itself (through its event generator): the collector frees it
    attrs = rec.one()
    assert (attrs[sc.TT_ERROR_CLASS], attrs[sc.ERROR_TYPE]) == ("cancelled", "stream_closed")


@pytest.mark.parametrize("operation", ["converse_stream", "invoke_model_with_response_stream"])
def test_a_stream_dropped_after_its_end_is_not_closed(
    bedrock: BedrockClient, rec: Recorder, operation: str
) -> None:
    """Apps iterate `client.converse_stream(...)["stream"]` and drop it: the stream object is freed as its own
    iterator ends, and its drop finalizer must not be taken for a stream closed early."""
    for _ in getattr(bedrock.steer(**TIMED), operation)(**_stream_args(operation))[
        "stream" if operation == "converse_stream" else "body"
    ]:
        pass
    attrs = rec.one()
    assert sc.ERROR_TYPE not in attrs
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS][0] == "end_turn"
