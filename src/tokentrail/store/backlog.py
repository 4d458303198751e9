"""How long new work would wait: the units queued (bytes to decode, rows to commit) and the rate at which
they are done, measured as throughput while busy and smoothed (EWMA).

The collector admits a request only when the work ahead of it would be done within about a second; past
that it answers 429 with Retry-After (gRPC: RESOURCE_EXHAUSTED with RetryInfo) at once instead of letting
the request wait in a queue (see server/otlp.py). Until `WARM_S` of busy time is measured, nothing is refused:
the first windows time a cold process (first imports, first inserts), and a rate taken from them refused half
of a start-up burst of 16 one-span requests (expected wait 1.8 s at 0.5 s in) that the collector then served
at full speed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

WINDOW_S = 0.2  # busy time over which one throughput sample is taken
ALPHA = 0.3  # weight of the newest sample
WARM_S = 1.0  # busy time measured before the rate refuses anything


class Backlog:
    """Units queued and their measured throughput. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.pending = 0
        self.rate: float | None = None  # units per second, while busy
        self.measured_s = 0.0  # busy time the rate was taken over
        self._window_start = 0.0
        self._window_units = 0

    def add(self, units: int) -> None:
        with self._lock:
            if self.pending <= 0:  # idle until now: the next sample starts here
                self.pending = 0
                self._window_start, self._window_units = self._clock(), 0
            self.pending += units

    def cancel(self, units: int) -> None:
        """Units added that will not be worked on after all."""
        with self._lock:
            self.pending -= units

    def done(self, units: int) -> None:
        with self._lock:
            self.pending -= units
            self._window_units += units
            now = self._clock()
            elapsed = now - self._window_start
            if elapsed >= WINDOW_S:
                sample = self._window_units / elapsed
                self.rate = sample if self.rate is None else ALPHA * sample + (1 - ALPHA) * self.rate
                self.measured_s += elapsed
                self._window_start, self._window_units = now, 0

    def wait_s(self) -> float:
        """Seconds until the units queued now are done, by the measured rate (0 while not warm, or idle).

        Only the work ahead counts: a request's own service time is not a wait, and counting it would let
        one slow request on an idle server make every later one look late."""
        rate = self.rate
        if not rate or self.measured_s < WARM_S:
            return 0.0
        return max(0, self.pending) / rate
