"""The value converters every ingest path shares (the OTLP normaliser and the file importers), so a value
means the same whichever way it arrived. Each returns None for a value it cannot use, never raises.

- Counts (`to_int`: tokens, chunks, attempts, HTTP status, prompt size) are whole numbers from 0 to
  `MAX_NUMBER`: an int, a float with no fraction, or numeric text. A negative or fractional count is garbage.
- Measures (`to_float`: durations, rates, cost) are finite numbers within ±`MAX_NUMBER`, or numeric text.
- Numeric text is decimal, with an optional sign, fraction and exponent (``12``, ``-0.5``, ``1e3``); not
  ``NaN``, ``Infinity`` or ``1_000``.
- Flags (`to_bool`): a bool, ``true/yes/y/1`` or ``false/no/n/0`` in any case, else None.
- Times (`to_time`): ISO-8601 text or epoch seconds, milliseconds, microseconds or nanoseconds (told
  apart by size); naive UTC out, as everywhere in tokentrail.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Final

MAX_NUMBER: Final = 2**53  # counts and measures past this are garbage, and sums of them must fit in 64 bits

_NUMERIC: Final = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_TRUE: Final = frozenset({"true", "1", "yes", "y"})
_FALSE: Final = frozenset({"false", "0", "no", "n"})
_EPOCH: Final = dt.datetime(1970, 1, 1)
_EARLIEST: Final = dt.datetime(2000, 1, 1)  # smaller epoch numbers are not times


def to_float(value: Any) -> float | None:
    """A finite number within ±MAX_NUMBER from a number or numeric text; else None."""
    if type(value) is float:  # the usual case first (NaN fails the comparison)
        return value if -MAX_NUMBER <= value <= MAX_NUMBER else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not _NUMERIC.match(value):
            return None
    elif not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) and abs(number) <= MAX_NUMBER else None


def to_int(value: Any) -> int | None:
    """A whole number from 0 to MAX_NUMBER (an int, a float without fraction or numeric text); else None."""
    if value is None:
        return None
    if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
        return value if 0 <= value <= MAX_NUMBER else None
    number = to_float(value)
    if number is None or number < 0 or not number.is_integer():
        return None
    return int(number)


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def to_str(value: Any) -> str | None:
    """A non-empty stripped string from a string or a number; else None."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def to_time(value: Any) -> dt.datetime | None:
    """A naive UTC datetime from ISO-8601 text or epoch seconds/ms/µs/ns; text without a zone is UTC."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if _NUMERIC.match(text):
        return _from_epoch(float(text))
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed
    return parsed.astimezone(dt.UTC).replace(tzinfo=None)


def _from_epoch(number: float) -> dt.datetime | None:
    if not math.isfinite(number) or number <= 0:
        return None
    if number >= 1e17:
        number /= 1e9
    elif number >= 1e14:
        number /= 1e6
    elif number >= 1e11:
        number /= 1e3
    try:
        moment = _EPOCH + dt.timedelta(seconds=number)
    except OverflowError:
        return None
    return moment if moment >= _EARLIEST else None
