"""boto3's bedrock-runtime client against the simulator over loopback HTTP (dummy credentials)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError, ReadTimeoutError

from tokentrail.simulator import SimulatorServer

from .helpers import assert_ttft, plan_of

NOVA = "amazon.nova-lite-v1:0"
CLAUDE_PROFILE = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
LLAMA = "meta.llama3-1-8b-instruct-v1:0"
MESSAGES: list[Any] = [{"role": "user", "content": [{"text": "Which tenant is throttled most?"}]}]
TOOL_CONFIG: Any = {
    "tools": [
        {
            "toolSpec": {
                "name": "throttles",
                "inputSchema": {"json": {"type": "object", "properties": {"tenant": {"type": "string"}}}},
            }
        }
    ]
}


def make_client(sim: SimulatorServer, **config: Any) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=sim.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(**{"retries": {"total_max_attempts": 1}, **config}),
    )


@pytest.fixture(scope="module")
def bedrock(sim_server: SimulatorServer) -> Iterator[Any]:
    client = make_client(sim_server)
    yield client
    client.close()


EVENT = "before-sign.bedrock-runtime"


def directed(client: Any, **directive: Any) -> None:
    """Send the directive header with the client's next calls (replacing any earlier one)."""

    def add(request: Any, **_: Any) -> None:
        request.headers["x-tokentrail-sim"] = json.dumps(directive)

    client.meta.events.unregister(EVENT, unique_id="sim-directive")
    client.meta.events.register_first(EVENT, add, unique_id="sim-directive")


@pytest.fixture
def steered(bedrock: Any, sim: SimulatorServer) -> Iterator[Any]:
    """The module's client; tests call directed(...) on it, and the directive is removed afterwards."""
    yield bedrock
    bedrock.meta.events.unregister(EVENT, unique_id="sim-directive")


def test_converse_with_an_inference_profile_id(steered: Any, sim: SimulatorServer) -> None:
    directed(steered, output_tokens=7, input_tokens=50, cache_read_tokens=20, cache_write_tokens=10)
    response = steered.converse(modelId=CLAUDE_PROFILE, messages=MESSAGES)
    plan = plan_of(response["ResponseMetadata"]["HTTPHeaders"])
    usage = response["usage"]
    assert (usage["inputTokens"], usage["cacheReadInputTokens"], usage["cacheWriteInputTokens"]) == (
        20,
        20,
        10,
    )
    assert usage["outputTokens"] == plan["output_tokens"] == 7 and usage["totalTokens"] == 57
    assert response["stopReason"] == "end_turn" and response["metrics"]["latencyMs"] == round(
        plan["total_ms"]
    )
    assert len(response["output"]["message"]["content"][0]["text"].split()) == 7
    assert sim.requests()[0].path == f"/model/{CLAUDE_PROFILE}/converse"
    assert response["ResponseMetadata"]["RequestId"]


def test_converse_stream_paces_events(steered: Any) -> None:
    for _ in steered.converse_stream(modelId=NOVA, messages=MESSAGES, inferenceConfig={"maxTokens": 1})[
        "stream"
    ]:
        pass  # the first stream in a process pays for lazy imports and parser set-up
    directed(steered, ttft_ms=60, itl_ms=5, output_tokens=8)
    started = time.perf_counter()
    response = steered.converse_stream(modelId=NOVA, messages=MESSAGES)
    plan = plan_of(response["ResponseMetadata"]["HTTPHeaders"])
    events, first_delta_ms = [], None
    for event in response["stream"]:
        if "contentBlockDelta" in event and first_delta_ms is None:
            first_delta_ms = (time.perf_counter() - started) * 1000
        events.append(event)
    assert first_delta_ms is not None
    assert_ttft(first_delta_ms, plan)
    assert [next(iter(e)) for e in events[:1] + events[-3:]] == [
        "messageStart",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    deltas = [e for e in events if "contentBlockDelta" in e]
    assert len(deltas) == plan["chunks"] == 2  # Nova sends 4 tokens per chunk
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 8


def test_converse_stream_tool_use(steered: Any) -> None:
    directed(steered, tool_call="throttles")
    events = list(steered.converse_stream(modelId=NOVA, messages=MESSAGES, toolConfig=TOOL_CONFIG)["stream"])
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "throttles"
    arguments = "".join(
        e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e
    )
    assert set(json.loads(arguments)) == {"tenant"}
    assert next(e["messageStop"] for e in events if "messageStop" in e)["stopReason"] == "tool_use"


ANTHROPIC_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "Why did spend rise?"}],
}
NOVA_BODY = {"messages": MESSAGES, "inferenceConfig": {"max_new_tokens": 100}}
LLAMA_BODY = {"prompt": "<|begin_of_text|>Why did spend rise?", "max_gen_len": 100}


def test_invoke_anthropic(steered: Any) -> None:
    directed(steered, output_tokens=5, input_tokens=30, cache_read_tokens=10)
    response = steered.invoke_model(modelId=CLAUDE_PROFILE, body=json.dumps(ANTHROPIC_BODY))
    body = json.loads(response["body"].read())
    assert body["type"] == "message" and body["stop_reason"] == "end_turn"
    assert body["usage"]["input_tokens"] == 20 and body["usage"]["cache_read_input_tokens"] == 10
    assert body["usage"]["output_tokens"] == 5
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-input-token-count"] == "20"
    assert headers["x-amzn-bedrock-output-token-count"] == "5"


def test_invoke_stream_anthropic(steered: Any) -> None:
    directed(steered, output_tokens=6, input_tokens=30, cache_write_tokens=12)
    response = steered.invoke_model_with_response_stream(
        modelId=CLAUDE_PROFILE, body=json.dumps(ANTHROPIC_BODY)
    )
    plan = plan_of(response["ResponseMetadata"]["HTTPHeaders"])
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    types = [chunk["type"] for chunk in chunks]
    assert types[0] == "message_start" and types[-1] == "message_stop" and "ping" not in types
    assert chunks[0]["message"]["usage"]["cache_creation_input_tokens"] == 12
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] == 18 and metrics["outputTokenCount"] == 6
    assert metrics["cacheWriteInputTokenCount"] == 12
    assert metrics["firstByteLatency"] == round(plan["ttft_ms"])
    assert metrics["invocationLatency"] == round(plan["total_ms"])


def test_invoke_nova(steered: Any) -> None:
    directed(steered, output_tokens=5)
    body = json.loads(steered.invoke_model(modelId=NOVA, body=json.dumps(NOVA_BODY))["body"].read())
    assert body["stopReason"] == "end_turn"
    assert len(body["output"]["message"]["content"][0]["text"].split()) == 5
    usage = body["usage"]
    assert usage["outputTokens"] == 5 and usage["totalTokens"] == usage["inputTokens"] + 5
    assert usage["cacheReadInputTokenCount"] == 0


def test_invoke_stream_nova(steered: Any) -> None:
    directed(steered, output_tokens=9)
    response = steered.invoke_model_with_response_stream(modelId=NOVA, body=json.dumps(NOVA_BODY))
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    keys = [next(k for k in chunk if k != "amazon-bedrock-invocationMetrics") for chunk in chunks]
    assert keys == ["messageStart", *["contentBlockDelta"] * 3, "contentBlockStop", "messageStop", "metadata"]
    text = "".join(c["contentBlockDelta"]["delta"]["text"] for c in chunks if "contentBlockDelta" in c)
    assert len(text.split()) == 9
    assert chunks[-1]["metadata"]["usage"]["outputTokens"] == 9
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 9


def test_invoke_llama_plain_and_streamed(steered: Any) -> None:
    directed(steered, output_tokens=4, input_tokens=12)
    body = json.loads(steered.invoke_model(modelId=LLAMA, body=json.dumps(LLAMA_BODY))["body"].read())
    assert (body["prompt_token_count"], body["generation_token_count"], body["stop_reason"]) == (
        12,
        4,
        "stop",
    )
    response = steered.invoke_model_with_response_stream(modelId=LLAMA, body=json.dumps(LLAMA_BODY))
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    assert [c["generation_token_count"] for c in chunks] == [1, 2, 3, 4, 4]
    assert chunks[0]["prompt_token_count"] == 12 and chunks[-1]["stop_reason"] == "stop"
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"] == 12


def test_llama_max_gen_len_truncates(steered: Any) -> None:
    directed(steered, output_tokens=40)
    body = {**LLAMA_BODY, "max_gen_len": 6}
    result = json.loads(steered.invoke_model(modelId=LLAMA, body=json.dumps(body))["body"].read())
    assert (result["generation_token_count"], result["stop_reason"]) == (6, "length")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, "ThrottlingException"),
        (500, "InternalServerException"),
        (503, "ServiceUnavailableException"),
        (400, "ValidationException"),
    ],
)
def test_errors_are_client_errors_with_the_right_code(steered: Any, status: int, code: str) -> None:
    directed(steered, fail=[status])
    with pytest.raises(ClientError) as caught:
        steered.converse(modelId=NOVA, messages=MESSAGES)
    error = caught.value.response
    assert error["Error"]["Code"] == code
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error["ResponseMetadata"]["RequestId"]


def test_botocore_retries_a_throttle(sim: SimulatorServer) -> None:
    client = make_client(sim, retries={"total_max_attempts": 2, "mode": "standard"})
    try:
        directed(client, fail=[429], output_tokens=3)
        response = client.converse(modelId=NOVA, messages=MESSAGES)
    finally:
        client.close()
    assert response["usage"]["outputTokens"] == 3
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert [(r.attempt, r.status) for r in sim.requests()] == [(0, 429), (1, 200)]


def test_timeout_hangs_then_answers_model_timeout(steered: Any, sim: SimulatorServer) -> None:
    directed(steered, fail=["timeout"], hang_ms=50)
    with pytest.raises(ClientError) as caught:
        steered.invoke_model(modelId=LLAMA, body=json.dumps(LLAMA_BODY))
    assert caught.value.response["Error"]["Code"] == "ModelTimeoutException"
    client = make_client(sim, read_timeout=0.3)
    try:
        directed(client, fail=["timeout"], hang_ms=5000)
        with pytest.raises(ReadTimeoutError):
            client.converse(modelId=NOVA, messages=MESSAGES)
    finally:
        client.close()


def test_midstream_exception_frame(steered: Any) -> None:
    directed(steered, fail=[429], fail_mode="midstream", output_tokens=8, fail_after=1)
    response = steered.invoke_model_with_response_stream(modelId=NOVA, body=json.dumps(NOVA_BODY))
    seen = []
    with pytest.raises(EventStreamError) as caught, contextlib.closing(response["body"]):
        for event in response["body"]:
            seen.append(json.loads(event["chunk"]["bytes"]))
    assert caught.value.response["Error"]["Code"] == "throttlingException"
    assert [next(iter(chunk)) for chunk in seen] == ["messageStart", "contentBlockDelta"]


def test_content_filtered_stop_reason(steered: Any) -> None:
    directed(steered, fail=["content_filter"], output_tokens=12, fail_after=1)
    response = steered.converse(modelId=NOVA, messages=MESSAGES)
    plan = plan_of(response["ResponseMetadata"]["HTTPHeaders"])
    assert response["stopReason"] == "content_filtered"
    assert response["usage"]["outputTokens"] == plan["output_tokens"] == 4


def test_unknown_invoke_family_is_a_validation_error(steered: Any) -> None:
    with pytest.raises(ClientError) as caught:
        steered.invoke_model(modelId="acme.unknown-v1", body=json.dumps({"input": "x"}))
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_arn_model_ids_route(steered: Any, sim: SimulatorServer) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0"
    directed(steered, output_tokens=2)
    response = steered.converse(modelId=arn, messages=MESSAGES)
    assert response["usage"]["outputTokens"] == 2
    assert sim.requests()[0].model == arn
