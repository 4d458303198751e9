"""How the dashboard writes numbers, money, durations and changes (Jinja filters; pure functions)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

DASH = "\u2013"  # en dash: no value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def usd(value: float | None) -> str:
    """Dollars: cents above $1, four decimals below (LLM calls cost fractions of a cent)."""
    if _missing(value):
        return DASH
    assert value is not None
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:,.4f}"


def num(value: float | None) -> str:
    """Counts with thousands separators; fractions with one decimal below 100."""
    if _missing(value):
        return DASH
    assert value is not None
    if isinstance(value, int) or float(value).is_integer() or abs(value) >= 100:
        return f"{round(value):,}"
    return f"{value:,.1f}"


def ms(value: float | None) -> str:
    if _missing(value):
        return DASH
    assert value is not None
    return f"{value:,.0f} ms" if abs(value) < 1000 else f"{value / 1000:,.2f} s"


def pct(value: float | None) -> str:
    """A ratio (0.05) as a percentage (5.0%)."""
    if _missing(value):
        return DASH
    assert value is not None
    return f"{value * 100:.1f}%"


def per_s(value: float | None) -> str:
    if _missing(value):
        return DASH
    assert value is not None
    return f"{value:,.3f}/s" if abs(value) < 10 else f"{value:,.1f}/s"


def when(value: dt.datetime | None) -> str:
    """A stored (naive UTC) time, to the millisecond."""
    if value is None:
        return DASH
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def input_time(value: dt.datetime) -> str:
    """The value of a datetime-local input."""
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def value_label(value: Any) -> str:
    return "(none)" if value is None or value == "" else str(value)


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """A value against the previous period: the difference, the ratio and how to say it."""

    current: float
    previous: float
    delta: float
    ratio: float | None
    direction: str  # up, down, flat, new, gone

    @property
    def amount(self) -> str:
        """The signed difference in dollars, e.g. +$0.1200."""
        sign = "+" if self.delta > 0 else "\u2212" if self.delta < 0 else "\u00b1"
        return f"{sign}{usd(abs(self.delta))}"

    @property
    def text(self) -> str:
        if self.direction in ("new", "gone"):
            return self.direction
        sign = self.amount[0]
        share = f" ({sign}{abs(self.ratio) * 100:.0f}%)" if self.ratio is not None else ""
        return f"{self.amount}{share}"


def change(current: float | None, previous: float | None) -> Change:
    cur, prev = current or 0.0, previous or 0.0
    delta = cur - prev
    ratio = delta / prev if prev else None
    if prev == 0 and cur == 0:
        direction = "flat"
    elif prev == 0:
        direction = "new"
    elif cur == 0:
        direction = "gone"
    else:
        direction = "up" if delta > 0 else "down" if delta < 0 else "flat"
    return Change(cur, prev, delta, ratio, direction)


def fmt(value: Any, kind: str) -> str:
    """Format with the named formatter (usd, num, ms, pct, per_s)."""
    formatter: Any = FILTERS[kind]
    text: str = formatter(value)
    return text


FILTERS = {
    "fmt": fmt,
    "usd": usd,
    "num": num,
    "ms": ms,
    "pct": pct,
    "per_s": per_s,
    "when": when,
    "input_time": input_time,
    "label": value_label,
}
