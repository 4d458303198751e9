"""decode → normalise → enrich (price) → Arrow, for one OTLP request. Runs off the event loop.

`Pipeline` does the work in the calling thread (the server runs it in a thread pool). `ProcessPipeline`
runs the same steps in worker processes and hands back Arrow IPC bytes: ingest is Python-bound, so on a
machine with several cores this spreads decoding over them while the one writer stays in the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import multiprocessing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from tokentrail.ingest import otlp
from tokentrail.ingest.metrics import request_to_rows
from tokentrail.ingest.normalize import request_to_calls
from tokentrail.model import Call
from tokentrail.pricing import Prices, load_prices, price_call
from tokentrail.pricing_overrides import load_overrides
from tokentrail.samples.policy import Policy, RateCap
from tokentrail.samples.sampler import cap_samples, take_samples
from tokentrail.store.arrow import calls_to_arrow

Enricher = Callable[[Sequence[Call]], None]
Decoded = tuple[pa.Table, int, str]  # spans as Arrow, rejected count, first rejection reason


def pricing_enricher(prices: Prices) -> Enricher:
    """Price each call at ingest, from genai-prices data and the overrides."""

    def enrich(calls: Sequence[Call]) -> None:
        for call in calls:
            price_call(call, prices)

    return enrich


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Pipeline:
    """Turns request bodies into rows for the store; `enrich` prices the calls (see tokentrail.pricing);
    `policy` decides which calls' content is sampled (redacted, then stored in ``samples``)."""

    def __init__(self, enrich: Enricher | None = None, policy: Policy | None = None) -> None:
        self.enrich = enrich
        self.policy = policy or Policy()
        self._cap = RateCap()

    def calls(self, body: bytes, kind: str) -> tuple[list[Call], int, str]:
        request = otlp.decode(body, kind, otlp.ExportTraceServiceRequest)
        calls, rejected, reason = request_to_calls(request, utcnow())
        if self.enrich is not None:
            self.enrich(calls)
        take_samples(calls, self.policy)
        return calls, rejected, reason

    def traces(self, body: bytes, kind: str) -> Decoded:
        calls, rejected, reason = self.calls(body, kind)
        return calls_to_arrow(calls), rejected, reason

    def capped(self, decoded: Decoded) -> Decoded:
        """Drop the samples past the policy's per-minute cap (counted here, across all the workers)."""
        table, rejected, reason = decoded
        return cap_samples(table, self._cap, self.policy.max_per_minute), rejected, reason

    def metrics(self, body: bytes, kind: str) -> list[tuple[Any, ...]]:
        request = otlp.decode(body, kind, otlp.ExportMetricsServiceRequest)
        return request_to_rows(request, utcnow())

    async def traces_async(self, body: bytes, kind: str) -> Decoded:
        return self.capped(await asyncio.to_thread(self.traces, body, kind))

    def close(self) -> None:
        return None


# --- worker processes ----------------------------------------------------------------------------------

_worker: Pipeline | None = None


def _init_worker(prices_file: Path | None) -> None:
    global _worker  # one pipeline per worker process, built once
    _worker = Pipeline(pricing_enricher(load_prices(prices_file)))


def _traces_ipc(body: bytes, kind: str, policy: Policy) -> tuple[bytes, int, str]:
    assert _worker is not None, "worker not initialised"
    _worker.policy = policy  # the server's policy of the moment (PUT /api/sampling changes it)
    table, rejected, reason = _worker.traces(body, kind)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes(), rejected, reason


class ProcessPipeline(Pipeline):
    """Decodes spans in `workers` processes (spawned, so no locks are inherited mid-flight)."""

    def __init__(self, workers: int, prices_file: Path | None, policy: Policy | None = None) -> None:
        # Only the workers price spans (metrics are not priced), so the server process does not load the
        # price data; it checks the overrides file, so a bad one still fails at start-up with its message.
        if prices_file is not None:
            load_overrides(prices_file)
        super().__init__(None, policy)
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(prices_file,),
        )

    async def traces_async(self, body: bytes, kind: str) -> Decoded:
        loop = asyncio.get_running_loop()
        data, rejected, reason = await loop.run_in_executor(self._pool, _traces_ipc, body, kind, self.policy)
        return self.capped((pa.ipc.open_stream(data).read_all(), rejected, reason))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
