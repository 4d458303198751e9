"""decode → normalise → enrich (price) → Arrow, for one OTLP request. Runs off the event loop.

`Pipeline` does the work in the calling thread (the server runs it in a thread pool). `ProcessPipeline`
(ingest/workers.py) runs the same steps in worker processes and hands back Arrow IPC bytes.

A request holding more than `max_spans` spans (or metric data points) is refused whole with 413 before
any of them is normalised, so the work and memory of one request are bounded by the cap, not by what a
client sends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from tokentrail.ingest import otlp
from tokentrail.ingest.logs import ContentDocument, count_records, documents
from tokentrail.ingest.metrics import count_points, request_to_rows
from tokentrail.ingest.spans import Report, count_spans, request_to_calls
from tokentrail.model import Call, Sample
from tokentrail.pricing import Prices, price_call
from tokentrail.samples.content import Doc, document
from tokentrail.samples.policy import Policy, RateCap
from tokentrail.samples.sampler import cap_samples, sample_call, take_samples
from tokentrail.store.arrow import calls_to_arrow

Enricher = Callable[[Sequence[Call]], None]
Decoded = tuple[pa.Table, int, str]  # spans as Arrow, rejected count, what was rejected or corrected
LogContent = tuple[list[ContentDocument], int]  # GenAI content per span, other log records
DEFAULT_MAX_SPANS = 50_000


def pricing_enricher(prices: Prices) -> Enricher:
    """Price each call at ingest, from genai-prices data and the overrides."""

    def enrich(calls: Sequence[Call]) -> None:
        for call in calls:
            price_call(call, prices)

    return enrich


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def check_count(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise otlp.PayloadTooLarge(
            f"the request holds {count} {what}, over the limit of {limit} per request "
            "(TOKENTRAIL_MAX_SPANS_PER_REQUEST); send smaller batches"
        )


class Pipeline:
    """Turns request bodies into rows for the store; `enrich` prices the calls (see tokentrail.pricing);
    `policy` decides which calls' content is sampled (redacted, then stored in ``samples``)."""

    def __init__(
        self, enrich: Enricher | None = None, max_spans: int = DEFAULT_MAX_SPANS, policy: Policy | None = None
    ) -> None:
        self.enrich = enrich
        self.max_spans = max_spans
        self.policy = policy or Policy()
        self._cap = RateCap()

    def calls(self, body: bytes, kind: str) -> tuple[list[Call], Report]:
        request, cut = otlp.decode(body, kind, otlp.ExportTraceServiceRequest)
        check_count(count_spans(request), self.max_spans, "spans")
        calls, report = request_to_calls(request, utcnow())
        if cut:
            report.corrected[f"attribute values nested over {otlp.MAX_VALUE_DEPTH} levels cut"] += cut
        if self.enrich is not None:
            self.enrich(calls)
        take_samples(calls, self.policy)
        return calls, report

    def traces(self, body: bytes, kind: str) -> Decoded:
        calls, report = self.calls(body, kind)
        return calls_to_arrow(calls), report.rejected_count, report.message()

    def cap(self, table: pa.Table) -> pa.Table:
        """Drop the samples past the policy's per-minute cap (counted here, across all the workers)."""
        return cap_samples(table, self._cap, self.policy.max_per_minute)

    def capped(self, decoded: Decoded) -> Decoded:
        table, rejected, reason = decoded
        return self.cap(table), rejected, reason

    def logs(self, body: bytes, kind: str) -> LogContent:
        request, _ = otlp.decode(body, kind, otlp.ExportLogsServiceRequest)
        check_count(count_records(request), self.max_spans, "log records")
        return documents(request)

    def sample(self, pairs: Sequence[tuple[Call, Doc]]) -> list[Sample | None]:
        """Each call's sample of the content body given with it (from GenAI events), or None."""
        return [
            sample_call(call, document(body, call.provider, call.operation, call.model), self.policy)
            for call, body in pairs
        ]

    async def logs_async(self, body: bytes, kind: str) -> LogContent:
        return await asyncio.to_thread(self.logs, body, kind)

    async def sample_async(self, pairs: Sequence[tuple[Call, Doc]]) -> list[Sample | None]:
        return await asyncio.to_thread(self.sample, pairs)

    def metrics(self, body: bytes, kind: str) -> list[tuple[Any, ...]]:
        request, _ = otlp.decode(body, kind, otlp.ExportMetricsServiceRequest)
        check_count(count_points(request), self.max_spans, "metric data points")
        return request_to_rows(request, utcnow())

    async def traces_async(self, body: bytes, kind: str) -> Decoded:
        return self.capped(await asyncio.to_thread(self.traces, body, kind))

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        return None
