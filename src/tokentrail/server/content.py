"""GenAI content from the logs signal, joined to its call and sampled like content on span attributes.

A log request's content (ingest/logs.py, decoded in the worker processes) is held by span
(samples/join.py `Waiting`), then the spans it names are looked up in the store. Content whose call is
found goes through the same `sample_call` as content on span attributes (in the workers): the same
decision (keep_errors, keep_if, the trace id's rate share), the same redaction, and the same per-minute
cap; the redacted sample is written to `samples` for that (trace_id, span_id), the span's first sample only.
Content whose span is not stored yet waits: after every span commit on this collector the spans just
committed take their waiting content, and content still waiting after `content_wait_s` gets one last store
lookup (the span may have reached another collector) and is then dropped. Holding first and looking up
second means a span committed while the lookup runs is still met by the commit's own check.

Unsampled or unmatched content is dropped in memory. A key bound to tenants can only add content to calls
of those tenants. Counts of what became of the content are in `state.log_counts` (shown by /healthz).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable
from typing import Any

import pyarrow as pa

from tokentrail.ingest.logs import ContentDocument
from tokentrail.model import Call
from tokentrail.samples.join import Held, Key, Waiting
from tokentrail.server.state import AppState
from tokentrail.store import StoreError
from tokentrail.store.arrow import calls_to_arrow

# What sampling reads of a call, and the labels its sample carries.
BASIS = ["trace_id", "span_id", "start_time", "status", "duration_ms", "ttft_ms", "cost_usd", "app"]
BASIS += ["feature", "tenant", "provider", "operation", "request_model", "response_model"]
LOOKUP_CHUNK = 1000  # trace ids per store lookup


def basis_calls(table: pa.Table, keys: Collection[Key]) -> dict[Key, Call]:
    """The calls of `keys` among the spans of `table` (the Arrow form the stores take)."""
    rows = table.select(BASIS).to_pylist()
    return {(r["trace_id"], r["span_id"]): Call(**r) for r in rows if (r["trace_id"], r["span_id"]) in keys}


async def stored_calls(state: AppState, keys: Collection[Key]) -> dict[Key, Call]:
    """The stored calls of `keys` (the app's own read: every tenant's)."""
    traces, found = sorted({trace for trace, _ in keys}), dict[Key, Call]()
    for i in range(0, len(traces), LOOKUP_CHUNK):
        chunk = traces[i : i + LOOKUP_CHUNK]
        sql = f"SELECT {', '.join(BASIS)} FROM spans WHERE trace_id IN ({', '.join('?' * len(chunk))})"
        result = await asyncio.to_thread(state.raw_store.query, sql, chunk)
        for values in result.dicts():
            call = Call(**values)
            if (call.trace_id, call.span_id) in keys:
                found.setdefault((call.trace_id, call.span_id), call)
    return found


def matched(state: AppState, held: dict[Key, Held], calls: dict[Key, Call]) -> list[tuple[Call, Any]]:
    """(call, content) for the held content whose call is known and of a tenant the sender may write as."""
    pairs = []
    for key, content in held.items():
        call = calls.get(key)
        if call is None:
            continue
        if content.tenants and call.tenant not in content.tenants:
            state.log_counts["content_other_tenant"] += 1
        else:
            pairs.append((call, content.body))
    return pairs


async def join(state: AppState, held: dict[Key, Held], calls: dict[Key, Call]) -> None:
    """Sample and redact the content of known calls; store the samples kept, drop the rest. Raises
    StoreError (StoreBusy when the writer is full)."""
    pairs = matched(state, held, calls)
    if not pairs:
        return
    samples = await state.pipeline.sample_async(pairs)
    kept = []
    for (call, _), sample in zip(pairs, samples, strict=True):
        call.sample = sample
        kept += [call] if sample is not None else []
    state.log_counts["content_not_sampled"] += len(pairs) - len(kept)
    if kept:
        table = state.pipeline.cap(calls_to_arrow(kept))
        future = state.store.submit_samples(table)
        state.log_counts["content_sampled"] += int(await asyncio.wrap_future(future))


async def on_logs(state: AppState, docs: Iterable[ContentDocument], tenants: tuple[str, ...]) -> None:
    """A log request's content: held, then joined to the calls already stored."""
    waiting = state.waiting
    keys = set()
    for doc in docs:
        waiting.hold(doc.key, doc.body(), tenants)
        keys.add(doc.key)
    if keys:
        found = await stored_calls(state, keys)
        await join(state, waiting.take(found), found)
    await expire(state)


async def after_commit(state: AppState, table: pa.Table) -> None:
    """Spans just committed take the content waiting for them. Never fails the span request."""
    try:
        if len(state.waiting):
            keys = zip(table.column("trace_id").to_pylist(), table.column("span_id").to_pylist(), strict=True)
            held = state.waiting.take(keys)
            if held:
                await join(state, held, basis_calls(table, held))
        await expire(state)
    except StoreError:  # the spans are committed; their content is lost, and counted
        state.log_counts["content_store_failed"] += 1


async def expire(state: AppState) -> None:
    """Content whose wait is over: one last store lookup, then joined or dropped."""
    held = state.waiting.expired()
    if held:
        found = await stored_calls(state, held)
        state.log_counts["content_unmatched"] += len(held.keys() - found.keys())
        await join(state, held, found)


def stats(state: AppState) -> dict[str, int]:
    """What became of the OTLP log records received (the /healthz `logs` object)."""
    waiting: Waiting = state.waiting
    return dict(state.log_counts) | waiting.stats()
