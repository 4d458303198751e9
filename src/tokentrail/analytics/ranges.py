"""Time ranges: parsing durations, times and chargeback periods."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from tokentrail.exceptions import BadRequest

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> dt.timedelta:
    """'90s', '15m', '24h', '7d', '2w' → timedelta."""
    match = _DURATION.match(text or "")
    if not match:
        raise BadRequest(f"bad duration {text!r}: use a number and a unit s, m, h, d or w (e.g. 24h)")
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_time(text: str) -> dt.datetime:
    """ISO-8601 (naive means UTC) or epoch milliseconds → naive UTC datetime."""
    try:
        if text.isdigit():
            return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=int(text))
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"bad time {text!r}: use ISO-8601 (2026-11-21T00:00:00Z) or epoch milliseconds"
        ) from None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


@dataclasses.dataclass(frozen=True, slots=True)
class TimeRange:
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def resolve(cls, since: str | None = None, start: str | None = None, end: str | None = None) -> TimeRange:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
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
