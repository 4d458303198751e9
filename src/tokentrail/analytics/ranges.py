"""Time ranges: a window read from `since`/`start`/`end` (see `tokentrail.times`) and chargeback periods."""

from __future__ import annotations

import dataclasses
import datetime as dt

from tokentrail.exceptions import BadRequest
from tokentrail.times import parse_duration, parse_time, utcnow


@dataclasses.dataclass(frozen=True, slots=True)
class TimeRange:
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def resolve(cls, since: str | None = None, start: str | None = None, end: str | None = None) -> TimeRange:
        now = utcnow()
        try:
            stop = parse_time(end) if end else now
            begin = parse_time(start) if start else stop - parse_duration(since or "24h")
        except OverflowError:
            raise BadRequest("the time range is out of range: use times between years 1 and 9999") from None
        if begin >= stop:
            raise BadRequest(f"start {begin.isoformat()} is not before end {stop.isoformat()}")
        return cls(begin, stop)


def previous_range(time_range: TimeRange) -> TimeRange:
    """The period of equal length just before the range."""
    return TimeRange(time_range.start - (time_range.end - time_range.start), time_range.start)


def parse_period(period: str) -> TimeRange:
    """'2026-10' (a month) or '2026-10-05' (a day), UTC."""
    try:
        if len(period) == 7:
            start = dt.datetime.strptime(period, "%Y-%m")
            end = (start + dt.timedelta(days=32)).replace(day=1)
        else:
            start = dt.datetime.strptime(period, "%Y-%m-%d")
            end = start + dt.timedelta(days=1)
    except ValueError:
        raise BadRequest(f"bad period {period!r}: use YYYY-MM for a month or YYYY-MM-DD for a day") from None
    return TimeRange(start, end)
