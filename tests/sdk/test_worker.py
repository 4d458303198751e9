"""The span worker: LLM spans are made off the caller's thread, parented and timed as the call was; a full
queue drops and counts; its internal errors reach the tests through force_flush."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tokentrail import semconv as sc
from tokentrail.sdk import openai as openai_readers
from tokentrail.sdk import worker as worker_mod

from .conftest import TTFT_SLACK_MS, Recorder, TimingMiss, isolated, steer, timing_retries, wait_for

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
TIMED = {"ttft_ms": 40, "itl_ms": 15, "output_tokens": 12, "tokens_per_chunk": 1}


@pytest.fixture
def client(rec: Recorder) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as c:
        yield c


class EndingThreads(SpanProcessor):
    """Which thread ended each span."""

    def __init__(self) -> None:
        self.threads: dict[str, str] = {}

    def on_end(self, span: ReadableSpan) -> None:
        self.threads[span.name] = threading.current_thread().name


@timing_retries
def test_span_is_made_off_the_callers_thread_as_a_child_with_the_measured_times(rec: Recorder) -> None:
    seen_during_call: list[int] = []  # the current span while the HTTP request goes out

    def on_request(request: Any) -> None:
        seen_during_call.append(trace.get_current_span().get_span_context().span_id)

    ending = EndingThreads()
    tt, memory = isolated(span_processors=[ending])
    http = httpx2.Client(event_hooks={"request": [on_request]})
    with (
        openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test", http_client=http) as client,
        tt.trace("agent") as root,
        tt.tool("search") as tool,
    ):
        tt.instrument_openai(client)
        stream = client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=steer(**TIMED),
        )
        for _ in stream:
            pass
    assert tt.force_flush(10)
    spans = {s.name: s for s in memory.get_finished_spans()}
    llm, tool_span = spans[f"chat {MODEL}"], spans["execute_tool search"]
    assert ending.threads == {
        f"chat {MODEL}": "tokentrail-spans",
        "execute_tool search": threading.current_thread().name,
        "invoke_agent agent": threading.current_thread().name,
    }
    assert llm.parent is not None and llm.parent.span_id == tool.get_span_context().span_id
    assert llm.context.trace_id == root.get_span_context().trace_id
    # the trade-off: what runs during the call sees the enclosing span, not the LLM span
    assert seen_during_call == [tool.get_span_context().span_id]
    assert llm.start_time is not None and llm.end_time is not None
    assert tool_span.start_time is not None and tool_span.end_time is not None
    assert tool_span.start_time <= llm.start_time <= llm.end_time <= tool_span.end_time
    attrs = dict(llm.attributes or {})
    duration_ms = (llm.end_time - llm.start_time) / 1e6
    assert duration_ms == pytest.approx(attrs[sc.TT_TTLT_MS], abs=0.001)  # start and end as measured
    assert attrs[sc.TT_CHUNKS] == TIMED["output_tokens"]
    plan = rec.plan()
    assert duration_ms >= plan.total_ms  # nothing arrives before the simulator sent it
    if duration_ms > plan.total_ms + TTFT_SLACK_MS:
        raise TimingMiss(f"span lasted {duration_ms:.1f} ms, the plan {plan.total_ms} ms")


def test_the_worker_makes_spans_on_its_clock_without_a_flush(rec: Recorder) -> None:
    tt, memory = isolated()
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        tt.instrument_openai(client)
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        wait_for(lambda: len(memory.get_finished_spans()) == 1)  # within one period (1 s), no flush
    tt.shutdown(timeout_s=5)


def test_a_call_does_not_wake_the_worker_a_half_full_queue_does(
    rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Woken while the application runs Python, the worker waits for the GIL and costs the application's
    thread for as long as it waits (`tokentrail.sdk.worker`): a call only queues its record."""
    monkeypatch.setattr(worker_mod, "PERIOD_S", 600.0)  # the clock out of the way
    tt, memory = isolated(queue_max_spans=4)
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        tt.instrument_openai(client)
        client.chat.completions.create(model=MODEL, messages=MESSAGES)  # one of four: queued only
        assert not tt.worker._hurry.is_set() and tt.worker._queue.qsize() == 1  # still queued
        assert not memory.get_finished_spans()
        client.chat.completions.create(model=MODEL, messages=MESSAGES)  # half full: the worker wakes
        wait_for(lambda: len(memory.get_finished_spans()) == 2)
    tt.shutdown(timeout_s=5)  # wakes it, so its thread does not sleep on past the test


def test_a_full_queue_drops_calls_and_counts_them(rec: Recorder) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_hook(attrs: Any, messages: Any, text: Any) -> None:  # runs on the worker, after each span
        entered.set()
        assert release.wait(10)

    tt, memory = isolated(capture_content=slow_hook, queue_max_spans=1)
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        tt.instrument_openai(client)
        client.chat.completions.create(model=MODEL, messages=MESSAGES)  # the worker takes it, and waits
        assert entered.wait(10)
        client.chat.completions.create(model=MODEL, messages=MESSAGES)  # waits in the queue (room for one)
        reply = client.chat.completions.create(model=MODEL, messages=MESSAGES)  # turned away
        assert reply.choices  # the call itself is unaffected
        assert tt.sdk_stats()["dropped"] == 1
        release.set()
        assert tt.force_flush(10)
    assert len(memory.get_finished_spans()) == 2
    assert tt.sdk_stats()["dropped"] == 1


def test_worker_errors_raise_on_force_flush_under_pytest(
    rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(chunk: Any, call: Any) -> str | bool | None:
        raise ZeroDivisionError("bug in an observer")

    chat = openai_readers.ENDPOINTS["/chat/completions"]
    monkeypatch.setitem(
        openai_readers.ENDPOINTS, "/chat/completions", (*chat[:3], (openai_readers.classify_chat, broken))
    )
    tt, memory = isolated()  # internal errors raise under pytest
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        tt.instrument_openai(client)
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, extra_headers=steer(output_tokens=5, itl_ms=1)
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == rec.plan().content  # the application's iteration was not disturbed
    with pytest.raises(ZeroDivisionError, match="bug in an observer"):
        tt.force_flush(10)
    assert tt.force_flush(10)  # raised once
    (span,) = memory.get_finished_spans()  # the span was still made ...
    attrs = dict(span.attributes or {})
    assert attrs[sc.TT_CHUNKS] == rec.plan().chunks  # ... and the plain text chunks never needed the observer
    assert sc.GEN_AI_RESPONSE_MODEL not in attrs  # what only the observer reads is missing


def test_shutdown_drains_the_worker_then_drops_later_calls(rec: Recorder) -> None:
    tt, memory = isolated()
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        tt.instrument_openai(client)
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        tt.shutdown(timeout_s=5)
        assert len(memory.get_finished_spans()) == 1  # made before shutdown returned
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert tt.sdk_stats()["dropped"] == 1
        again = InMemorySpanExporter()  # a new configuration takes calls again
        tt.configure(
            send_to_collector=False, use_global_provider=False, span_processors=[SimpleSpanProcessor(again)]
        )
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert tt.force_flush(10)
    assert (len(memory.get_finished_spans()), len(again.get_finished_spans())) == (1, 1)
    assert tt.sdk_stats()["dropped"] == 1


def test_fork_child_starts_with_an_empty_worker(rec: Recorder) -> None:
    tt, memory = isolated()
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        tt.instrument_openai(client)
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    worker = tt.worker
    assert worker._thread is not None and worker._thread.is_alive()
    pid = os.fork()
    if pid == 0:  # the child: no thread, an empty queue; the first call starts a thread of its own
        done: list[int] = []

        class Job:
            def finish(self, report: Any) -> None:
                done.append(1)

        ok = worker._thread is None and worker._queue.empty()
        worker.submit(Job())
        os._exit(0 if ok and worker.drain(5) and done == [1] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert tt.force_flush(10)
    assert len(memory.get_finished_spans()) == 1
