"""Fixtures for the SDK tests: the real openai, anthropic and boto3 clients over HTTP against the simulator,
instrumented (class level) by an isolated tokentrail instance whose spans land in memory."""

from __future__ import annotations

import functools
import inspect
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from botocore.config import Config
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tokentrail import Tokentrail
from tokentrail import semconv as sc
from tokentrail.simulator import Profile, SimulatorServer
from tokentrail.simulator.plan import Plan

# The default profile with every sampled duration at 2 %: a 400 ms TTFT becomes 8 ms.
FAST = Profile.default().scaled(0.02)
# Measured times may exceed the plan by loopback, parsing and scheduling on a busy 2-core machine.
TTFT_SLACK_MS = 150.0
ITL_SLACK_MS = 8.0


def steer(**directive: Any) -> dict[str, str]:
    """Request headers carrying a simulator directive."""
    return {"x-tokentrail-sim": json.dumps(directive)}


class Recorder:
    """The isolated tokentrail instance and what it recorded."""

    def __init__(self, tt: Tokentrail, memory: InMemorySpanExporter, sim: SimulatorServer) -> None:
        self.tt = tt
        self.memory = memory
        self.sim = sim

    def spans(self) -> list[ReadableSpan]:
        """What was recorded, once the span worker has turned every finished call into a span."""
        assert self.tt.force_flush(10)
        return list(self.memory.get_finished_spans())

    def clear(self) -> None:
        assert self.tt.force_flush(10)  # a call of an earlier test must not land after the clear
        self.memory.clear()
        self.sim.clear()

    def llm(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if (s.attributes or {}).get(sc.TT_KIND) == "llm"]

    def one(self) -> dict[str, Any]:
        """The attributes of the only LLM span recorded."""
        calls = self.llm()
        assert len(calls) == 1, [s.name for s in calls]
        return dict(calls[0].attributes or {})

    def plan(self) -> Plan:
        """The plan of the last request the simulator answered."""
        plan = self.sim.requests()[-1].plan
        assert plan is not None
        return plan


def ttft_ms(attrs: dict[str, Any]) -> float:
    return float(attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]) * 1000


def assert_usage(attrs: dict[str, Any], plan: Plan) -> None:
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == plan.input_tokens
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == plan.output_tokens
    assert attrs.get(sc.GEN_AI_USAGE_CACHE_READ, 0) == plan.cache_read_tokens
    assert attrs.get(sc.GEN_AI_USAGE_CACHE_WRITE, 0) == plan.cache_write_tokens


class TimingMiss(AssertionError):
    """A measured time outside the plan's tolerance, which a descheduled test process can cause."""


def assert_stream_timing(attrs: dict[str, Any], plan: Plan, itl_ms: float | None = None) -> None:
    assert attrs[sc.TT_CHUNKS] == plan.chunks
    assert attrs[sc.TT_STREAM_DURATION_MS] == pytest.approx(attrs[sc.TT_TTLT_MS] - ttft_ms(attrs))
    assert attrs[sc.TT_OUTPUT_TOKENS_PER_S] > 0
    ttft, ttlt = ttft_ms(attrs), attrs[sc.TT_TTLT_MS]
    assert ttft >= plan.ttft_ms and ttlt >= plan.total_ms  # nothing arrives before it was sent
    if itl_ms is not None:
        assert attrs[sc.TT_ITL_MAX_MS] >= attrs[sc.TT_ITL_P95_MS] >= attrs[sc.TT_ITL_P50_MS]
    late = ttft > plan.ttft_ms + TTFT_SLACK_MS or ttlt > plan.total_ms + TTFT_SLACK_MS
    if late or (itl_ms is not None and abs(attrs[sc.TT_ITL_P50_MS] - itl_ms) > ITL_SLACK_MS):
        raise TimingMiss(f"ttft {ttft:.1f} ttlt {ttlt:.1f} itl p50 {attrs.get(sc.TT_ITL_P50_MS)} vs {plan}")


def timing_retries(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run a timed test up to 3 times when only its timing misses: on a shared, loaded machine the test
    process can be descheduled while chunks arrive (they then bunch up, as the SDK rightly measures).
    Counts and tokens are asserted exactly on every try."""

    def again(kwargs: dict[str, Any], attempt: int) -> bool:
        if attempt == 2:
            return False
        kwargs["rec"].clear()
        return True

    if inspect.iscoroutinefunction(test):

        @functools.wraps(test)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(3):
                try:
                    return await test(*args, **kwargs)
                except TimingMiss:
                    if not again(kwargs, attempt):
                        raise

        return run_async

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(3):
            try:
                return test(*args, **kwargs)
            except TimingMiss:
                if not again(kwargs, attempt):
                    raise

    return run


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimulatorServer]:
    with SimulatorServer(profile=FAST, seed=11) as server:
        _warm_up(server.url)
        yield server


def _warm_up(url: str) -> None:
    """One streamed request per API through each SDK, before instrumenting: first use of an API costs the SDK
    (and the simulator) hundreds of ms of imports and model building, which must not land in a timed test."""
    import anthropic
    import openai

    messages = [{"role": "user", "content": "hi"}]
    with openai.OpenAI(base_url=url + "/v1", api_key="test") as oai:
        for _ in oai.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True):
            pass
        with oai.responses.stream(model="gpt-4o-mini", input="hi") as events:
            events.get_final_response()
    with (
        anthropic.Anthropic(base_url=url, api_key="test") as ant,
        ant.messages.stream(model="claude-x", max_tokens=5, messages=messages) as stream,
    ):
        stream.get_final_message()
    bedrock = BedrockClient(url).client
    for _ in bedrock.converse_stream(
        modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}]
    )["stream"]:
        pass
    bedrock.close()


def isolated(
    span_processors: tuple[SpanProcessor, ...] | list[SpanProcessor] = (), **config: Any
) -> tuple[Tokentrail, InMemorySpanExporter]:
    """A tokentrail instance of its own (instrument one client with it), its spans in memory."""
    memory = InMemorySpanExporter()
    tt = Tokentrail(
        send_to_collector=False,
        use_global_provider=False,
        span_processors=[SimpleSpanProcessor(memory), *span_processors],
        **config,
    )
    return tt, memory


@pytest.fixture(scope="session")
def tt_session(sim_server: SimulatorServer) -> Iterator[tuple[Tokentrail, InMemorySpanExporter]]:
    memory = InMemorySpanExporter()
    tt = Tokentrail(
        send_to_collector=False, use_global_provider=False, span_processors=[SimpleSpanProcessor(memory)]
    )
    assert sorted(tt.instrument()) == ["anthropic", "bedrock", "openai"]
    yield tt, memory
    tt.uninstrument()
    tt.configure(send_to_collector=False, use_global_provider=False)


@pytest.fixture
def rec(tt_session: tuple[Tokentrail, InMemorySpanExporter], sim_server: SimulatorServer) -> Recorder:
    tt, memory = tt_session
    recorder = Recorder(tt, memory, sim_server)
    recorder.clear()
    return recorder


class BedrockClient:
    """A boto3 bedrock-runtime client on the simulator; `directive` is sent with every request."""

    def __init__(self, url: str, **config: Any) -> None:
        self.directive: dict[str, Any] = {}
        retries = config.pop("retries", {"mode": "standard", "total_max_attempts": 3})
        self.client = _SESSION.client(
            "bedrock-runtime",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries=retries, **config),
        )
        self.client.meta.events.register("before-sign.bedrock-runtime.*", self._add_directive)

    def _add_directive(self, request: Any, **_: Any) -> None:
        request.headers["x-tokentrail-sim"] = json.dumps(self.directive)

    def steer(self, **directive: Any) -> Any:
        self.directive = directive
        return self.client


_SESSION = boto3.session.Session()


@pytest.fixture
def bedrock(sim_server: SimulatorServer) -> Iterator[BedrockClient]:
    client = BedrockClient(sim_server.url)
    yield client
    client.client.close()


# --- the real collector on loopback ---------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Collector:
    """`tokentrail.server.app` over a DuckDB store, under uvicorn in a background thread."""

    def __init__(self, port: int, path: Path) -> None:
        from tokentrail.server.app import create_app
        from tokentrail.store import open_store

        self.store = open_store(str(path))
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            create_app(self.store), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.store.close()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """The real collector over a DuckDB store in `tmp_path`."""
    running = Collector(free_port(), tmp_path / "collector.duckdb")
    yield running
    running.close()


def sending(collector: Collector, spool: Path, **config: Any) -> Tokentrail:
    """A tokentrail instance of its own that exports to `collector` (instrument it, then `stored`)."""
    options: dict[str, Any] = {"use_global_provider": False, "spool_dir": spool, "flush_interval_s": 0.05}
    return Tokentrail(endpoint=collector.url, **options | config)


def stored(collector: Collector, tt: Tokentrail, count: int, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Flush `tt`, then the rows of `sql` on the collector's store once it returns `count` of them."""
    assert tt.force_flush(10)
    rows: list[dict[str, Any]] = []

    def arrived() -> bool:
        rows[:] = collector.store.query(sql, params).dicts()
        return len(rows) >= count

    wait_for(arrived)
    assert len(rows) == count, rows
    return rows
