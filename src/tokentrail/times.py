"""Times and durations as people type them: on the command line, in API parameters and in alert rules.

- `parse_duration`: ``90s``, ``15m``, ``24h``, ``7d``, ``2w``.
- `parse_time`: ISO 8601 (no zone means UTC), epoch milliseconds, and, where a ``now`` is given,
  ``now`` or a duration ago (``30d``).

Everything is naive UTC. A bad value raises `DurationError` (a `BadRequest`: 400 at the API, exit 2 at the
CLI) whose message says what was expected. Times found inside imported data are read by
`ingest.values.to_time`, which gives None instead of raising.
"""

from __future__ import annotations

import datetime as dt
import re

from tokentrail.exceptions import BadRequest

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_EPOCH = dt.datetime(1970, 1, 1)


class DurationError(BadRequest):
    """A duration or a time could not be read; the message says what was expected."""


def parse_duration(text: str, what: str = "duration") -> dt.timedelta:
    """``"90s"`` → 90 seconds; units s, m, h, d, w. `what` names the value in the message."""
    found = _DURATION.match(str(text or ""))
    if not found:
        raise DurationError(
            f"bad {what} {text!r}: {what} must be a number and a unit (s, m, h, d, w) like 5m or 24h"
        )
    return dt.timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])


def format_duration(value: dt.timedelta) -> str:
    """The shortest exact text `parse_duration` reads back: 3600 s → ``1h``."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_time(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """A time as typed → naive UTC. ``now`` and durations ago are read only when `now` is given."""
    text = str(text).strip()
    if now is not None and text == "now":
        return now
    if now is not None and _DURATION.match(text):
        return now - parse_duration(text)
    try:
        if text.isdigit():
            return _EPOCH + dt.timedelta(milliseconds=int(text))
        return to_naive_utc(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        relative = ", 'now' or a duration ago like 30d" if now is not None else ""
        example = "an ISO 8601 time like 2026-11-21T00:00:00Z"
        raise DurationError(f"bad time {text!r}: expected {example}, epoch milliseconds{relative}") from None


def to_naive_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, as the API and the backtest JSON give times."""
    return None if value is None else value.isoformat() + "Z"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
