"""User queries (POST /api/query) run in a pool of their own, bounded, never queued.

The dashboard's reads, budget status and ingest use other threads, so however many heavy queries users
send, those keep being served. When every slot is busy the next user query is refused at once with 429
and `Retry-After` instead of waiting; each query still runs under its time limit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Callable
from typing import TypeVar

from tokentrail.exceptions import Unavailable

T = TypeVar("T")
RETRY_AFTER_S = "2"


class PoolFull(Unavailable):
    pass


class QueryPool:
    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._executor = concurrent.futures.ThreadPoolExecutor(self.workers, "tokentrail-query")
        self._slots = threading.BoundedSemaphore(self.workers)
        self._busy = 0
        self._lock = threading.Lock()

    @property
    def busy(self) -> int:
        return self._busy

    async def run(self, fn: Callable[[], T]) -> T:
        """Run `fn` in the pool (with the caller's context variables), or raise PoolFull at once."""
        if not self._slots.acquire(blocking=False):
            raise PoolFull(f"all {self.workers} query slots are busy; retry shortly")
        with self._lock:
            self._busy += 1
        future = self._executor.submit(contextvars.copy_context().run, fn)
        future.add_done_callback(
            self._release
        )  # a slot frees when the query ends, not when its caller leaves
        return await asyncio.wrap_future(future)

    def _release(self, _: object) -> None:
        with self._lock:
            self._busy -= 1
        self._slots.release()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
