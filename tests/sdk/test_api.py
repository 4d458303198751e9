"""The public API: settings resolution, lazy imports, idempotent and reversible patching, per-client
instrumentation, internal errors that never break the host, and the content capture hook."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tokentrail import semconv as sc
from tokentrail.sdk import config, stainless
from tokentrail.sdk import openai as openai_readers

from .conftest import Recorder, isolated, steer

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def client(rec: Recorder) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as c:
        yield c


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.ENV_ENDPOINT, raising=False)
    monkeypatch.delenv(config.ENV_INGEST_KEY, raising=False)
    assert config.resolve().endpoint == "http://127.0.0.1:4318"
    monkeypatch.setenv(config.ENV_ENDPOINT, "http://collector:4318/")
    monkeypatch.setenv(config.ENV_INGEST_KEY, "k-env")
    monkeypatch.setenv(config.ENV_SEND, "false")
    settings = config.resolve()
    assert (settings.endpoint, settings.ingest_key, settings.send_to_collector) == (
        "http://collector:4318",
        "k-env",
        False,
    )
    settings = config.resolve(endpoint="http://arg:1", ingest_key="k-arg", send_to_collector=True)
    assert (settings.endpoint, settings.ingest_key, settings.send_to_collector) == (
        "http://arg:1",
        "k-arg",
        True,
    )
    assert settings.raises  # PYTEST_CURRENT_TEST is set
    assert not config.resolve(raise_internal_errors=False).raises
    assert settings.openai_stream_usage and settings.propagate_threads  # on by default
    monkeypatch.setenv(config.ENV_OPENAI_STREAM_USAGE, "0")
    monkeypatch.setenv(config.ENV_PROPAGATE_THREADS, "false")
    settings = config.resolve()
    assert not settings.openai_stream_usage and not settings.propagate_threads
    settings = config.resolve(openai_stream_usage=True, propagate_threads=True)  # an argument wins
    assert settings.openai_stream_usage and settings.propagate_threads


def test_import_is_lazy() -> None:
    code = (
        "import sys, tokentrail; tokentrail.labels(a=1); "
        "heavy = ('openai', 'anthropic', 'boto3', 'botocore', 'genai_prices'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_idempotent_and_reversible(client: openai.OpenAI, rec: Recorder) -> None:
    base = openai._base_client.SyncAPIClient
    assert rec.tt.instrument_openai() is False  # already done by the session instance
    other, memory = isolated()
    try:
        assert other.instrument_openai() is True  # takes the class-level patch over
        assert other.instrument_openai() is False
        client.chat.completions.create(model="m", messages=MESSAGES)
        assert other.force_flush(10)
        assert len(memory.get_finished_spans()) == 1 and rec.llm() == []
        assert other.uninstrument() == 16  # request, attempt and 6 public methods; sync and async classes
        assert "request" not in vars(base) or not hasattr(vars(base)["request"], "__tokentrail_patch__")
        client.chat.completions.create(model="m", messages=MESSAGES)
        assert other.force_flush(10)
        assert len(memory.get_finished_spans()) == 1 and rec.llm() == []
    finally:
        rec.tt.instrument()  # the session instance patches again
    client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(rec.llm()) == 1


def test_one_client_only(rec: Recorder) -> None:
    other, memory = isolated()
    with (
        anthropic.Anthropic(base_url=rec.sim.url, api_key="test") as mine,
        anthropic.Anthropic(base_url=rec.sim.url, api_key="test") as theirs,
    ):
        assert other.instrument_anthropic(mine) is True
        assert other.instrument_anthropic(mine) is False
        mine.messages.create(model="claude-x", max_tokens=5, messages=MESSAGES)
        theirs.messages.create(model="claude-x", max_tokens=5, messages=MESSAGES)
        assert other.force_flush(10)
        assert len(memory.get_finished_spans()) == 1  # recorded once, by the client's own patch
        assert len(rec.llm()) == 1  # the other client: the class-level (session) patch
        other.uninstrument()
        mine.messages.create(model="claude-x", max_tokens=5, messages=MESSAGES)
        assert len(rec.llm()) == 2


def test_internal_error_never_breaks_the_call(
    rec: Recorder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(resp: Any, call: Any) -> None:
        raise ZeroDivisionError("bug in a reader")

    monkeypatch.setitem(openai_readers.ENDPOINTS, "/chat/completions", ("chat", {}, broken, None))
    lenient, memory = isolated(raise_internal_errors=False)
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        lenient.instrument_openai(client)
        with caplog.at_level(logging.ERROR, logger="tokentrail"):
            reply = client.chat.completions.create(model="m", messages=MESSAGES)
            assert lenient.force_flush(10)  # the reader runs on the span worker; it raised there
        assert reply.choices  # the user's call went on
        assert "ZeroDivisionError" in caplog.text
        assert len(memory.get_finished_spans()) == 1  # the span still ended
        strict, strict_memory = isolated(raise_internal_errors=True)
        strict.instrument_openai(client)
        assert client.chat.completions.create(model="m", messages=MESSAGES).choices
        with pytest.raises(ZeroDivisionError):  # no call to raise into: the next flush raises it
            strict.force_flush(10)
        assert len(strict_memory.get_finished_spans()) == 1
        assert strict.force_flush(10)  # raised once


def test_capture_content_hook(rec: Recorder) -> None:
    seen: list[tuple[dict[str, Any], Any, str | None]] = []
    tt, _ = isolated(capture_content=lambda attrs, messages, text: seen.append((dict(attrs), messages, text)))
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        tt.instrument_openai(client)
        stream = client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, extra_headers=steer(output_tokens=6)
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert tt.force_flush(10)
    ((attrs, messages, captured),) = seen
    assert messages == MESSAGES
    assert captured == text == rec.plan().content
    assert attrs[sc.TT_CHUNKS] == rec.plan().chunks


def test_content_is_not_captured_by_default(client: openai.OpenAI, rec: Recorder) -> None:
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "secret"}])
    assert not any("secret" in str(v) for v in rec.one().values())


def test_stainless_targets_are_sound() -> None:
    for target in (openai_readers.target(),):
        assert isinstance(target, stainless.Target)
        assert hasattr(target.sync_client, target.attempt_method)
        assert hasattr(target.async_client, "request")


PROVIDER_CHECK = """
import tokentrail
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

tokentrail.configure(send_to_collector=False)
assert not isinstance(trace.get_tracer_provider(), TracerProvider)  # ours is not set globally unless asked

app_memory, our_memory = InMemorySpanExporter(), InMemorySpanExporter()
app = TracerProvider()
app.add_span_processor(SimpleSpanProcessor(app_memory))
trace.set_tracer_provider(app)
tokentrail.configure(send_to_collector=False, span_processors=[SimpleSpanProcessor(our_memory)])
assert trace.get_tracer_provider() is app  # the app's provider is kept ...
with app.get_tracer("app").start_as_current_span("request") as request:
    with tokentrail.trace("agent"):
        pass
agent = next(s for s in app_memory.get_finished_spans() if s.name == "invoke_agent agent")
assert agent.parent.span_id == request.get_span_context().span_id  # ... and our spans join its traces
assert sorted(s.name for s in our_memory.get_finished_spans()) == ["invoke_agent agent", "request"]
print("ok")
"""


def test_joins_the_applications_tracer_provider() -> None:
    result = subprocess.run([sys.executable, "-c", PROVIDER_CHECK], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
