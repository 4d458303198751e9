"""The exporter: OTLP/HTTP protobuf to ``{endpoint}/v1/traces``, never blocking the caller on the network.

It is an OpenTelemetry ``SpanProcessor``. ``on_end`` appends the span to a bounded deque (a full queue drops
the new span and counts it) and wakes ONE worker thread, through an Event, when a batch is full; otherwise
the worker wakes every ``flush_interval_s``. The worker encodes a batch (``encode_spans``), gzips it and
POSTs it, with ``Authorization: Bearer <ingest key>`` when one is set.

Failures:

- 429, 502, 503, 504: retried in place with exponential backoff and jitter, honouring ``Retry-After``,
  while the wait fits in ``retry_deadline_s``; otherwise the batch goes to the disk spool.
- connection errors (collector down): the batch goes to the spool at once and the exporter stays "down" for
  a backoff period (exponential, jitter, ``Retry-After`` when one was given), during which new batches go
  straight to the spool. Then the oldest spooled batch is tried; on success the spool is sent, oldest first.
- other 4xx: the batch is dropped and counted (the collector refused the data; resending would not help);
  other 5xx: spooled, as for an outage.

`stats` counts spans: exported, spooled, dropped (queue full, refused, spool over its cap, closed), and
retried (each re-send of a batch). The counts are also sent to ``/v1/metrics`` as cumulative sums
``tokentrail.sdk.exported`` etc. every ``metrics_interval_s`` and at shutdown (best effort: cumulative values
make a lost report harmless, so metrics are neither retried nor spooled).

The encoders are imported with this module (by ``configure``/``instrument``), not by the first export,
whose thread would otherwise take the interpreter from the application for tens of ms.

Fork-safe (the child starts with an empty queue and a new worker); shutdown returns within its deadline:
what could not be sent by then is written to the spool, which is local and fast.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import email.utils
import gzip
import http.client
import os
import random
import threading
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from tokentrail.sdk.errors import log
from tokentrail.sdk.spool import Spool, spans_in
from tokentrail.sdk.stats import Stats
from tokentrail.sdk.worker import weak_caller

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource

    from tokentrail.sdk.config import Settings

TRACES_PATH: Final = "/v1/traces"
METRICS_PATH: Final = "/v1/metrics"
RETRYABLE: Final = frozenset({429, 502, 503, 504})
MAX_INLINE_RETRIES: Final = 3
MAX_BACKOFF_S: Final = 30.0
MAX_RETRY_AFTER_S: Final = 300.0
COUNTERS: Final = ("exported", "spooled", "dropped", "retried")
SENT, RETRY, REJECTED = "sent", "retry", "rejected"


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    status: int | None  # None: no HTTP response (connection refused, reset, timed out)
    retry_after: float | None = None

    @property
    def outcome(self) -> str:
        if self.status is not None and 200 <= self.status < 300:
            return SENT
        if self.status is not None and 400 <= self.status < 500 and self.status not in RETRYABLE:
            return REJECTED
        return RETRY


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), capped; None when absent/bad."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class Transport:
    """One request per call on a fresh stdlib http.client connection (not traced by HTTP instrumentations)."""

    def __init__(self, endpoint: str, ingest_key: str | None) -> None:
        parts = urlsplit(endpoint)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._base = parts.path.rstrip("/")
        self._auth = {"Authorization": f"Bearer {ingest_key}"} if ingest_key else {}
        self._headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip", **self._auth}

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=max(timeout, 0.05))

    def post(self, path: str, body: bytes, timeout: float) -> Reply:
        conn = self._connect(timeout)
        try:
            conn.request("POST", self._base + path, body=body, headers=self._headers)
            response = conn.getresponse()
            response.read()
            return Reply(response.status, parse_retry_after(response.getheader("Retry-After")))
        except (OSError, http.client.HTTPException):
            return Reply(None)
        finally:
            conn.close()

    def get(self, path: str, timeout: float) -> tuple[int, bytes]:
        """(status, body); raises OSError or http.client.HTTPException when there is no answer."""
        conn = self._connect(timeout)
        try:
            conn.request("GET", self._base + path, headers={"Accept": "application/json", **self._auth})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


class OtlpExporter(SpanProcessor):
    def __init__(self, settings: Settings, resource: Resource | None = None) -> None:
        self._settings = settings
        self._resource = resource
        self._transport = Transport(settings.endpoint, settings.ingest_key)
        self._spool = Spool(settings.spool_path(), settings.spool_max_bytes)
        self.stats = Stats(COUNTERS)
        self._init_state()
        self._closing = False
        self._deadline = float("inf")
        self._failures = 0
        self._down_until = 0.0
        self._spool_pending = True  # files left by an earlier run are sent too
        self._metrics_at = time.monotonic() + settings.metrics_interval_s
        self._metrics_sent: dict[str, int] = {}
        os.register_at_fork(after_in_child=weak_caller(weakref.WeakMethod(self._after_fork)))
        self._atexit = weak_caller(weakref.WeakMethod(self.shutdown))
        atexit.register(self._atexit)

    def _init_state(self) -> None:
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._flush_asked = 0
        self._flush_done = 0
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._inflight: tuple[bytes, int] | None = None

    def _after_fork(self) -> None:
        """In a forked child: the parent exports what it queued; the child starts afresh."""
        self._init_state()
        self.stats = Stats(COUNTERS)

    # --- SpanProcessor ------------------------------------------------------------------------------------

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        queue = self._queue
        if self._closing or len(queue) >= self._settings.queue_max_spans:
            self.stats.add("dropped")
            return
        queue.append(span)
        if self._thread is None:
            self._start()
        elif len(queue) >= self._settings.batch_max_spans:
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export (or spool) everything queued so far; True when done within the timeout."""
        if self._thread is None or not self._thread.is_alive():
            return not self._queue
        with self._done:
            self._flush_asked += 1
            target = self._flush_asked
        self._wake.set()
        with self._done:
            return self._done.wait_for(lambda: self._flush_done >= target, timeout_millis / 1000)

    def shutdown(self, timeout_s: float | None = None) -> None:
        if self._closing:
            return
        timeout = self._settings.shutdown_timeout_s if timeout_s is None else timeout_s
        self._closing = True
        self._deadline = time.monotonic() + timeout
        atexit.unregister(self._atexit)
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(max(self._deadline - time.monotonic(), 0))
        if thread is None or thread.is_alive():
            # What the worker could not send in time stays on disk, the batch in flight included: if that
            # one arrives after all, the collector stores it once (ingest is idempotent on the span ids).
            inflight, self._inflight = self._inflight, None
            if inflight is not None:
                self._to_spool(*inflight)
            self._spool_queue()

    # --- the worker ---------------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._closing:
                self._thread = threading.Thread(target=self._run, name="tokentrail-exporter", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
        while not self._closing:
            self._wake.wait(self._settings.flush_interval_s)
            self._wake.clear()
            try:
                self._cycle()
            except Exception:
                log.exception("tokentrail exporter: unexpected error; continuing")
        try:
            self._cycle()
            self._send_metrics(force=True)
        except Exception:
            log.exception("tokentrail exporter: error during shutdown")

    def _cycle(self) -> None:
        with self._done:
            asked = self._flush_asked
        if self._spool_pending and not self._is_down():
            self._send_spool()
        while self._queue:
            self._export(self._take_batch())
        if not self._closing:
            self._send_metrics()
        with self._done:
            self._flush_done = max(self._flush_done, asked)
            self._done.notify_all()

    def _take_batch(self) -> list[ReadableSpan]:
        batch: list[ReadableSpan] = []
        queue = self._queue
        while queue and len(batch) < self._settings.batch_max_spans:
            batch.append(queue.popleft())
        return batch

    def _export(self, spans: Sequence[ReadableSpan]) -> None:
        payload = gzip.compress(encode_spans(spans).SerializeToString(), compresslevel=6)
        self._inflight = (payload, len(spans))
        outcome = RETRY if self._is_down() else self._send(TRACES_PATH, payload)
        if self._inflight is None:  # shutdown gave up waiting and spooled it
            return
        self._inflight = None
        if outcome == SENT:
            self.stats.add("exported", len(spans))
        elif outcome == REJECTED:
            self.stats.add("dropped", len(spans))
        else:
            self._to_spool(payload, len(spans))

    def _send(self, path: str, payload: bytes) -> str:
        """POST with in-place retries for throttling; RETRY means "spool it and back off"."""
        retry_until = time.monotonic() + self._settings.retry_deadline_s
        for attempt in range(MAX_INLINE_RETRIES + 1):
            reply = self._transport.post(path, payload, self._timeout())
            outcome = reply.outcome
            if outcome != RETRY:
                self._failures = 0
                return outcome
            wait = reply.retry_after if reply.retry_after is not None else self._backoff(attempt)
            last = reply.status is None or attempt == MAX_INLINE_RETRIES or self._closing
            if last or time.monotonic() + wait > min(retry_until, self._deadline):
                self._mark_down(reply.retry_after)
                return RETRY
            self.stats.add("retried", 1)
            if self._stop.wait(wait):
                return RETRY
        return RETRY  # pragma: no cover - the loop always returns

    def _send_spool(self) -> None:
        for path in self._spool.files():
            if self._is_down() or time.monotonic() >= self._deadline:
                return
            payload = self._spool.read(path)
            if payload is None:
                continue
            self.stats.add("retried", 1)
            outcome = self._send(TRACES_PATH, payload)
            if outcome == RETRY:
                return
            spans = spans_in(path)
            self._spool.remove(path)
            self.stats.add("exported" if outcome == SENT else "dropped", spans)
        self._spool_pending = False

    def _to_spool(self, payload: bytes, spans: int) -> None:
        try:
            dropped = self._spool.put(payload, spans)
        except OSError:
            log.warning(
                "tokentrail exporter: cannot write the spool in %s", self._spool.folder, exc_info=True
            )
            self.stats.add("dropped", spans)
            return
        self._spool_pending = True
        self.stats.add("spooled", spans)
        self.stats.add("dropped", dropped)

    def _spool_queue(self) -> None:
        while self._queue:
            spans = self._take_batch()
            self._to_spool(gzip.compress(encode_spans(spans).SerializeToString()), len(spans))

    # --- pacing -------------------------------------------------------------------------------------------

    def _timeout(self) -> float:
        return min(self._settings.export_timeout_s, max(self._deadline - time.monotonic(), 0.05))

    def _backoff(self, attempt: int) -> float:
        return float(min(0.5 * 2**attempt, MAX_BACKOFF_S) * random.uniform(0.5, 1.0))

    def _mark_down(self, retry_after: float | None) -> None:
        wait = retry_after if retry_after is not None else self._backoff(self._failures)
        self._failures += 1
        self._down_until = time.monotonic() + wait

    def _is_down(self) -> bool:
        return time.monotonic() < self._down_until

    # --- SDK metrics --------------------------------------------------------------------------------------

    def _send_metrics(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._metrics_at:
            return
        self._metrics_at = now + self._settings.metrics_interval_s
        counts = self.stats.snapshot()
        if counts == self._metrics_sent or self._is_down():
            return
        body = gzip.compress(
            encode_sdk_metrics(counts, self._resource, self.stats.started_ns).SerializeToString()
        )
        if self._transport.post(METRICS_PATH, body, self._timeout()).outcome == SENT:
            self._metrics_sent = counts


def encode_sdk_metrics(counts: dict[str, int], resource: Resource | None, start_ns: int) -> Any:
    """The exporter's counters as cumulative monotonic sums ``tokentrail.sdk.<name>`` (unit: spans)."""
    now = time.time_ns()
    metrics = [
        pb.Metric(
            name=f"tokentrail.sdk.{name}",
            unit="{span}",
            description=f"spans {name} by the tokentrail SDK exporter",
            sum=pb.Sum(
                data_points=[
                    pb.NumberDataPoint(as_int=value, time_unix_nano=now, start_time_unix_nano=start_ns)
                ],
                aggregation_temporality=pb.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE,
                is_monotonic=True,
            ),
        )
        for name, value in counts.items()
    ]
    attributes = dict(resource.attributes) if resource is not None else {}
    pb_resource = PbResource(
        attributes=[KeyValue(key=k, value=AnyValue(string_value=str(v))) for k, v in attributes.items()]
    )
    scope = pb.ScopeMetrics(scope=InstrumentationScope(name="tokentrail.sdk"), metrics=metrics)
    return ExportMetricsServiceRequest(
        resource_metrics=[pb.ResourceMetrics(resource=pb_resource, scope_metrics=[scope])]
    )
