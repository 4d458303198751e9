"""Per-call overhead that instrumentation adds to LLM client calls: tokentrail vs the raw client, OpenLLMetry
(opentelemetry-instrumentation-openai) and OpenInference (openinference-instrumentation-openai).

Run: ``.venv/bin/python bench/overhead.py [--runs 3] [--quick]``. Results are printed, never asserted.

Method (printed with the table):

- The official clients with in-process transports, so no network or server noise: openai and anthropic get an
  ``httpx2.MockTransport`` returning canned bodies (a plain response, or an SSE stream of 50 content chunks plus
  the usage chunk); boto3 ``bedrock-runtime`` gets a ``before-send`` handler returning a canned ``AWSResponse``
  (Converse JSON, or a ConverseStream event stream of 50 content events). A streamed call is timed until the
  stream is fully consumed.
- Clocks: the calling thread's CPU time (``time.thread_time_ns``) is the main figure: it is the work added to
  the caller, and other processes on a shared machine cannot inflate it; the wall-clock median is shown too.
  After warm-up, ``gc.freeze()`` moves the imported SDKs out of the collector's way (for raw and instrumented
  alike).
- Background work: tokentrail builds its LLM spans on a worker thread. After each block, outside the timed
  region, the tool is flushed (``force_flush``: the worker has made every span of the block), and the CPU
  time of the tool's own threads over the block (their ``pthread_getcpuclockid`` clocks; threads named
  ``tokentrail-*``, none for the other tools) is divided by the block's calls: ``bg cpu``, the median over
  instrumented blocks. ``+total`` = ``+median`` caller CPU + ``bg cpu``: all the CPU a call costs.
- Every tool exports to the same sink: the global OpenTelemetry SDK ``TracerProvider`` with a
  ``SimpleSpanProcessor`` into an ``InMemorySpanExporter`` (cleared between blocks, outside the timing).
  tokentrail attaches to that provider (``use_global_provider``), without its own exporter thread.
- Each tool runs in its own subprocess (tools never share a process). After warm-up the tool instruments the
  clients; then blocks of raw and instrumented calls alternate (12 pairs), switching every patched SDK method
  between its wrapper and the function it wraps (the same switch for every tool; raw blocks are checked to
  record no span, instrumented blocks to record some). Overhead = median(instrumented) - median(raw), and
  p90 - p90, per call, in microseconds.
  The subprocesses run round-robin ``--runs`` times; the table shows the median over runs.
- Each tool with its defaults (OpenLLMetry and OpenInference record prompt and completion content by default;
  tokentrail records none). ``otel-span-floor`` is a reference, not a tool: a bare span with 17 fixed
  attributes (tokentrail's count on a plain call) around ``request``, reading nothing: the cost of the span.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

N_PLAIN = 2400  # calls per scenario and state (raw, instrumented), in PAIRS blocks each
N_STREAM = 480
PAIRS = 12
CHUNKS = 50
WARM_UP = 50
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


def anthropic_bodies() -> tuple[bytes, bytes]:
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

    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    lines = [event("message_start", {"message": start})]
    lines.append(event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
    delta = {"index": 0, "delta": {"type": "text_delta", "text": " tok"}}
    lines += [event("content_block_delta", delta) for _ in range(CHUNKS)]
    lines.append(event("content_block_stop", {"index": 0}))
    lines.append(
        event(
            "message_delta",
            {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": CHUNKS}},
        )
    )
    lines.append(event("message_stop", {}))
    return json.dumps(message).encode(), _sse(lines)


def bedrock_bodies() -> tuple[bytes, bytes]:
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
    return json.dumps(plain).encode(), b"".join(frames)


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


def bedrock_client() -> Any:
    import boto3
    from botocore.awsrequest import AWSResponse

    plain, stream = bedrock_bodies()
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )

    def send(request: Any, **_: Any) -> Any:
        if request.url.endswith("/converse-stream"):
            headers = {"content-type": "application/vnd.amazon.eventstream"}
            return AWSResponse(request.url, 200, headers, _Raw(stream))
        return AWSResponse(request.url, 200, {"content-type": "application/json"}, _Raw(plain))

    client.meta.events.register("before-send.bedrock-runtime", send)
    return client


def scenarios(tool: str) -> dict[str, tuple[Callable[[], Any], int]]:
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

    found = {
        "openai chat, plain": (openai_plain, N_PLAIN),
        f"openai chat, {CHUNKS}-chunk stream": (openai_stream, N_STREAM),
    }
    if tool != "tokentrail":
        return found
    ant = anthropic.Anthropic(  # without the SDK's own spans (on by default when OpenTelemetry is set up)
        api_key="x", base_url="http://bench", http_client=mock_http(*anthropic_bodies()), open_telemetry=False
    )

    def anthropic_plain() -> None:
        ant.messages.create(model="claude-bench", max_tokens=100, messages=messages)

    def anthropic_stream() -> None:
        for _ in ant.messages.create(model="claude-bench", max_tokens=100, messages=messages, stream=True):
            pass

    brt = bedrock_client()
    converse_messages = [{"role": "user", "content": [{"text": "Say hello fifty times."}]}]

    def bedrock_plain() -> None:
        brt.converse(modelId="amazon.nova-lite-v1:0", messages=converse_messages)

    def bedrock_stream() -> None:
        for _ in brt.converse_stream(modelId="amazon.nova-lite-v1:0", messages=converse_messages)["stream"]:
            pass

    found.update(
        {
            "anthropic messages, plain": (anthropic_plain, N_PLAIN),
            f"anthropic messages, {CHUNKS}-chunk stream": (anthropic_stream, N_STREAM),
            "boto3 bedrock converse": (bedrock_plain, N_PLAIN // 2),
            f"boto3 bedrock converse_stream, {CHUNKS} chunks": (bedrock_stream, N_STREAM),
        }
    )
    return found


# --- the child: one tool ------------------------------------------------------------------------------


def instrument(tool: str, provider: Any) -> Callable[[], Any]:
    """Instrument for `tool`; returns its flush (a no-op for tools that work on the caller's thread only)."""
    if tool == "tokentrail":
        from tokentrail import Tokentrail

        tt = Tokentrail(send_to_collector=False, use_global_provider=True)
        tt.instrument()
        return tt.force_flush
    if tool == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif tool == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceInstrumentor

        OpenInferenceInstrumentor().instrument(tracer_provider=provider)
    else:
        span_floor(provider)
    return lambda: None


def background_cpu_ns() -> int:
    """CPU time so far of the tool's background threads (tokentrail's worker)."""
    return sum(
        time.clock_gettime_ns(time.pthread_getcpuclockid(thread.ident))
        for thread in threading.enumerate()
        if thread.name.startswith("tokentrail-") and thread.ident is not None
    )


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


class Toggle:
    """Every patched method of the SDK classes (a wrapt proxy or a tokentrail wrapper), switchable between the
    wrapper and the function it wraps: the same raw/instrumented switch for every tool (OpenLLMetry's own
    uninstrument leaves wrappers behind, so it cannot be used)."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self.patches: list[tuple[type, str, Any, Any]] = []
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

    def raw(self) -> None:
        for cls, attr, _, original in self.patches:
            setattr(cls, attr, original)

    def instrumented(self) -> None:
        for cls, attr, wrapper, _ in self.patches:
            setattr(cls, attr, wrapper)


def time_block(fn: Callable[[], Any], n: int, cpu: list[int], wall: list[int]) -> None:
    """Time `n` calls (after 2 untimed ones) on both clocks: the calling thread's CPU time and the wall."""
    fn()
    fn()
    for _ in range(n):
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        fn()
        c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
        cpu.append(c1 - c0)
        wall.append(w1 - w0)


def p90(samples: list[int]) -> float:
    return statistics.quantiles(samples, n=10)[-1]


def child(tool: str, quick: bool) -> dict[str, Any]:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    sink = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(sink))
    trace.set_tracer_provider(provider)
    found = scenarios(tool)
    for fn, _ in found.values():  # imports and first-use costs, before anything is timed
        for _ in range(WARM_UP):
            fn()
    sink.clear()
    flush = instrument(tool, provider)
    toggle = Toggle(("openai", "anthropic", "botocore"))
    pairs = PAIRS // 4 if quick else PAIRS
    gc.collect()
    gc.freeze()  # the imported SDKs' objects out of the collector's way, for raw and instrumented alike
    result = {}
    for name, (fn, n) in found.items():
        raw: dict[str, list[int]] = {"cpu": [], "wall": []}
        inst: dict[str, list[int]] = {"cpu": [], "wall": []}
        background: list[float] = []  # per call, one figure per instrumented block
        for i in range(pairs):  # raw and instrumented blocks alternate, so load drift hits both alike
            for state in ("raw", "inst") if i % 2 == 0 else ("inst", "raw"):
                (toggle.raw if state == "raw" else toggle.instrumented)()
                samples = raw if state == "raw" else inst
                bg_before = background_cpu_ns()
                time_block(fn, n // PAIRS, samples["cpu"], samples["wall"])
                flush()  # outside the timed region: every span of the block is made
                if state == "inst":
                    background.append((background_cpu_ns() - bg_before) / (n // PAIRS + 2))
                recorded = bool(sink.get_finished_spans())
                assert recorded == (state == "inst"), (
                    f"{tool} {name}: spans recorded={recorded} in a {state} block"
                )
                sink.clear()
        result[name] = {
            "raw_us": statistics.median(raw["cpu"]) / 1000,
            "median_us": (statistics.median(inst["cpu"]) - statistics.median(raw["cpu"])) / 1000,
            "p90_us": (p90(inst["cpu"]) - p90(raw["cpu"])) / 1000,
            "wall_median_us": (statistics.median(inst["wall"]) - statistics.median(raw["wall"])) / 1000,
            "bg_us": statistics.median(background) / 1000,
        }
    return result


# --- the parent: run, aggregate, print --------------------------------------------------------------------


def run_child(tool: str, quick: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", tool] + (["--quick"] if quick else [])
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    parser.add_argument("--child", choices=TOOLS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.quick)))
        return
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in TOOLS}
    for _ in range(args.runs):
        for tool in TOOLS:  # round-robin, so machine load drifts over every tool alike
            runs[tool].append(run_child(tool, args.quick))
    print_table(runs)


def print_table(runs: dict[str, list[dict[str, Any]]]) -> None:
    print(__doc__.split("Method (printed with the table):")[1].split('"""')[0].rstrip())
    print()
    header = (
        f"{'scenario':<42} {'tool':<14} {'raw call':>9} {'+median':>9} {'+p90':>9} {'+median':>9}"
        f" {'bg':>9} {'+total':>9}\n"
        f"{'':<42} {'':<14} {'cpu us':>9} {'cpu us':>9} {'cpu us':>9} {'wall us':>9} {'cpu us':>9} {'cpu us':>9}"
    )
    print(header)
    print("-" * 116)
    for scenario in runs["tokentrail"][0]:
        for tool in TOOLS:
            rows = [run[scenario] for run in runs[tool] if scenario in run]
            if not rows:
                continue
            cells = [
                statistics.median(r[key] for r in rows)
                for key in ("raw_us", "median_us", "p90_us", "wall_median_us", "bg_us")
            ]
            cells.append(cells[1] + cells[4])  # all the CPU a call adds: caller + background
            print(f"{scenario:<42} {tool:<14} " + " ".join(f"{c:>9.1f}" for c in cells))
    print(f"\n{len(runs['tokentrail'])} runs per tool; each figure is the median over runs.")


if __name__ == "__main__":
    main()
