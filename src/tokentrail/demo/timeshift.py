"""Moving the demo's traffic into the past, so "yesterday" and "last week" exist after one minute of running.

Every call really happens now and keeps its real measured durations; only its start time moves. A session
(one conversation, one agent run) picks a start time in the past, `shifted` sets the offset from now to it in
a contextvar, and `TimeShift`, an OpenTelemetry span processor that runs before the exporter, moves each
span of the session by that offset: ``on_start`` records the offset in force when the span starts,
``on_end`` moves the span's start and end times (and its events' times) by it.

`Calendar` picks the start times: days weighted towards weekdays, hours towards business hours (UTC), and
never later than a margin before now, so nothing lands in the future.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import random
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

SHIFT_NS: contextvars.ContextVar[int] = contextvars.ContextVar("tokentrail_demo_shift_ns", default=0)

# Relative traffic per UTC hour of a weekday: quiet nights, a morning ramp, a lunch dip, an evening tail.
BUSINESS_HOURS: Final = (
    0.06, 0.04, 0.03, 0.03, 0.04, 0.08, 0.2, 0.45, 0.85, 1.0, 1.0, 0.95,
    0.7, 0.85, 1.0, 1.0, 0.9, 0.7, 0.45, 0.3, 0.22, 0.16, 0.12, 0.08,
)  # fmt: skip
WEEKEND: Final = 0.35
MARGIN: Final = dt.timedelta(minutes=15)  # no session starts later than this before now


@contextlib.contextmanager
def shifted(start: dt.datetime) -> Iterator[None]:
    """Spans started inside are moved so that the block appears to begin at `start`."""
    token = SHIFT_NS.set(to_ns(start) - time.time_ns())
    try:
        yield
    finally:
        SHIFT_NS.reset(token)


def to_ns(when: dt.datetime) -> int:
    return int(when.timestamp() * 1_000_000) * 1000


class TimeShift(SpanProcessor):
    """Moves each span by the offset in force when it started (see the module docstring)."""

    def __init__(self) -> None:
        self._offsets: dict[int, int] = {}  # span id -> ns; dict get/set/pop are atomic under the GIL

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        offset = SHIFT_NS.get()
        if offset:
            self._offsets[span.context.span_id] = offset

    def on_end(self, span: ReadableSpan) -> None:
        offset = self._offsets.pop(span.context.span_id, 0)
        if not offset:
            return
        target: Any = span  # the SDK's Span: its times are plain attributes, read by the exporter later
        target._start_time += offset
        if target._end_time is not None:
            target._end_time += offset
        for event in target._events:
            event._timestamp += offset

    def shutdown(self) -> None:
        self._offsets.clear()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


@dataclasses.dataclass(frozen=True, slots=True)
class Calendar:
    """The demo's time window: `days` calendar days (UTC) up to now, today included."""

    now: dt.datetime
    days: int

    @property
    def today(self) -> dt.datetime:
        return self.now.replace(hour=0, minute=0, second=0, microsecond=0)

    @property
    def latest(self) -> dt.datetime:
        return self.now - MARGIN

    def day(self, offset: int) -> dt.datetime:
        """Midnight (UTC) `offset` days ago; 1 is yesterday."""
        return self.today - dt.timedelta(days=offset)

    def open_hours(self, offset: int) -> list[int]:
        """Hours of that day that begin before `latest` (all of them, except today)."""
        start = self.day(offset)
        return [h for h in range(24) if start + dt.timedelta(hours=h) < self.latest]

    def day_weight(
        self, offset: int, hours: Sequence[float] = BUSINESS_HOURS, weekend: float = WEEKEND
    ) -> float:
        factor = weekend if self.day(offset).weekday() >= 5 else 1.0
        return factor * sum(hours[h] for h in self.open_hours(offset))

    def pick_day(
        self, rng: random.Random, hours: Sequence[float] = BUSINESS_HOURS, weekend: float = WEEKEND
    ) -> int:
        offsets = list(range(self.days))
        weights = [self.day_weight(d, hours, weekend) for d in offsets]
        return rng.choices(offsets, weights)[0]

    def pick_time(
        self, rng: random.Random, offset: int, hours: Sequence[float] = BUSINESS_HOURS
    ) -> dt.datetime:
        """A time on day `offset`, its hour drawn from `hours`, never after `latest`."""
        open_hours = self.open_hours(offset) or [0]
        hour = rng.choices(open_hours, [hours[h] + 1e-6 for h in open_hours])[0]
        when = self.day(offset) + dt.timedelta(hours=hour, seconds=rng.uniform(0, 3600))
        return min(when, self.latest - dt.timedelta(seconds=rng.uniform(0, 600)))

    def spread(
        self, rng: random.Random, n: int, hours: Sequence[float] = BUSINESS_HOURS, weekend: float = WEEKEND
    ) -> list[dt.datetime]:
        """`n` start times over the window, weighted by day and hour."""
        return [self.pick_time(rng, self.pick_day(rng, hours, weekend), hours) for _ in range(n)]

    def yesterday(self) -> tuple[dt.datetime, dt.datetime]:
        return self.day(1), self.today
