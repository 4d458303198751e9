"""Thread-safe counters: the exporter's (spans exported, spooled, ...) and the budget refresher's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable


class Stats:
    def __init__(self, names: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(names, 0)
        self.started_ns = time.time_ns()

    def add(self, name: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self.counts[name] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)
