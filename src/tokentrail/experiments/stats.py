"""The statistics of A/B experiments, as pure functions of numpy arrays (no store, no I/O).

Every comparison is on the relative difference ``b / a - 1`` of a variant ``b`` against the control ``a``.

- Means and ratios of sums (cost per successful call, and any mean when the unit is a cluster): the delta
  method on per-unit sums (`ratio_of_sums`, `relative`), with Welch-Satterthwaite degrees of freedom.
- Median and p95: bootstrap (`scipy.stats.bootstrap`, percentile intervals), resampling units: single calls,
  or whole clusters of calls when the unit is a label such as user_id. Each variant is bootstrapped once and
  the comparison uses the ratio of independent draws; large variants use a rescaled subsample.
- Proportions: Wilson per variant, and the score interval and test for a ratio of two proportions
  (statsmodels); clustered data enter through Kish's effective sample size.
- Sequential mode: the normal-mixture mSPRT (Johari et al., 2017) on the log of the ratio, with its
  confidence sequence (Robbins' normal mixture, as in the asymptotic confidence sequences of Waudby-Smith
  et al.): an always-valid p-value and interval, safe to look at after every call.
- Sample-ratio mismatch: chi-squared against the intended split. Power: statsmodels' NormalIndPower.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

# scipy and statsmodels (with pandas) take about 0.9 s to import, so each function imports what it uses:
# every CLI command would pay it at start otherwise.
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

ALPHA = 0.05  # 95 % intervals, significance at 5 %
POWER = 0.8  # power of the minimum detectable effect
# The mSPRT's normal mixture, in units of the difference's own standard deviation (Waudby-Smith et al.'s
# rho), is chosen so the confidence sequence is tightest when both variants have TIGHTEST_UNITS units.
TIGHTEST_UNITS = 1000
_RHO2 = (2 * math.log(1 / ALPHA) + math.log(2 * math.log(1 / ALPHA) + 1)) / (TIGHTEST_UNITS / 2)
SRM_ALPHA = 0.001  # a sample ratio this unlikely under the intended split is a mismatch
N_RESAMPLES = 2000
SEED = 17  # bootstrap resamples are seeded: the same data give the same interval
_CELLS_PER_BATCH = 4_000_000  # bootstrap weights held in memory at once
MAX_BOOTSTRAP_UNITS = 20_000  # larger variants are bootstrapped on a subsample, rescaled (m-out-of-n)
MAX_BOOTSTRAP_CALLS = 100_000


@dataclasses.dataclass(frozen=True, slots=True)
class Interval:
    """An estimate with its interval (None where the data cannot support one)."""

    estimate: float | None
    low: float | None
    high: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class Difference:
    """A relative difference b / a - 1 with its interval, p-value and variance (for power guidance)."""

    diff_rel: float | None
    low: float | None
    high: float | None
    p_value: float | None
    variance: float | None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and bool(self.p_value < ALPHA)


NO_INTERVAL = Interval(None, None, None)
NO_DIFFERENCE = Difference(None, None, None, None, None)


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """One variant's data by unit: `values` sorted, `clusters[i]` the unit (0..units-1) of values[i]."""

    values: Floats
    clusters: Ints
    units: int

    @classmethod
    def of(cls, values: Floats, unit_keys: NDArray[Any] | None = None) -> Sample:
        """Values with their unit keys (None: every value is its own unit)."""
        order = np.argsort(values, kind="stable")
        if unit_keys is None:
            return cls(values[order], np.arange(len(values), dtype=np.int64), len(values))
        _, codes = np.unique(unit_keys, return_inverse=True)
        return cls(values[order], codes[order].astype(np.int64), int(codes.max(initial=-1)) + 1)

    def unit_sums(self) -> tuple[Floats, Floats]:
        """(sum of values, number of values) per unit."""
        sums = np.bincount(self.clusters, weights=self.values, minlength=self.units).astype(np.float64)
        return sums, np.bincount(self.clusters, minlength=self.units).astype(np.float64)


# --- means and ratios of sums -----------------------------------------------------------------------------


def ratio_of_sums(num: Floats, den: Floats) -> tuple[float, float]:
    """sum(num) / sum(den) over units and its delta-method variance (for den = 1: the mean and s^2 / n)."""
    n = len(num)
    ratio = float(num.sum() / den.sum())
    residual = num - ratio * den
    variance = float(residual.var(ddof=1) / (n * den.mean() ** 2)) if n > 1 else math.nan
    return ratio, variance


def paired_units(units_a: float, units_b: float) -> float:
    """The effective number of units of a two-sample difference (n / 2 for n units in each variant)."""
    return 1 / (1 / units_a + 1 / units_b)


def t_interval(estimate: float, variance: float, df: float) -> Interval:
    from scipy import stats as sps

    if not math.isfinite(variance) or df < 1:
        return Interval(estimate, None, None)
    half = float(sps.t.ppf(1 - ALPHA / 2, df)) * math.sqrt(variance)
    return Interval(estimate, estimate - half, estimate + half)


def log_ratio(b: Any, var_b: Any, a: Any, var_a: Any) -> tuple[Any, Any]:
    """log(b / a) and its delta-method variance, for independent positive estimates (numbers or arrays)."""
    return np.log(b / a), var_b / b**2 + var_a / a**2


def log_rate_ratio(xb: Any, nb: Any, xa: Any, na: Any) -> tuple[Any, Any]:
    """log of a ratio of two rates (hits x of n) and its variance, with Haldane's 0.5 added to every count
    so that no count of zero leaves it undefined."""
    xb, nb, xa, na = xb + 0.5, nb + 0.5, xa + 0.5, na + 0.5
    return np.log((xb / nb) / (xa / na)), 1 / xb - 1 / nb + 1 / xa - 1 / na


def relative(b: Any, var_b: Any, a: Any, var_a: Any) -> tuple[Any, Any]:
    """b / a - 1 and its delta-method variance, for independent estimates (numbers or numpy arrays)."""
    return b / a - 1, var_b / a**2 + b**2 * var_a / a**4


def welch_df(var_a: float, units_a: int, var_b: float, units_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom from the variances of two estimates."""
    spread = var_a**2 / (units_a - 1) + var_b**2 / (units_b - 1)
    return (var_a + var_b) ** 2 / spread if spread > 0 else math.inf


def mean_interval(num: Floats, den: Floats) -> Interval:
    """A mean (or ratio of sums) over units, per-unit totals `num` and `den`, with its t interval."""
    if len(num) == 0 or den.sum() == 0:
        return NO_INTERVAL
    estimate, variance = ratio_of_sums(num, den)
    return t_interval(estimate, variance, len(num) - 1)


def mean_difference(a: tuple[Floats, Floats], b: tuple[Floats, Floats], sequential: bool) -> Difference:
    """Relative difference of two means (or ratios of sums) by the delta method; Welch's degrees of freedom
    at a fixed horizon, the mSPRT when sequential."""
    units_a, units_b = len(a[0]), len(b[0])
    if min(units_a, units_b) < 2 or a[1].sum() == 0 or b[1].sum() == 0:
        return NO_DIFFERENCE
    (ra, va), (rb, vb) = ratio_of_sums(*a), ratio_of_sums(*b)
    if ra == 0:
        return NO_DIFFERENCE
    if sequential:
        if rb <= 0 or ra < 0:
            return NO_DIFFERENCE
        return sequential_difference(*log_ratio(rb, vb, ra, va), paired_units(units_a, units_b))
    diff, variance = relative(rb, vb, ra, va)
    return fixed_difference(diff, variance, welch_df(va, units_a, vb, units_b))


def fixed_difference(diff: float, variance: float, df: float = math.inf) -> Difference:
    """A fixed-horizon interval and two-sided p-value from a t (or, df = inf, normal) reference."""
    from scipy import stats as sps

    if not (math.isfinite(variance) and variance > 0):
        return Difference(diff, None, None, None, None)
    se = math.sqrt(variance)
    half = float(sps.t.ppf(1 - ALPHA / 2, df)) * se
    p = float(2 * sps.t.sf(abs(diff) / se, df))
    return Difference(diff, diff - half, diff + half, p, variance)


# --- sequential: always-valid inference -------------------------------------------------------------------


def always_valid(diff: Any, variance: Any, units: Any, alpha: float = ALPHA) -> tuple[Any, Any]:
    """The mSPRT's confidence-sequence half-width and always-valid p-value (numbers or numpy arrays).

    `units` is `paired_units` of the difference. The mixing variance is tau^2 = rho^2 * units * variance,
    i.e. rho^2 times the variance of one unit. With r = tau^2 / variance, the mixture likelihood ratio is
    sqrt(1 / (1 + r)) * exp(r / (1 + r) * diff^2 / (2 variance)); its inverse is the p-value, and the
    half-width is where it reaches 1 / alpha: sqrt(variance (1 + r) / r * (2 log(1 / alpha) + log(1 + r))).
    """
    r = _RHO2 * units
    half = np.sqrt(variance * (1 + r) / r * (2 * math.log(1 / alpha) + np.log1p(r)))
    log_lr = -0.5 * np.log1p(r) + r / (1 + r) * diff**2 / (2 * variance)
    return half, np.minimum(1.0, np.exp(-log_lr))


def sequential_difference(log_diff: float, variance: float, units: float) -> Difference:
    """The always-valid interval and p-value of a ratio, tested on its log (where its sampling distribution is
    near normal far sooner than on the relative scale), reported as relative differences."""
    diff = math.expm1(log_diff)
    if not (math.isfinite(variance) and variance > 0):
        return Difference(diff, None, None, None, None)
    half, p = always_valid(log_diff, variance, units)
    return Difference(
        diff, math.expm1(log_diff - float(half)), math.expm1(log_diff + float(half)), float(p), variance
    )


# --- quantiles: bootstrap over units ----------------------------------------------------------------------


def weighted_quantile(values: Floats, weights: Floats, q: float) -> Floats:
    """The q-quantile (linear interpolation, as numpy's default) of sorted `values` repeated `weights` times,
    for each row of a (rows, len(values)) array of integer weights."""
    cum = np.cumsum(weights, axis=-1)
    total = cum[..., -1]
    position = (total - 1) * q
    below = np.floor(position)
    frac = position - below
    i_lo = np.minimum((cum <= below[..., None]).sum(axis=-1), len(values) - 1)
    i_hi = np.minimum((cum <= np.minimum(below + 1, total - 1)[..., None]).sum(axis=-1), len(values) - 1)
    result: Floats = values[i_lo] + frac * (values[i_hi] - values[i_lo])
    return result


def _resampled_quantile(sample: Sample, q: float, picked: Ints) -> Floats:
    """The quantile of the calls of resampled units; `picked` is (rows, units) of unit indices."""
    rows = picked.reshape(-1, sample.units)
    offsets = (np.arange(len(rows)) * sample.units)[:, None]
    counts = np.bincount((rows + offsets).ravel(), minlength=len(rows) * sample.units)
    weights = counts.reshape(len(rows), sample.units)[:, sample.clusters].astype(np.float64)
    return weighted_quantile(sample.values, weights, q).reshape(picked.shape[:-1])


def quantile(sample: Sample, q: float) -> float:
    return float(np.quantile(sample.values, q))


@dataclasses.dataclass(frozen=True, slots=True)
class Draws:
    """A variant's q-quantile and its bootstrap draws (None when the data cannot be bootstrapped)."""

    estimate: float | None
    draws: Floats | None
    units: int


def _usable(sample: Sample) -> bool:
    return sample.units >= 2 and bool(np.ptp(sample.values) > 0)


def _reduced(sample: Sample, rng: np.random.Generator) -> tuple[Sample, float]:
    """At most MAX_BOOTSTRAP_UNITS units (m-out-of-n: deviations scale by sqrt(m / n)) and at most
    MAX_BOOTSTRAP_CALLS calls (thinned uniformly, which can only widen the interval)."""
    keep = np.ones(len(sample.values), dtype=bool)
    scale = 1.0
    if sample.units > MAX_BOOTSTRAP_UNITS:
        kept_units = rng.choice(sample.units, MAX_BOOTSTRAP_UNITS, replace=False)
        keep &= np.isin(sample.clusters, kept_units)
        scale = math.sqrt(MAX_BOOTSTRAP_UNITS / sample.units)
    if keep.sum() > MAX_BOOTSTRAP_CALLS:
        keep[rng.choice(np.flatnonzero(keep), int(keep.sum()) - MAX_BOOTSTRAP_CALLS, replace=False)] = False
    if keep.all():
        return sample, scale
    _, codes = np.unique(sample.clusters[keep], return_inverse=True)
    return Sample(sample.values[keep], codes.astype(np.int64), int(codes.max()) + 1), scale


def bootstrap_quantile(sample: Sample, q: float, stream: int = 0) -> Draws:
    """The q-quantile with N_RESAMPLES bootstrap draws over units (`stream` seeds this variant's resamples,
    so that variants are resampled independently)."""
    from scipy import stats as sps

    if not len(sample.values):
        return Draws(None, None, 0)
    estimate = quantile(sample, q)
    if not _usable(sample):
        return Draws(estimate, None, sample.units)
    rng = np.random.default_rng([SEED, stream])
    small, scale = _reduced(sample, rng)
    res = sps.bootstrap(
        (np.arange(small.units),),
        lambda units, axis=-1: _resampled_quantile(small, q, units),
        vectorized=True,
        n_resamples=N_RESAMPLES,
        batch=max(1, _CELLS_PER_BATCH // len(small.values)),
        method="percentile",
        rng=rng,
    )
    draws = estimate + scale * (res.bootstrap_distribution - quantile(small, q))
    return Draws(estimate, draws, sample.units)


def _percentiles(draws: Floats) -> tuple[float, float]:
    low, high = np.quantile(draws, [ALPHA / 2, 1 - ALPHA / 2])
    return float(low), float(high)


def quantile_interval(boot: Draws) -> Interval:
    """The quantile with its percentile-bootstrap interval."""
    if boot.draws is None:
        return Interval(boot.estimate, None, None)
    return Interval(boot.estimate, *_percentiles(boot.draws))


def quantile_difference(a: Draws, b: Draws, sequential: bool) -> Difference:
    """Relative difference of two variants' quantiles from their independent bootstrap draws.

    Fixed horizon: the percentile interval, with the p-value where that interval would touch 0. Sequential:
    the mSPRT on the estimate with the bootstrap's variance.
    """
    if a.draws is None or b.draws is None or a.estimate is None or b.estimate is None or a.estimate <= 0:
        return NO_DIFFERENCE
    diff = b.estimate / a.estimate - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = b.draws / a.draws
        logs = np.log(ratios)
    if sequential:
        if b.estimate <= 0:
            return NO_DIFFERENCE
        variance = float(logs[np.isfinite(logs)].var(ddof=1))
        return sequential_difference(
            math.log(b.estimate / a.estimate), variance, paired_units(a.units, b.units)
        )
    draws = ratios[np.isfinite(ratios)] - 1
    variance = float(draws.var(ddof=1))
    tail = min((draws <= 0).sum(), (draws >= 0).sum())
    p = min(1.0, 2 * float(tail + 1) / (len(draws) + 1))
    return Difference(diff, *_percentiles(draws), p, variance)


# --- proportions ------------------------------------------------------------------------------------------


def effective_counts(sample: Sample) -> tuple[float, float]:
    """(successes, trials) of 0/1 values; clustered, scaled to Kish's effective sample size."""
    calls = float(len(sample.values))
    hits = float(sample.values.sum())
    if sample.units == len(sample.values) or hits in (0.0, calls):
        return hits, calls
    p, variance = ratio_of_sums(*sample.unit_sums())
    n_eff = min(calls, p * (1 - p) / variance) if variance > 0 else calls
    return p * n_eff, n_eff


def wilson(sample: Sample) -> Interval:
    from statsmodels.stats.proportion import proportion_confint

    hits, trials = effective_counts(sample)
    if trials == 0:
        return NO_INTERVAL
    low, high = proportion_confint(hits, trials, alpha=ALPHA, method="wilson")
    return Interval(hits / trials, float(low), float(high))


def proportion_difference(a: Sample, b: Sample, sequential: bool) -> Difference:
    """Relative difference of two rates: the score interval and test for their ratio (fixed horizon), or the
    mSPRT on the delta-method variance (sequential)."""
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    (xa, na), (xb, nb) = effective_counts(a), effective_counts(b)
    if na == 0 or nb == 0 or xa == 0:
        return NO_DIFFERENCE
    if sequential:
        return sequential_difference(*log_rate_ratio(xb, nb, xa, na), paired_units(a.units, b.units))
    pa, pb = xa / na, xb / nb
    diff, variance = relative(pb, pb * (1 - pb) / nb, pa, pa * (1 - pa) / na)
    low, high = confint_proportions_2indep(xb, nb, xa, na, compare="ratio", method="score", alpha=ALPHA)
    p = test_proportions_2indep(xb, nb, xa, na, compare="ratio", method="score").pvalue
    return Difference(diff, float(low) - 1, float(high) - 1, float(p), variance)


# --- sample ratio, power ----------------------------------------------------------------------------------


def sample_ratio(observed: Sequence[int], weights: Sequence[float]) -> tuple[float | None, bool]:
    """(p-value, mismatch) of the units per variant against the intended split (weights, any scale)."""
    from scipy import stats as sps

    if len(observed) < 2 or sum(observed) == 0:
        return None, False
    expected = np.asarray(weights, dtype=np.float64) / sum(weights) * sum(observed)
    p = float(sps.chisquare(np.asarray(observed, dtype=np.float64), expected).pvalue)
    return p, p < SRM_ALPHA


def _alpha_for(units: float, sequential: bool) -> float:
    """The fixed-horizon alpha whose critical value equals this mode's (wider, when sequential)."""
    from scipy import stats as sps

    if not sequential:
        return ALPHA
    half, _ = always_valid(0.0, 1.0, units)
    return float(2 * sps.norm.sf(float(half)))


def mde(variance: float, units_a: int, units_b: int, sequential: bool) -> float | None:
    """The smallest relative difference detectable now with POWER, from the variance of the difference."""
    from statsmodels.stats.power import NormalIndPower

    if not (math.isfinite(variance) and variance > 0) or min(units_a, units_b) < 2:
        return None
    scale = math.sqrt(variance / (1 / units_a + 1 / units_b))  # sd of one unit, on the relative scale
    d = NormalIndPower().solve_power(
        effect_size=None,
        nobs1=units_a,
        alpha=_alpha_for(paired_units(units_a, units_b), sequential),
        power=POWER,
        ratio=units_b / units_a,
    )
    return float(d) * scale


def units_needed(
    variance: float, units_a: int, units_b: int, effect: float, sequential: bool
) -> float | None:
    """Total units (both variants, same ratio) needed to detect a relative `effect` with POWER."""
    from statsmodels.stats.power import NormalIndPower

    if not (math.isfinite(variance) and variance > 0) or min(units_a, units_b) < 2 or effect == 0:
        return None
    scale = math.sqrt(variance / (1 / units_a + 1 / units_b))
    ratio = units_b / units_a
    total = float(units_a + units_b)
    for _ in range(6):  # the sequential critical value depends on the sample size: iterate to a fixed point
        alpha = _alpha_for(paired_units(total / (1 + ratio), total * ratio / (1 + ratio)), sequential)
        n_a = NormalIndPower().solve_power(
            effect_size=abs(effect) / scale, nobs1=None, alpha=alpha, power=POWER, ratio=ratio
        )
        total = float(n_a) * (1 + ratio)
    return total
