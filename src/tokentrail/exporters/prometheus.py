"""``GET /metrics``: the store's totals in the Prometheus exposition format, through prometheus_client.

The counters are computed from the store when scraped (cached for `CACHE_S`), so they always equal the
store's totals, survive restarts and count calls imported or replayed by any path; the cost is one
aggregate query per scrape. Labels are configurable (``TOKENTRAIL_METRICS_LABELS``); past
``TOKENTRAIL_METRICS_MAX_SERIES`` label combinations the smallest are summed under ``__overflow__``.
The collector's own health (spans accepted and rejected since start, write-queue depth, commit latency,
the scrape query's latency) comes from the running process.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from tokentrail.exporters.aggregate import HISTOGRAMS, SUMS, TOKEN_KINDS, Totals, capped, totals
from tokentrail.model import ErrorClass
from tokentrail.store import Store

CACHE_S = 5.0
_COUNTERS = {
    "calls": ("tokentrail_calls", "LLM calls stored"),
    "retries": ("tokentrail_retries", "HTTP retries of LLM calls (attempts beyond the first)"),
    "degraded": ("tokentrail_degraded_calls", "calls where the app fell back"),
    "cost_usd": ("tokentrail_cost_usd", "cost in USD of priced calls"),
}


@dataclasses.dataclass(slots=True)
class IngestHealth:
    """Counted by the collector as it works; read by the exporter."""

    spans_accepted: int = 0
    spans_rejected: int = 0
    commits: int = 0
    commit_seconds: float = 0.0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def committed(self, accepted: int, rejected: int, seconds: float) -> None:
        with self.lock:
            self.spans_accepted += accepted
            self.spans_rejected += rejected
            self.commits += 1
            self.commit_seconds += seconds


def _counters(rows: list[Totals], names: list[str]) -> Iterator[Metric]:
    for key, (name, doc) in _COUNTERS.items():
        family = CounterMetricFamily(name, doc, labels=names)
        for row in rows:
            family.add_metric(row.labels, row.sum(key))
        yield family
    errors = CounterMetricFamily(
        "tokentrail_errors", "failed LLM calls by error class", labels=[*names, "error_class"]
    )
    tokens = CounterMetricFamily(
        "tokentrail_tokens", "tokens by kind (cache and reasoning are subsets)", labels=[*names, "kind"]
    )
    for row in rows:
        for c in ErrorClass:
            errors.add_metric([*row.labels, c.value], row.sum(f"errors_{c.value}"))
        for kind in TOKEN_KINDS:
            tokens.add_metric([*row.labels, kind], row.sum(f"tokens_{kind}"))
    yield errors
    yield tokens


def _histograms(rows: list[Totals], names: list[str]) -> Iterator[Metric]:
    for key, (_, bounds) in HISTOGRAMS.items():
        family = HistogramMetricFamily(f"tokentrail_{key}", f"{key} of LLM calls", labels=names)
        for row in rows:
            counts, count, total = row.histogram(key)
            buckets = [(f"{b:g}", c) for b, c in zip(bounds, counts, strict=True)] + [("+Inf", count)]
            family.add_metric(row.labels, buckets, total)
        yield family


class StoreCollector(Collector):
    def __init__(
        self, store: Store, labels: tuple[str, ...], cap: int, health: IngestHealth, queue_depth: Any
    ) -> None:
        self.store, self.labels, self.cap, self.health = store, labels, cap, health
        self.queue_depth = queue_depth
        self._cached: tuple[float, list[Totals], float] | None = None
        self._lock = threading.Lock()

    def _rows(self) -> tuple[list[Totals], float]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > CACHE_S:
                started = time.monotonic()
                rows = capped(totals(self.store, self.labels), self.cap)
                self._cached = (time.monotonic(), rows, time.monotonic() - started)
            return self._cached[1], self._cached[2]

    def collect(self) -> Iterator[Metric]:
        rows, seconds = self._rows()
        names = list(self.labels)
        yield from _counters(rows, names)
        yield from _histograms(rows, names)
        yield from self._health(seconds)

    def _health(self, query_seconds: float) -> Iterator[Metric]:
        h = self.health
        yield CounterMetricFamily(
            "tokentrail_ingest_spans", "spans accepted by this process", value=h.spans_accepted
        )
        yield CounterMetricFamily(
            "tokentrail_rejected_spans", "spans refused as invalid", value=h.spans_rejected
        )
        yield GaugeMetricFamily(
            "tokentrail_write_queue_depth", "batches waiting for the writer", value=self.queue_depth()
        )
        commit = CounterMetricFamily(
            "tokentrail_store_commit_seconds", "time spent waiting for commits", value=h.commit_seconds
        )
        yield commit
        yield CounterMetricFamily("tokentrail_store_commits", "commits waited for", value=h.commits)
        yield GaugeMetricFamily(
            "tokentrail_store_query_seconds", "latency of the last /metrics store query", value=query_seconds
        )


def registry_for(
    store: Store, labels: tuple[str, ...], cap: int, health: IngestHealth, queue_depth: Any
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, labels, cap, health, queue_depth))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


__all__ = ["SUMS", "IngestHealth", "exposition", "registry_for"]
