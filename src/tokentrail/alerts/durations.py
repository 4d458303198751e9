"""Durations written as text (``90s``, ``5m``, ``1h``, ``7d``, ``2w``) and times given on the command line."""

from __future__ import annotations

import datetime as dt
import re

from tokentrail.exceptions import InputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


class DurationError(InputError):
    """A duration or a time could not be read; the message says what was expected."""


def parse_duration(text: str, what: str = "duration") -> dt.timedelta:
    """``"90s"`` → 90 seconds; units s, m, h, d, w."""
    found = _DURATION.match(str(text))
    if not found:
        raise DurationError(f"{what} must be a number and a unit (s, m, h, d, w) like 5m or 1h, not {text!r}")
    return dt.timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])


def format_duration(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_time(text: str, now: dt.datetime) -> dt.datetime:
    """An ISO 8601 time (naive = UTC), ``now``, or a duration ago (``30d``); naive UTC out."""
    if text == "now":
        return now
    if _DURATION.match(text):
        return now - parse_duration(text)
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DurationError(
            f"expected an ISO 8601 time, 'now' or a duration ago like 30d, not {text!r}"
        ) from None
    return to_naive_utc(value)


def to_naive_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, as the API and the backtest JSON give times."""
    return None if value is None else value.isoformat() + "Z"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
