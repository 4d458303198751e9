"""An application run in a fresh process by test_durations.py, so its first LLM call is really the first of
the process: instrument, then make calls, timing each as the application waits for it (plain: around the
call; streamed: from the call until the stream is exhausted). Prints the times (ms) as JSON.

It also reports the threads running once ``instrument()`` returned, and the modules of tokentrail, the
OpenTelemetry SDK and exporter and protobuf imported later (during the calls and their export): work left
for the first call.

Usage: TOKENTRAIL_ENDPOINT=... duration_app.py SIM_URL openai|anthropic|bedrock sync|async plain|stream RUN_ID
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Callable
from time import perf_counter
from typing import Any

import tokentrail

MESSAGES = [{"role": "user", "content": "hi"}]
HEADERS = {"x-tokentrail-sim": json.dumps({"ttft_ms": 20, "itl_ms": 3, "output_tokens": 8})}
BEDROCK_MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]


def openai_calls(url: str, is_async: bool) -> dict[str, Callable[[], Any]]:
    import openai

    client = (openai.AsyncOpenAI if is_async else openai.OpenAI)(base_url=url + "/v1", api_key="test")
    options = {"model": "gpt-4o-mini", "messages": MESSAGES, "extra_headers": HEADERS}
    return {
        "plain": lambda: client.chat.completions.create(**options),
        "stream": lambda: client.chat.completions.create(stream=True, **options),
    }


def anthropic_calls(url: str, is_async: bool) -> dict[str, Callable[[], Any]]:
    import anthropic

    client = (anthropic.AsyncAnthropic if is_async else anthropic.Anthropic)(base_url=url, api_key="test")
    options = {"model": "claude-x", "max_tokens": 50, "messages": MESSAGES, "extra_headers": HEADERS}
    return {
        "plain": lambda: client.messages.create(**options),
        "stream": lambda: client.messages.create(stream=True, **options),
    }


def bedrock_calls(url: str, is_async: bool) -> dict[str, Callable[[], Any]]:
    import boto3

    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    model = "amazon.nova-lite-v1:0"
    return {
        "plain": lambda: client.converse(modelId=model, messages=BEDROCK_MESSAGES),
        "stream": lambda: client.converse_stream(modelId=model, messages=BEDROCK_MESSAGES)["stream"],
    }


def run_sync(calls: dict[str, Callable[[], Any]], kinds: list[str]) -> list[float]:
    waited = []
    for kind in kinds:
        start = perf_counter()
        result = calls[kind]()
        if kind == "stream":
            for _ in result:
                pass
        waited.append((perf_counter() - start) * 1000)
    return waited


async def run_async(calls: dict[str, Callable[[], Any]], kinds: list[str]) -> list[float]:
    waited = []
    for kind in kinds:
        start = perf_counter()
        result = await calls[kind]()
        if kind == "stream":
            async for _ in result:
                pass
        waited.append((perf_counter() - start) * 1000)
    return waited


# What tokentrail's own work would import (the anthropic SDK imports parts of the OpenTelemetry API itself).
OURS = ("tokentrail", "opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.proto", "google.protobuf")
SDKS = {"openai": openai_calls, "anthropic": anthropic_calls, "bedrock": bedrock_calls}


def main(sim: str, sdk: str, mode: str, first: str, run_id: str) -> None:
    tokentrail.instrument()  # no configure(): the endpoint and spool come from the environment
    loaded = set(sys.modules)
    threads = sorted(thread.name for thread in threading.enumerate())
    is_async = mode == "async"
    calls = SDKS[sdk](sim, is_async)
    kinds = [first, "plain", "stream", "plain", "stream"]
    with tokentrail.labels(feature=run_id):
        waited = asyncio.run(run_async(calls, kinds)) if is_async else run_sync(calls, kinds)
    assert tokentrail.force_flush(10)
    late = sorted(name for name in set(sys.modules) - loaded if name.startswith(OURS))
    print(json.dumps({"kinds": kinds, "waited_ms": waited, "threads": threads, "late_modules": late}))


if __name__ == "__main__":
    main(*sys.argv[1:])
