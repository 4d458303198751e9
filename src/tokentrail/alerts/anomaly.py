"""Anomaly detection per series: what value a window should have had, and how far the observed one is.

- **Seasonal baseline** (at least `MIN_SEASONS` past weeks with data at the same hour of the week): the values
  of the same window 1, 2, ... weeks ago; a robust linear trend through them (Theil-Sen,
  ``scipy.stats.theilslopes``) gives the expected value now, and the spread is the median absolute deviation
  of the detrended values, scaled to a standard deviation (``scipy.stats.median_abs_deviation``).
- **EWMA** (a shorter history, but at least the rule's ``min_history``): the exponentially weighted mean and
  standard deviation of the past windows (pandas ``ewm``).
- The spread is at least `MIN_RELATIVE_SPREAD` of the expected value (and, for counts, the Poisson spread
  ``sqrt(expected)``), so a flat history or a quiet night does not turn any wiggle into an alert. The
  observed value fires when it is more than ``sensitivity`` spreads away (a robust z-score); the expected
  range is ``expected ± sensitivity * spread``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import numpy as np

WEEK = dt.timedelta(days=7)
MIN_SEASONS = 3
MAX_SEASONS = 8
MIN_RELATIVE_SPREAD = 0.15
EWMA_ALPHA = 0.3

Values = np.ndarray[Any, np.dtype[np.float64]]


@dataclasses.dataclass(frozen=True, slots=True)
class Baseline:
    method: str  # "seasonal" or "ewma"
    expected: float
    spread: float
    points: int  # past values it rests on

    def score(self, observed: float) -> float:
        """How many spreads the observed value is from the expected one (a robust z-score)."""
        return (observed - self.expected) / self.spread

    def bounds(self, sensitivity: float) -> tuple[float, float]:
        return self.expected - sensitivity * self.spread, self.expected + sensitivity * self.spread


def history_windows(window: dt.timedelta) -> int:
    """How many past windows the detector reads: `MAX_SEASONS` weeks, plus the current one."""
    return int(MAX_SEASONS * WEEK / window) + 1


def season_length(window: dt.timedelta) -> int | None:
    """Windows per week, when the window divides a week and is at most a day (else no seasonal baseline)."""
    if window > dt.timedelta(days=1) or WEEK % window:
        return None
    return int(WEEK / window)


def _floor(spread: float, center: float, counts: bool) -> float:
    """At least a share of the level, and for counts at least the Poisson spread sqrt(level)."""
    poisson = math.sqrt(max(abs(center), 1.0)) if counts else 0.0
    return max(spread, MIN_RELATIVE_SPREAD * abs(center), poisson, 1e-9)


def seasonal(values: Values, per: int, counts: bool) -> Baseline | None:
    """From values[k] (k windows ago): the same window 1..MAX_SEASONS weeks ago."""
    from scipy import stats  # imported when first needed: it costs every CLI command ~0.5 s at start

    lags = np.arange(1, MAX_SEASONS + 1) * per
    lags = lags[lags < len(values)]
    y = values[lags]
    weeks = -np.arange(1, len(lags) + 1, dtype=float)[~np.isnan(y)]
    y = y[~np.isnan(y)]
    if len(y) < MIN_SEASONS:
        return None
    slope, intercept, _, _ = stats.theilslopes(y, weeks)
    residuals = y - (intercept + slope * weeks)
    spread = float(stats.median_abs_deviation(residuals, scale="normal"))
    return Baseline("seasonal", float(intercept), _floor(spread, float(np.median(y)), counts), len(y))


def ewma(values: Values, counts: bool) -> Baseline:
    """From the past windows (values[1:], newest first)."""
    import pandas as pd  # imported when first needed, like scipy above

    past = pd.Series(values[1:][::-1]).dropna()
    mean = float(past.ewm(alpha=EWMA_ALPHA).mean().iloc[-1])
    std = past.ewm(alpha=EWMA_ALPHA).std().iloc[-1]
    spread = 0.0 if std is None or math.isnan(std) else float(std)
    return Baseline("ewma", mean, _floor(spread, mean, counts), len(past))


def baseline(
    values: Values, window: dt.timedelta, min_history: dt.timedelta, counts: bool
) -> Baseline | None:
    """The baseline for values[0], or None while the history is shorter than `min_history`; `counts` for
    metrics that count events (calls, tokens, errors)."""
    known = int(np.count_nonzero(~np.isnan(values[1:])))
    if known * window < min_history or known < 2:
        return None
    per = season_length(window)
    found = seasonal(values, per, counts) if per else None
    return found or ewma(values, counts)


def explain(observed: float, base: Baseline, sensitivity: float) -> str:
    low, high = base.bounds(sensitivity)
    z = base.score(observed)
    side = "above" if z >= 0 else "below"
    return (
        f"observed {observed:.6g}, expected {base.expected:.6g} (range {low:.6g} to {high:.6g}, "
        f"{base.method} baseline of {base.points} windows); {abs(z):.1f} spreads {side}"
    )
