"""What retention keeps: days per kind of data, a disk cap, and which tables hold each kind.

A day is a UTC day. With N days of retention, the kept data starts at midnight N days before today: a day is
dropped once all of it is more than N days old, so no row younger than N days is ever deleted and none older
than N + 1 days is kept (a call's age is its start time's).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from tokentrail.exceptions import InputError
from tokentrail.settings import Settings

DAY = dt.timedelta(days=1)
DEFAULT_INTERVAL_S = 3600.0
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


class RetentionError(InputError):
    """A retention setting that is not a valid number of days, size or interval."""


@dataclasses.dataclass(frozen=True, slots=True)
class Retained:
    """A table retention prunes: its time column and the setting (a Policy field) that says for how long."""

    table: str
    time_column: str
    setting: str
    rollup: bool = False  # roll the calls up into daily_costs before deleting them


# Every table retention knows, in deletion order. `samples` is pruned once a migration creates it; a new
# kind of timestamped data registers here with its time column.
RETAINED = (
    Retained("spans", "start_time", "calls", rollup=True),
    Retained("stream_timelines", "start_time", "calls"),  # the chunk arrivals of streamed calls
    Retained("span_keys", "start_time", "calls"),  # the duplicate check's keys (DuckDB) go with their spans
    Retained("samples", "start_time", "samples"),
    Retained("log_records", "time", "calls"),  # the log records kept (TOKENTRAIL_KEEP_LOGS), as long as spans
    Retained("metric_points", "time", "metric_points"),
    Retained("daily_costs", "day", "rollups"),
    Retained("call_rollups", "hour", "rollups"),  # the hourly rollups of long ranges (store/rollups.py)
    Retained("call_dim_hours", "hour", "rollups"),
    Retained("call_sketches", "day", "rollups"),
)
RAW = tuple(r for r in RETAINED if r.setting != "rollups")  # what the disk cap may drop


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    calls: int | None = None
    samples: int | None = None
    metric_points: int | None = None
    rollups: int | None = None
    max_disk: int | None = None  # bytes
    interval_s: float = DEFAULT_INTERVAL_S

    def days(self, retained: Retained) -> int | None:
        days: int | None = getattr(self, retained.setting)
        return days

    @property
    def configured(self) -> bool:
        return self.max_disk is not None or any(self.days(r) is not None for r in RETAINED)


def first_kept_day(now: dt.datetime, days: int) -> dt.datetime:
    """Midnight (UTC, naive) of the oldest day kept with `days` of retention."""
    return dt.datetime.combine(now.date(), dt.time()) - days * DAY


def parse_days(text: str, name: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise RetentionError(f"{name}={text!r} is not a number of days: use a whole number of at least 1")
    return int(text)


def parse_size(text: str, name: str = "size") -> int:
    """'500MB' (10^6), '2GiB' (2^30), '1000' (bytes) → bytes."""
    match = _SIZE.match(text)
    size = float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()] if match else 0
    if size < 1:
        raise RetentionError(
            f"{name}={text!r} is not a size: use a number and a unit B, KB, MB, GB, TB, KiB, MiB, GiB or TiB "
            "(e.g. 500MB or 2GiB)"
        )
    return int(size)


def parse_interval(text: str, name: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise RetentionError(f"{name}={text!r} is not an interval: use a number of seconds above 0")
    return seconds


OPTIONS = {  # Policy field -> (CLI option, Settings field)
    "calls": ("--calls", "retention_calls"),
    "samples": ("--samples", "retention_samples"),
    "metric_points": ("--metric-points", "retention_metric_points"),
    "rollups": ("--rollups", "retention_rollups"),
    "max_disk": ("--max-disk", "max_disk"),
    "interval_s": ("--interval-s", "retention_interval_s"),
}


def resolve(settings: Settings, options: dict[str, str | None] | None = None) -> Policy:
    """The policy from command-line options (by Policy field name), else the environment (via settings)."""
    values: dict[str, int | float] = {}
    for field, (flag, setting) in OPTIONS.items():
        chosen, name = (options or {}).get(field), flag
        if chosen is None:
            chosen, name = getattr(settings, setting), f"TOKENTRAIL_{setting.upper()}"
        if chosen is None:
            continue
        if field == "max_disk":
            values[field] = parse_size(chosen, name)
        elif field == "interval_s":
            values[field] = parse_interval(chosen, name)
        else:
            values[field] = parse_days(chosen, name)
    return Policy(**values)  # type: ignore[arg-type]
