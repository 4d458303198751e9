"""Summary percentiles: exact within the budget, a uniform per-group sample past it (DuckDB), and the
columns derived from the error rows (errors, error_rate, unpriced_calls) against an independent count."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from tokentrail.analytics import percentiles
from tokentrail.analytics.compare import compare
from tokentrail.analytics.dashboard import overview_totals, timeseries
from tokentrail.analytics.percentiles import sample_cap
from tokentrail.analytics.ranges import TimeRange
from tokentrail.analytics.summary import summary
from tokentrail.model import Call
from tokentrail.store import Store
from tokentrail.store.duckdb import DuckDBStore

NOW = dt.datetime(2026, 11, 20, 12)
RANGE = TimeRange(NOW - dt.timedelta(days=1), NOW)
SIZES = {"small": 40, "mid": 300, "big": 3000}


def calls() -> list[Call]:
    rng = random.Random(7)
    out: list[Call] = []
    for tenant, n in SIZES.items():
        for i in range(n):
            error = rng.random() < 0.1
            out.append(
                Call(
                    trace_id=f"{len(out) + 1:032x}",
                    span_id=f"{len(out) + 1:016x}",
                    kind="llm",
                    name="chat",
                    start_time=NOW - dt.timedelta(seconds=80_000 * rng.random()),
                    duration_ms=rng.lognormvariate(6, 0.6),
                    ttft_ms=rng.uniform(50, 400),
                    tenant=tenant,
                    request_model="gpt-4o",
                    status="error" if error else "ok",
                    error_class=rng.choice(["throttled", "timeout"]) if error else None,
                    cost_usd=None if i % 7 == 0 else 0.001 * i,
                )
            )
    return out


def exact_quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (DuckDB quantile_cont)."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@pytest.mark.parametrize(
    ("sizes", "budget", "floor", "cap"),
    [
        ([10, 20, 30], 100, 1, 30),  # everything fits: the cap is the largest group
        ([10, 100, 1000], 300, 1, 190),  # 10 + 100 + 190 = 300
        ([500, 500, 500], 300, 1, 100),
        ([500, 500, 500], 300, 150, 150),  # never below the floor, even past the budget
        ([], 300, 64, 64),
    ],
)
def test_sample_cap_fills_the_budget_from_the_smallest_group(
    sizes: list[int], budget: int, floor: int, cap: int
) -> None:
    assert sample_cap(sizes, budget, floor) == cap
    if cap > floor and cap < max(sizes, default=0):
        assert sum(min(n, cap) for n in sizes) <= budget < sum(min(n, cap + 1) for n in sizes)


def test_summary_within_budget_is_exact_and_derives_errors(store: Store) -> None:
    data = calls()
    store.write(data)
    rows = {r["tenant"]: r for r in summary(store, RANGE, ["tenant"]).dicts()}
    for tenant, n in SIZES.items():
        mine = [c for c in data if c.tenant == tenant]
        row = rows[tenant]
        errors = [c for c in mine if c.status == "error"]
        assert row["calls"] == row["percentile_calls"] == n
        assert row["errors"] == len(errors) and row["error_rate"] == pytest.approx(len(errors) / n)
        assert row["errors_throttled"] + row["errors_timeout"] == len(errors)
        assert row["unpriced_calls"] == sum(1 for c in mine if c.cost_usd is None and c.status == "ok")
        if store.dialect == "duckdb":  # ClickHouse's quantiles() interpolates differently
            durations = [c.duration_ms for c in mine if c.duration_ms is not None]
            assert row["latency_p95_ms"] == pytest.approx(exact_quantile(durations, 0.95))
            assert row["ttft_p50_ms"] == pytest.approx(exact_quantile([c.ttft_ms or 0 for c in mine], 0.5))


def test_summary_past_budget_samples_large_groups_only(
    duck: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = calls()
    duck.write(data)
    exact = {r["tenant"]: r for r in summary(duck, RANGE, ["tenant"]).dicts()}
    monkeypatch.setattr(percentiles, "PERCENTILE_BUDGET", 1000)
    monkeypatch.setattr(percentiles, "PERCENTILE_FLOOR", 64)
    first = summary(duck, RANGE, ["tenant"])
    assert first.rows == summary(duck, RANGE, ["tenant"]).rows  # the same sample every time
    rows = {r["tenant"]: r for r in first.dicts()}
    cap = sample_cap(list(SIZES.values()), 1000, 64)  # 40 + 300 + 660
    assert cap == 660
    for tenant in ("small", "mid"):  # within the cap: every call, exact percentiles
        assert rows[tenant]["percentile_calls"] == SIZES[tenant]
        assert rows[tenant]["latency_p95_ms"] == exact[tenant]["latency_p95_ms"]
    big = rows["big"]
    assert big["calls"] == 3000 and big["errors"] == exact["big"]["errors"]  # sums still see every call
    assert abs(big["percentile_calls"] - cap) < 4 * (cap * (1 - cap / 3000)) ** 0.5  # binomial spread
    assert big["latency_p50_ms"] == pytest.approx(exact["big"]["latency_p50_ms"], rel=0.1)
    assert big["latency_p50_ms"] != exact["big"]["latency_p50_ms"]  # it really was a sample


def test_summary_overall_row_past_budget(duck: DuckDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    duck.write(calls())
    exact = summary(duck, RANGE).dicts()[0]
    monkeypatch.setattr(percentiles, "PERCENTILE_BUDGET", 500)
    monkeypatch.setattr(percentiles, "PERCENTILE_FLOOR", 64)
    row = summary(duck, RANGE).dicts()[0]
    assert row["calls"] == exact["calls"] == sum(SIZES.values())
    assert 400 < row["percentile_calls"] < 600
    assert row["ttft_p95_ms"] == pytest.approx(exact["ttft_p95_ms"], rel=0.1)


def test_dashboard_series_and_comparison_past_budget(
    duck: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    duck.write(calls())
    exact = (
        overview_totals(duck, RANGE),
        timeseries(duck, RANGE, step_s=6 * 3600)[1],
        compare(duck, RANGE, "tenant", list(SIZES)),
    )
    monkeypatch.setattr(percentiles, "PERCENTILE_BUDGET", 1200)
    monkeypatch.setattr(percentiles, "PERCENTILE_FLOOR", 64)
    totals = overview_totals(duck, RANGE)
    assert totals["calls"] == exact[0]["calls"] and 1000 < totals["percentile_calls"] < 1400
    assert totals["latency_p50_ms"] == pytest.approx(exact[0]["latency_p50_ms"], rel=0.1)
    series = timeseries(duck, RANGE, step_s=6 * 3600)[1]
    assert (
        [b["bucket"] for b in series]
        == [b["bucket"] for b in exact[1]]
        == sorted(b["bucket"] for b in series)
    )
    assert [b["calls"] for b in series] == [b["calls"] for b in exact[1]]
    assert sum(b["percentile_calls"] for b in series) < 1400 < sum(b["calls"] for b in series)
    for got, want in zip(series, exact[1], strict=True):
        assert got["ttft_p50_ms"] == pytest.approx(want["ttft_p50_ms"], rel=0.15)
    compared = compare(duck, RANGE, "tenant", list(SIZES))
    assert [r["value"] for r in compared] == ["big", "mid", "small"]
    for got, want in zip(compared, exact[2], strict=True):
        assert got["calls"] == want["calls"] and got["error_rate"] == want["error_rate"]
        assert got["latency_p95_ms"] == pytest.approx(want["latency_p95_ms"], rel=0.1)
    assert compared[2]["percentile_calls"] == 40 and compared[0]["percentile_calls"] < 3000


def test_errors_count_every_error_row_whatever_its_class(store: Store) -> None:
    base: dict[str, Any] = {
        "kind": "llm",
        "name": "chat",
        "start_time": NOW - dt.timedelta(hours=1),
        "tenant": "t",
    }
    store.write(
        [
            Call(trace_id=f"{1:032x}", span_id=f"{1:016x}", status="error", error_class=None, **base),
            Call(trace_id=f"{1:032x}", span_id=f"{2:016x}", status="error", error_class="imported", **base),
            Call(trace_id=f"{1:032x}", span_id=f"{3:016x}", status="ok", cost_usd=0.5, **base),
        ]
    )
    row = summary(store, RANGE, ["tenant"]).dicts()[0]
    assert row["calls"] == 3 and row["errors"] == 2 and row["error_rate"] == pytest.approx(2 / 3)
    assert row["errors_other"] == 1 and row["unpriced_calls"] == 0
