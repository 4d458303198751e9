"""Requests that arrive while every decoding worker is busy go to the next free worker together, as one batch.

A worker's fixed costs per message (the process round trip, and building and serialising one Arrow table
of ~80 columns) are several times the decoding of a one-span request (measured: ~600 µs against ~90 µs),
so a stream of small requests sent one per message spends most of the workers' time on overhead. Here a
request is sent at once when a worker is free; otherwise it waits with the others that arrive meanwhile,
and the next worker to finish takes them all (up to `MAX_BATCH_BYTES`) as one message. Under light load
nothing waits; under load the batches grow with it. Runs on the event loop (no locks needed).

Each request keeps its own outcome: the worker decodes the bodies one by one, so a malformed body gets its
own error and the others their rows, handed back as slices of the batch's one table.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any

import pyarrow as pa

from tokentrail.exceptions import TokentrailError


class DecodeFailed(TokentrailError):
    """Decoding one request raised what no input should (a bug): that request alone fails (HTTP 500), and
    the others in its worker message keep their rows. The message names no input: it may hold content."""

    def __init__(self, kind: str = "") -> None:
        super().__init__(f"decoding this request failed ({kind}): a fault in the collector, in its log")
        self.kind = kind

    def __reduce__(self) -> tuple[type[DecodeFailed], tuple[str]]:
        return DecodeFailed, (self.kind,)


# rows, rejected count, what was rejected or corrected; or the request's own error (otlp.BadPayload, ...,
# or DecodeFailed)
Outcome = tuple[int, int, str] | ValueError | DecodeFailed
Item = tuple[bytes, str]  # body, media type
Decode = Callable[[list[Item]], Awaitable[tuple[pa.Table, list[Outcome]]]]
MAX_BATCH_BYTES = 4 << 20  # request bytes in one message at most (a single larger request goes alone)


class Batches:
    """Sends decoding work to at most `slots` workers at once, batching what waits for one."""

    def __init__(self, decode: Decode, slots: int) -> None:
        self._decode = decode
        self._slots = max(1, slots)
        self._waiting: collections.deque[tuple[Item, asyncio.Future[Any]]] = collections.deque()
        self._running: set[asyncio.Task[None]] = set()  # held, so that no running batch is collected

    async def traces(self, body: bytes, kind: str) -> tuple[pa.Table, int, str]:
        future: asyncio.Future[tuple[pa.Table, int, str]] = asyncio.get_running_loop().create_future()
        self._waiting.append(((body, kind), future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._waiting and len(self._running) < self._slots:
            batch = [self._waiting.popleft()]
            size = len(batch[0][0][0])
            while self._waiting and size + len(self._waiting[0][0][0]) <= MAX_BATCH_BYTES:
                batch.append(self._waiting.popleft())
                size += len(batch[-1][0][0])
            task = asyncio.ensure_future(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._dispatch()

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Any]]]) -> None:
        try:
            table, outcomes = await self._decode([item for item, _ in batch])
        except Exception as exc:  # the whole message failed (e.g. WorkersUnavailable): every request has it
            for _, future in batch:
                settle(future, exc)
        else:
            answer(table, outcomes, [future for _, future in batch])


def answer(table: pa.Table, outcomes: list[Outcome], futures: list[asyncio.Future[Any]]) -> None:
    """Each request its slice of the batch's rows (in order), or its own error."""
    offset = 0
    for outcome, future in zip(outcomes, futures, strict=True):
        if isinstance(outcome, Exception):
            settle(future, outcome)
            continue
        rows, rejected, reason = outcome
        settle(future, (table.slice(offset, rows), rejected, reason))
        offset += rows


def settle(future: asyncio.Future[Any], result: Any) -> None:
    """Resolve `future` unless its request has gone (cancelled when the client disconnected)."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
