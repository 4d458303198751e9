"""decode → normalise → enrich (price) for one OTLP request. Runs off the event loop."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from tokentrail.ingest import otlp
from tokentrail.ingest.metrics import request_to_rows
from tokentrail.ingest.normalize import request_to_calls
from tokentrail.model import Call
from tokentrail.pricing import Prices, price_call

Enricher = Callable[[Sequence[Call]], None]


def pricing_enricher(prices: Prices) -> Enricher:
    """Price each call at ingest, from genai-prices data and the overrides."""

    def enrich(calls: Sequence[Call]) -> None:
        for call in calls:
            price_call(call, prices)

    return enrich


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Pipeline:
    """Turns request bodies into rows for the store; `enrich` prices the calls (see tokentrail.pricing)."""

    def __init__(self, enrich: Enricher | None = None) -> None:
        self.enrich = enrich

    def traces(self, body: bytes, kind: str) -> tuple[list[Call], int, str]:
        request = otlp.decode(body, kind, otlp.ExportTraceServiceRequest)
        calls, rejected, reason = request_to_calls(request, utcnow())
        if self.enrich is not None:
            self.enrich(calls)
        return calls, rejected, reason

    def metrics(self, body: bytes, kind: str) -> list[tuple[Any, ...]]:
        request = otlp.decode(body, kind, otlp.ExportMetricsServiceRequest)
        return request_to_rows(request, utcnow())
