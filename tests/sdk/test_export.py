"""The OTLP exporter against a scripted loopback receiver (retries, Retry-After, drops, spool, shutdown,
metrics, fork), and end to end against the real collector (`tokentrail.server.app`) coming up late."""

from __future__ import annotations

import collections
import gzip
import http.server
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tokentrail import Tokentrail
from tokentrail.sdk.export import parse_retry_after
from tokentrail.sdk.spool import Spool

from .conftest import Collector, Recorder, free_port, steer, wait_for


class Receiver:
    """A loopback OTLP/HTTP receiver answering from a script of (status, headers, delay_s); then 200."""

    def __init__(self, port: int = 0, script: list[tuple[int, dict[str, str], float]] | None = None) -> None:
        self.script = collections.deque(script or [])
        self.requests: list[tuple[float, str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((time.monotonic(), self.path, dict(self.headers), body))
                status, headers, delay = receiver.script.popleft() if receiver.script else (200, {}, 0.0)
                time.sleep(delay)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def span_names(self) -> list[str]:
        names = []
        for _, path, _, body in self.requests:
            if path == "/v1/traces":
                request = ExportTraceServiceRequest.FromString(gzip.decompress(body))
                names += [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        return names


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def make_tt(tmp_path: Path) -> Iterator[Callable[..., Tokentrail]]:
    made: list[Tokentrail] = []

    def make(endpoint: str, **config: Any) -> Tokentrail:
        options: dict[str, Any] = {
            "use_global_provider": False,
            "spool_dir": tmp_path / "spool",
            "flush_interval_s": 0.05,
            "service_name": "export-test",
            **config,
        }
        tt = Tokentrail(endpoint=endpoint, **options)
        made.append(tt)
        return tt

    yield make
    for tt in made:
        tt.shutdown(timeout_s=1)


def exporter_stats(tt: Tokentrail) -> dict[str, int]:
    """The exporter's counters (sdk_stats also counts budget refreshes)."""
    return {k: v for k, v in tt.sdk_stats().items() if not k.startswith("budget_")}


def spans(tt: Tokentrail, *names: str) -> None:
    for name in names:
        with tt.trace(name):
            pass


def test_exports_gzip_protobuf_with_bearer(receiver: Receiver, make_tt: Callable[..., Tokentrail]) -> None:
    tt = make_tt(receiver.url, ingest_key="sekret")
    spans(tt, "a", "b", "c")
    assert tt.force_flush(5)
    assert sorted(receiver.span_names()) == ["invoke_agent a", "invoke_agent b", "invoke_agent c"]
    _, path, headers, body = receiver.requests[0]
    assert (path, headers["Authorization"], headers["Content-Encoding"]) == (
        "/v1/traces",
        "Bearer sekret",
        "gzip",
    )
    request = ExportTraceServiceRequest.FromString(gzip.decompress(body))
    resource = {kv.key: kv.value.string_value for kv in request.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "export-test"
    assert exporter_stats(tt) == {"exported": 3, "spooled": 0, "dropped": 0, "retried": 0}


def test_honours_retry_after(make_tt: Callable[..., Tokentrail]) -> None:
    receiver = Receiver(script=[(429, {"Retry-After": "0.3"}, 0.0), (503, {}, 0.0)])
    try:
        tt = make_tt(receiver.url)
        spans(tt, "a")
        assert tt.force_flush(10)
        times = [t for t, *_ in receiver.requests]
        assert len(times) == 3
        assert times[1] - times[0] >= 0.3  # waited as told
        assert exporter_stats(tt) == {"exported": 1, "spooled": 0, "dropped": 0, "retried": 2}
    finally:
        receiver.close()


def test_refused_batches_are_dropped_and_counted(make_tt: Callable[..., Tokentrail]) -> None:
    receiver = Receiver(script=[(400, {}, 0.0)])
    try:
        tt = make_tt(receiver.url)
        spans(tt, "a", "b")
        assert tt.force_flush(5)
        assert exporter_stats(tt) == {"exported": 0, "spooled": 0, "dropped": 2, "retried": 0}
    finally:
        receiver.close()


def test_spool_while_down_then_send_oldest_first(make_tt: Callable[..., Tokentrail], tmp_path: Path) -> None:
    port = free_port()
    tt = make_tt(f"http://127.0.0.1:{port}")
    spans(tt, "first")
    assert tt.force_flush(5)
    spans(tt, "second")
    assert tt.force_flush(5)
    assert tt.sdk_stats()["spooled"] == 2
    assert len(list((tmp_path / "spool").rglob("*.otlp.gz"))) == 2
    receiver = Receiver(port=port)
    try:
        wait_for(lambda: tt.sdk_stats()["exported"] == 2)
        assert receiver.span_names() == ["invoke_agent first", "invoke_agent second"]
        assert list((tmp_path / "spool").rglob("*.otlp.gz")) == []
        assert tt.sdk_stats()["retried"] >= 2
    finally:
        receiver.close()


def test_spool_cap_drops_oldest(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", max_bytes=2500)
    for i in range(5):
        dropped = spool.put(bytes(1000), spans=i + 1)
        assert dropped == (i - 1 if i >= 2 else 0)  # file i-2 (with i-1 spans) makes room
    names = [p.name for p in spool.files()]
    assert len(names) == 2 and names[0].endswith("-4.otlp.gz")
    assert spool.size() <= 2500


def test_full_queue_drops_new_spans(receiver: Receiver, make_tt: Callable[..., Tokentrail]) -> None:
    tt = make_tt(receiver.url, queue_max_spans=2, flush_interval_s=30)
    spans(tt, "a", "b", "c", "d")
    assert tt.sdk_stats()["dropped"] == 2
    assert tt.force_flush(5)
    assert sorted(receiver.span_names()) == ["invoke_agent a", "invoke_agent b"]


def test_shutdown_keeps_its_deadline(make_tt: Callable[..., Tokentrail], tmp_path: Path) -> None:
    receiver = Receiver(script=[(200, {}, 5.0)] * 3)
    try:
        tt = make_tt(receiver.url, flush_interval_s=30)
        spans(tt, "a", "b")
        started = time.monotonic()
        tt.shutdown(timeout_s=0.5)
        assert time.monotonic() - started < 1.5
        stats = tt.sdk_stats()
        assert stats["spooled"] == 2  # not lost: on disk for the next run
        assert len(list((tmp_path / "spool").rglob("*.otlp.gz"))) == 1
        spans(tt, "late")
        assert tt.sdk_stats()["dropped"] == 1
    finally:
        receiver.close()


def test_sdk_metrics_are_exported(receiver: Receiver, make_tt: Callable[..., Tokentrail]) -> None:
    tt = make_tt(receiver.url)
    spans(tt, "a")
    assert tt.force_flush(5)
    tt.shutdown(timeout_s=2)
    bodies = [body for _, path, _, body in receiver.requests if path == "/v1/metrics"]
    request = ExportMetricsServiceRequest.FromString(gzip.decompress(bodies[-1]))
    metrics = {
        m.name: m.sum.data_points[0].as_int for m in request.resource_metrics[0].scope_metrics[0].metrics
    }
    assert metrics["tokentrail.sdk.exported"] == 1
    assert set(metrics) == {f"tokentrail.sdk.{n}" for n in ("exported", "spooled", "dropped", "retried")}


def test_fork_child_starts_clean(receiver: Receiver, make_tt: Callable[..., Tokentrail]) -> None:
    tt = make_tt(receiver.url, flush_interval_s=30)
    spans(tt, "parent")
    pid = os.fork()
    if pid == 0:  # the child: the parent's queue is not ours to send
        exporter = tt._exporter
        ok = exporter is not None and not exporter._queue and exporter._thread is None
        os._exit(0 if ok and tt.sdk_stats()["exported"] == 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert tt.force_flush(5)
    assert receiver.span_names() == ["invoke_agent parent"]


def test_retry_after_parsing() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("bogus") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("99999") == 300.0


# --- end to end: the real collector, down at first ----------------------------------------------------


def test_collector_down_then_up(rec: Recorder, make_tt: Callable[..., Tokentrail], tmp_path: Path) -> None:
    port = free_port()
    tt = make_tt(f"http://127.0.0.1:{port}")
    messages = [{"role": "user", "content": "hi"}]
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as client:
        tt.instrument_openai(client)
        with tt.labels(feature="e2e"):
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=messages, extra_headers=steer(input_tokens=77)
            )
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=steer(output_tokens=6, tokens_per_chunk=1, itl_ms=5),
            )
            for _ in stream:
                pass
    assert reply.choices  # the app's calls succeeded while the collector was down
    assert tt.force_flush(5)
    assert tt.sdk_stats()["spooled"] == 2
    collector = Collector(port, tmp_path / "collector.duckdb")
    try:
        wait_for(lambda: tt.sdk_stats()["exported"] == 2)
        rows = collector.store.query(
            "SELECT kind, feature, input_tokens, attempts, source, stream, chunks, stop_reason, "
            "ttft_ms > 0, itl_p50_ms > 0 FROM spans ORDER BY start_time"
        ).rows
        assert rows[0] == ("llm", "e2e", 77, 1, "sdk", False, None, "stop", None, None)
        assert rows[1] == ("llm", "e2e", rows[1][2], 1, "sdk", True, 6, "stop", True, True)
    finally:
        collector.close()
