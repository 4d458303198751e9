"""Per-call overhead that instrumentation adds to LLM client calls, in the application's wall time with the
tool's background work included: tokentrail vs the raw client, OpenLLMetry (opentelemetry-instrumentation-*)
and OpenInference (openinference-instrumentation-*).

Run: ``.venv/bin/python bench/overhead.py [--runs 5] [--quick] [--tools a,b]``. Printed, never asserted.

Method (printed with the table):

- The official clients with in-process transports, so no network or server noise: openai and anthropic get an
  ``httpx2.MockTransport`` returning canned bodies (a plain response, or an SSE stream of 50 content chunks
  plus framing); boto3 ``bedrock-runtime`` gets a ``before-send`` handler returning a canned ``AWSResponse``
  (Converse, ConverseStream with 50 content events, InvokeModel and InvokeModelWithResponseStream of an
  Anthropic model, 50 content chunks, compact JSON as Bedrock sends it). A streamed call is timed until the stream is fully consumed.
- Headline, ``+median wall``: the application's wall time per call, with the tool's background work inside
  the timed region. A block of N calls (40 streams, 200 plain calls, 100 for Bedrock) is timed from before
  its first call until the tool's flush returns after its last (``force_flush``: tokentrail's span worker
  has made every span of the block; a no-op for tools that make spans on the caller's thread), so the work
  of the worker thread counts whether it ran while the caller waited for the GIL or after the last call.
  Per call = block time / N. Raw and instrumented blocks alternate (12 pairs per scenario, the order
  swapped every pair) in one process, switching every patched SDK method between its wrapper and the
  function it wraps (the same switch for every tool; raw blocks are checked to record no span,
  instrumented blocks to record some). Overhead = median over instrumented blocks - median over raw
  blocks; ``+p90`` the same with the 90th percentile of the blocks.
- ``+cpu all thr.``: the process's CPU time (every thread: ``time.process_time_ns``) over the same blocks,
  per call, instrumented - raw. ``+cpu caller``: the calling thread's CPU alone (``time.thread_time_ns``),
  the figure published before, which leaves out the worker's work.
- ``+first``: a scenario's first instrumented call after ``instrument()`` (the clients warmed up raw
  before: 50 calls each), call and flush, minus the raw median: what the first call of a process pays.
- After warm-up, ``gc.freeze()`` moves the imported SDKs out of the collector's way (for raw and instrumented
  alike).
- Every tool exports to the same sink: the global OpenTelemetry SDK ``TracerProvider`` with a
  ``SimpleSpanProcessor`` into an ``InMemorySpanExporter`` (cleared between blocks, outside the timing).
  tokentrail attaches to that provider (``use_global_provider``), without its own exporter thread.
- Each tool runs in its own subprocess (tools never share a process); the subprocesses run round-robin
  ``--runs`` times (5) and the table shows the median over runs, and the range of ``+median`` over them:
  on the 2-core machine one process's figure for a 50-chunk stream can differ from the next's by 40-90 µs
  (mostly the span worker's CPU time, up to ~70 % higher while it runs on the other core than the app's
  thread; pinned to one core it is steady), so one process is not a measurement. A peer is measured on
  the providers whose instrumentation package is installed (openai, anthropic and bedrock for both). The Bedrock
  instrumentations replace each new client's methods on the instance; the raw switch removes them there.
- ``--cpu N`` pins each tool's process (the app's thread and the span worker alike) to CPU N: then no
  wall time comes from the scheduler moving the app's thread between cores around its hand-overs of the
  GIL with a worker thread, and the figures are the work alone (a diagnostic; the headline runs unpinned).
- Each tool with its defaults (OpenLLMetry and OpenInference record prompt and completion content by default;
  tokentrail records none). ``otel-span-floor`` is a reference, not a tool: a bare span with 17 fixed
  attributes (tokentrail's count on a plain call) around ``request``, reading nothing: the cost of the span.
"""

from __future__ import annotations

import argparse
import base64
import gc
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from typing import Any

PLAIN_BLOCK = 200  # calls per timed block of a plain scenario (half that for Bedrock's slower plain calls)
STREAM_BLOCK = 40  # calls per timed block of a streamed scenario
PAIRS = 12  # raw/instrumented block pairs per scenario
CHUNKS = 50
WARM_UP = 50
COMPACT = (",", ":")  # Bedrock's JSON inside InvokeModel stream chunks
TOOLS = ("tokentrail", "openllmetry", "openinference", "otel-span-floor")


# --- canned responses ------------------------------------------------------------------------------------


def _sse(lines: list[str]) -> bytes:
    return "".join(lines).encode()


def openai_bodies() -> tuple[bytes, bytes]:
    usage = {"prompt_tokens": 25, "completion_tokens": CHUNKS, "total_tokens": 25 + CHUNKS}
    plain = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hello " * CHUNKS},
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, use: Any = None) -> str:
        choices = [] if use else [{"index": 0, "delta": delta, "finish_reason": finish}]
        body = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": choices,
        }
        if use:
            body["usage"] = use
        return f"data: {json.dumps(body)}\n\n"

    lines = [chunk({"role": "assistant", "content": ""})]
    lines += [chunk({"content": f" tok{i}"}) for i in range(CHUNKS)]
    lines += [chunk({}, "stop"), chunk({}, use=usage), "data: [DONE]\n\n"]
    return json.dumps(plain).encode(), _sse(lines)


def anthropic_events() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A Messages response and the events of the same answer streamed in CHUNKS text deltas."""
    usage = {
        "input_tokens": 25,
        "output_tokens": CHUNKS,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-bench",
        "content": [{"type": "text", "text": "hello " * CHUNKS}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " tok"}}
    events = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *[delta] * CHUNKS,
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": CHUNKS},
        },
        {"type": "message_stop"},
    ]
    return message, events


def anthropic_bodies() -> tuple[bytes, bytes]:
    message, events = anthropic_events()
    lines = [f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events]
    return json.dumps(message).encode(), _sse(lines)


def bedrock_bodies() -> dict[str, bytes]:
    """Response bodies by the URL's last path segment: Converse, ConverseStream, and InvokeModel(WithResponse
    Stream) of an Anthropic model (the Messages body; its events as ``chunk`` events, Bedrock's metrics last)."""
    from tokentrail.simulator import eventstream

    usage = {"inputTokens": 25, "outputTokens": CHUNKS, "totalTokens": 25 + CHUNKS}
    plain = {
        "output": {"message": {"role": "assistant", "content": [{"text": "hello " * CHUNKS}]}},
        "stopReason": "end_turn",
        "usage": usage,
        "metrics": {"latencyMs": 100},
    }
    frames = [eventstream.event("messageStart", {"role": "assistant"})]
    frames += [
        eventstream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " tok"}})
        for _ in range(CHUNKS)
    ]
    frames.append(eventstream.event("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(eventstream.event("messageStop", {"stopReason": "end_turn"}))
    frames.append(eventstream.event("metadata", {"usage": usage, "metrics": {"latencyMs": 100}}))
    message, events = anthropic_events()
    metrics = {
        "inputTokenCount": 25,
        "outputTokenCount": CHUNKS,
        "invocationLatency": 100,
        "firstByteLatency": 9,
    }
    events[-1] = {**events[-1], "amazon-bedrock-invocationMetrics": metrics}
    chunks = [
        eventstream.event(
            "chunk", {"bytes": base64.b64encode(json.dumps(event, separators=COMPACT).encode()).decode()}
        )
        for event in events
    ]
    return {
        "converse": json.dumps(plain).encode(),
        "converse-stream": b"".join(frames),
        "invoke": json.dumps(message).encode(),
        "invoke-with-response-stream": b"".join(chunks),
    }


# --- clients -----------------------------------------------------------------------------------------------


def mock_http(plain: bytes, stream: bytes, async_: bool = False) -> Any:
    import httpx2

    def handler(request: Any) -> Any:
        wants_stream = b'"stream":true' in request.content or b'"stream": true' in request.content
        if wants_stream:
            return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=stream)
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=plain)

    return httpx2.Client(transport=httpx2.MockTransport(handler))


class _Raw:
    """What botocore reads an HTTP body from (urllib3-like)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        yield self.data

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        return self.data

    def close(self) -> None:
        return None


def bedrock_client(toggle: Toggle) -> Any:
    import boto3
    from botocore.awsrequest import AWSResponse

    bodies = bedrock_bodies()
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )

    def send(request: Any, **_: Any) -> Any:
        kind = request.url.rsplit("/", 1)[-1]
        streamed = kind.endswith("stream")
        headers = {"content-type": "application/vnd.amazon.eventstream" if streamed else "application/json"}
        return AWSResponse(request.url, 200, headers, _Raw(bodies[kind]))

    client.meta.events.register("before-send.bedrock-runtime", send)
    toggle.scan_instance(client)
    return client


def scenarios(toggle: Toggle) -> dict[str, tuple[Callable[[], Any], int]]:
    """Each scenario's call and how many calls a block makes (a client's instance-level patches join
    `toggle`)."""
    import anthropic
    import openai

    oai = openai.OpenAI(api_key="x", base_url="http://bench/v1", http_client=mock_http(*openai_bodies()))
    messages = [{"role": "user", "content": "Say hello fifty times."}]

    def openai_plain() -> None:
        oai.chat.completions.create(model="gpt-4o-mini", messages=messages)

    def openai_stream() -> None:
        stream = oai.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
        )
        for _ in stream:
            pass

    ant = anthropic.Anthropic(  # without the SDK's own spans (on by default when OpenTelemetry is set up)
        api_key="x", base_url="http://bench", http_client=mock_http(*anthropic_bodies()), open_telemetry=False
    )

    def anthropic_plain() -> None:
        ant.messages.create(model="claude-bench", max_tokens=100, messages=messages)

    def anthropic_stream() -> None:
        for _ in ant.messages.create(model="claude-bench", max_tokens=100, messages=messages, stream=True):
            pass

    brt = bedrock_client(toggle)
    nova, claude = "amazon.nova-lite-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"
    converse_messages = [{"role": "user", "content": [{"text": "Say hello fifty times."}]}]
    invoke_body = json.dumps(
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": messages}
    )

    def converse() -> None:
        brt.converse(modelId=nova, messages=converse_messages)

    def converse_stream() -> None:
        for _ in brt.converse_stream(modelId=nova, messages=converse_messages)["stream"]:
            pass

    def invoke() -> None:
        brt.invoke_model(modelId=claude, body=invoke_body)["body"].read()

    def invoke_stream() -> None:
        for _ in brt.invoke_model_with_response_stream(modelId=claude, body=invoke_body)["body"]:
            pass

    return {
        "openai chat, plain": (openai_plain, PLAIN_BLOCK),
        f"openai chat, {CHUNKS}-chunk stream": (openai_stream, STREAM_BLOCK),
        "anthropic messages, plain": (anthropic_plain, PLAIN_BLOCK),
        f"anthropic messages, {CHUNKS}-chunk stream": (anthropic_stream, STREAM_BLOCK),
        "bedrock converse": (converse, PLAIN_BLOCK // 2),
        f"bedrock converse_stream, {CHUNKS} chunks": (converse_stream, STREAM_BLOCK),
        "bedrock invoke_model": (invoke, PLAIN_BLOCK // 2),
        f"bedrock invoke_model stream, {CHUNKS} chunks": (invoke_stream, STREAM_BLOCK),
    }


# --- the child: one tool ------------------------------------------------------------------------------

PEERS = {  # tool: {provider: (module, instrumentor)}; a peer's provider is measured when its package is installed
    "openllmetry": {
        "openai": ("opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),
        "anthropic": ("opentelemetry.instrumentation.anthropic", "AnthropicInstrumentor"),
        "bedrock": ("opentelemetry.instrumentation.bedrock", "BedrockInstrumentor"),
    },
    "openinference": {
        "openai": ("openinference.instrumentation.openai", "OpenAIInstrumentor"),
        "anthropic": ("openinference.instrumentation.anthropic", "AnthropicInstrumentor"),
        "bedrock": ("openinference.instrumentation.bedrock", "BedrockInstrumentor"),
    },
}


def instrument(tool: str, provider: Any) -> tuple[Callable[[], Any], tuple[str, ...]]:
    """Instrument for `tool`; returns its flush (a no-op for tools that work on the caller's thread only) and
    the providers it instruments."""
    if tool == "tokentrail":
        from tokentrail import Tokentrail

        tt = Tokentrail(send_to_collector=False, use_global_provider=True)
        tt.instrument()
        return tt.force_flush, ("openai", "anthropic", "bedrock")
    if tool == "otel-span-floor":
        span_floor(provider)
        return lambda: None, ("openai",)
    done = []
    for name, (module, cls) in PEERS[tool].items():
        try:
            instrumentor = getattr(importlib.import_module(module), cls)
        except ImportError:
            continue
        instrumentor().instrument(tracer_provider=provider)
        done.append(name)
    return lambda: None, tuple(done)


def span_floor(provider: Any) -> None:
    """A reference, not a tool: one bare OTel span with 17 fixed attributes (tokentrail's count for a plain
    call) around the client's ``request``, and nothing read from the call: the cost floor of any OTel span."""
    import openai
    import wrapt

    tracer = provider.get_tracer("floor")
    start = {f"start.attr{i}": "value" for i in range(8)}
    end = {f"end.attr{i}": i for i in range(9)}

    def around(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        span = tracer.start_span("chat gpt-4o-mini", attributes=start)
        try:
            return wrapped(*args, **kwargs)
        finally:
            span.set_attributes(end)
            span.end()

    wrapt.wrap_function_wrapper(openai._base_client.SyncAPIClient, "request", around)


_CLASS = object()  # a patch on an instance: raw shows its class's method


class Toggle:
    """Every patched method of the SDK classes (a wrapt proxy or a tokentrail wrapper), switchable between the
    wrapper and the function it wraps: the same raw/instrumented switch for every tool (OpenLLMetry's own
    uninstrument leaves wrappers behind, so it cannot be used)."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self.patches: list[tuple[Any, str, Any, Any]] = []
        seen: set[int] = set()
        for name, module in list(sys.modules.items()):
            if not name.startswith(prefixes) or module is None or ".vendored" in name:
                continue
            for cls in list(vars(module).values()):
                if isinstance(cls, type) and id(cls) not in seen:
                    seen.add(id(cls))
                    self._scan(cls)

    def _scan(self, cls: type) -> None:
        for attr, value in list(vars(cls).items()):
            ours = isinstance(value, types.FunctionType) and "__tokentrail_patch__" in value.__dict__
            proxy = any(base.__name__ == "ObjectProxy" for base in type(value).__mro__)  # wrapt
            if ours or proxy:
                self.patches.append((cls, attr, value, value.__wrapped__))

    def scan_instance(self, client: Any) -> None:
        """Methods a peer set on one client (the Bedrock instrumentations wrap each new client's methods):
        raw removes them, so the class's method shows through."""
        for attr, value in list(vars(client).items()):
            if callable(value) and not attr.startswith("_") and callable(getattr(type(client), attr, None)):
                self.patches.append((client, attr, value, _CLASS))

    def raw(self) -> None:
        for owner, attr, _, original in self.patches:
            if original is _CLASS:
                vars(owner).pop(attr, None)
            else:
                setattr(owner, attr, original)

    def instrumented(self) -> None:
        for owner, attr, wrapper, _ in self.patches:
            setattr(owner, attr, wrapper)


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1]


def time_block(fn: Callable[[], Any], n: int, flush: Callable[[], Any]) -> dict[str, float]:
    """Per call, over a block of `n` calls ended by the tool's flush, all inside the timed region: the wall
    time, the CPU time of every thread of the process, and the calling thread's CPU time (us)."""
    fn()  # untimed: the first call after the switch
    flush()
    wall, cpu, caller = time.perf_counter_ns(), time.process_time_ns(), time.thread_time_ns()
    for _ in range(n):
        fn()
    flush()  # the span worker has made every span of the block
    caller = time.thread_time_ns() - caller
    cpu, wall = time.process_time_ns() - cpu, time.perf_counter_ns() - wall
    return {"wall": wall / n / 1000, "cpu": cpu / n / 1000, "caller": caller / n / 1000}


def first_call(fn: Callable[[], Any], flush: Callable[[], Any]) -> float:
    """Wall time of one call and its span (us): a scenario's first instrumented call."""
    wall = time.perf_counter_ns()
    fn()
    flush()
    return (time.perf_counter_ns() - wall) / 1000


def setup(tool: str) -> tuple[Any, Callable[[], Any], Toggle, dict[str, tuple[Callable[[], Any], int]]]:
    """The shared sink, the tool's flush, its raw/instrumented switch (set to raw) and its warm scenarios."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    sink = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(sink))
    trace.set_tracer_provider(provider)
    flush, covered = instrument(tool, provider)
    toggle = Toggle(("openai", "anthropic", "botocore"))
    found = {name: v for name, v in scenarios(toggle).items() if name.split()[0] in covered}
    toggle.raw()
    for fn, _ in found.values():  # imports and first-use costs of the clients, before anything is timed
        for _ in range(WARM_UP):
            fn()
    gc.collect()
    gc.freeze()  # the imported SDKs' objects out of the collector's way, for raw and instrumented alike
    return sink, flush, toggle, found


def child(tool: str, quick: bool, cpu: int | None) -> dict[str, Any]:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    sink, flush, toggle, found = setup(tool)
    toggle.instrumented()
    first = {name: first_call(fn, flush) for name, (fn, _) in found.items()}
    assert sink.get_finished_spans(), f"{tool}: the first calls recorded no span"
    sink.clear()
    pairs = PAIRS // 4 if quick else PAIRS
    result = {}
    for name, (fn, n) in found.items():
        blocks: dict[str, list[dict[str, float]]] = {"raw": [], "inst": []}
        for i in range(pairs):  # raw and instrumented blocks alternate, so load drift hits both alike
            for state in ("raw", "inst") if i % 2 == 0 else ("inst", "raw"):
                (toggle.raw if state == "raw" else toggle.instrumented)()
                blocks[state].append(time_block(fn, n, flush))
                recorded = bool(sink.get_finished_spans())
                assert recorded == (state == "inst"), f"{tool} {name}: spans recorded={recorded} in {state}"
                sink.clear()
        result[name] = figures(blocks, first[name])
    return result


def figures(blocks: dict[str, list[dict[str, float]]], first: float) -> dict[str, float]:
    """Overheads per call (us) from the blocks' per-call figures: medians over blocks, instrumented - raw."""
    raw, inst = (
        {key: statistics.median(b[key] for b in blocks[state]) for key in ("wall", "cpu", "caller")}
        for state in ("raw", "inst")
    )
    return {
        "raw_us": raw["wall"],
        "wall_us": inst["wall"] - raw["wall"],
        "wall_p90_us": p90([b["wall"] for b in blocks["inst"]]) - p90([b["wall"] for b in blocks["raw"]]),
        "cpu_us": inst["cpu"] - raw["cpu"],
        "caller_us": inst["caller"] - raw["caller"],
        "first_us": first - raw["wall"],
    }


# --- the parent: run, aggregate, print --------------------------------------------------------------------


def run_child(tool: str, quick: bool, cpu: int | None) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", tool] + (["--quick"] if quick else [])
    args += [] if cpu is None else ["--cpu", str(cpu)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer blocks (a smoke run)")
    parser.add_argument("--child", choices=TOOLS)
    parser.add_argument("--cpu", type=int, help="pin every process to this CPU (a diagnostic)")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS)
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.quick, args.cpu)))
        return
    tools = [tool for tool in TOOLS if tool in args.tools.split(",")]
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    for _ in range(args.runs):
        for tool in tools:  # round-robin, so machine load drifts over every tool alike
            runs[tool].append(run_child(tool, args.quick, args.cpu))
    print_table(runs, args.cpu)


COLUMNS = (
    ("raw_us", "raw call", "wall us"),
    ("wall_us", "+median", "wall us"),
    ("wall_p90_us", "+p90", "wall us"),
    ("cpu_us", "+cpu", "all thr."),
    ("caller_us", "+cpu", "caller"),
    ("first_us", "+first", "wall us"),
)


def print_table(runs: dict[str, list[dict[str, Any]]], cpu: int | None) -> None:
    print(__doc__.split("Method (printed with the table):")[1].split('"""')[0].rstrip())
    print()
    print(f"{'scenario':<42} {'tool':<14}" + "".join(f" {top:>9}" for _, top, _ in COLUMNS) + "  +median")
    print(f"{'':<42} {'':<14}" + "".join(f" {bottom:>9}" for _, _, bottom in COLUMNS) + "  run range")
    print("-" * (69 + 10 * len(COLUMNS)))
    scenarios_seen = dict.fromkeys(name for tool_runs in runs.values() for run in tool_runs for name in run)
    for scenario in scenarios_seen:
        for tool, tool_runs in runs.items():
            rows = [run[scenario] for run in tool_runs if scenario in run]
            if rows:
                cells = [statistics.median(r[key] for r in rows) for key, _, _ in COLUMNS]
                spread = f"{min(r['wall_us'] for r in rows):.0f}..{max(r['wall_us'] for r in rows):.0f}"
                print(f"{scenario:<42} {tool:<14}" + "".join(f" {c:>9.1f}" for c in cells) + f"  {spread}")
    pinned = "" if cpu is None else f"; every process pinned to CPU {cpu}"
    print(
        f"\n{max(len(r) for r in runs.values())} runs per tool; each figure is the median over runs{pinned}."
    )


if __name__ == "__main__":
    main()
