"""Rollups of long ranges (store/rollups.py, store/rollup_reads.py, analytics/long_ranges.py) on both stores:
maintained at ingest, exact against the raw calls after late, duplicate and repriced calls; every long view
reads them and agrees with the raw scan; percentiles from the sketches within 2 %; tenant-scoped reads see
their tenant only."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import itertools
import math
import random
import time
from typing import Any

import pytest

from support import assert_weeks_sum_the_days
from tokentrail import budgets
from tokentrail.analytics.chargeback import chargeback
from tokentrail.analytics.dashboard import breakdowns, overview_totals, timeseries
from tokentrail.analytics.ranges import TimeRange, parse_period
from tokentrail.analytics.summary import summary
from tokentrail.model import Call, ErrorClass
from tokentrail.store import Store, held, rollup_reads, rollups
from tokentrail.store import duckdb as duckdb_store
from tokentrail.store.scope import TenantStore

T0 = dt.datetime(2026, 11, 1, 0, 0, 0)
HOURS = 72


def random_calls(seed: int, n: int, start: dt.datetime = T0, hours: int = HOURS) -> list[Call]:
    """Calls spread over `hours`, with errors (some without a class), retries, nulls and several values of
    every rollup dimension."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        error, priced = rng.random() < 0.15, rng.random() < 0.8
        out.append(
            Call(
                trace_id=f"{seed:08x}{i:024x}",
                span_id=f"{i + 1:016x}",
                kind="llm",
                start_time=start + dt.timedelta(seconds=rng.uniform(0, hours * 3600)),
                provider=rng.choice(["openai", "anthropic", None]),
                request_model=rng.choice(["gpt-4o", "claude", "nova"]),
                response_model=rng.choice([None, "gpt-4o-2024"]),
                tenant=rng.choice(["acme", "globex", "initech", None]),
                feature=rng.choice(["chat", "search", "summary"]),
                team=rng.choice(["a", "b"]),
                app=rng.choice(["web", None]),
                prompt_version=rng.choice(["1", "2", None]),
                variant=rng.choice(["a", "b", None]),
                status="error" if error else "ok",
                error_class=rng.choice([None, *ErrorClass]) if error else None,
                attempts=rng.choice([None, 1, 2, 3]),
                input_tokens=rng.choice([None, rng.randrange(1, 5000)]),
                output_tokens=rng.randrange(0, 900),
                reasoning_tokens=rng.choice([None, rng.randrange(0, 100)]),
                cost_usd=rng.uniform(0, 0.05) if priced else None,
                input_cost_usd=rng.uniform(0, 0.02) if priced else None,
                duration_ms=rng.lognormvariate(7, 0.6),
                ttft_ms=rng.choice([None, rng.lognormvariate(5.5, 0.4)]),
                output_tokens_per_s=rng.uniform(0, 120),
                degraded=rng.choice([None, None, "fallback_model"]),
            )
        )
    return out


# Every figure from the raw calls, written by hand, independently of rollups.py.
RAW = (
    "count(*) AS calls, sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors, "
    "sum(CASE WHEN status = 'error' AND coalesce(error_class, 'other') = 'other' THEN 1 ELSE 0 END) "
    "AS other, "
    "sum(attempts) - count(attempts) AS retries, sum(input_tokens) AS input_tokens, "
    "sum(output_tokens) AS output_tokens, sum(reasoning_tokens) AS reasoning_tokens, "
    "sum(CAST(round(cost_usd * 1000000000) AS BIGINT)) AS cost_nusd, "
    "sum(CAST(round(input_cost_usd * 1000000000) AS BIGINT)) AS input_cost_nusd, "
    "count(cost_usd) AS priced, count(degraded) AS degraded_calls"
)
ROLLED = (
    "sum(calls) AS calls, sum(errors) AS errors, sum(errors_other) AS other, "
    "CASE WHEN sum(attempts_n) > 0 THEN sum(attempts) - sum(attempts_n) END AS retries, "
    + ", ".join(
        f"CASE WHEN sum({c}_n) > 0 THEN sum({c}) END AS {c}"
        for c in ("input_tokens", "output_tokens", "reasoning_tokens", "cost_nusd", "input_cost_nusd")
    )
    + ", sum(cost_nusd_n) AS priced, sum(degraded_calls) AS degraded_calls"
)


def _ints(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(None if x is None else int(x) for x in row)


def _by_hour(store: Store, sql: str, params: list[Any] | None = None) -> dict[Any, tuple[Any, ...]]:
    return {(r[0], r[1]): _ints(r[2:]) for r in store.query(sql, params or []).rows if r[2]}


def roll_up_waiting(store: Store) -> None:
    """Roll up the calls DuckDB holds, as its roller does once ROLLUP_BATCH spans were stored."""
    if isinstance(store, duckdb_store.DuckDBStore):
        store.roll_up_held()
    assert_nothing_waits(store)


def held_count(store: Store) -> int:
    return int(store.query(f"SELECT count(*) FROM {rollups.PENDING}").rows[0][0])


def wait_until_nothing_waits(store: Store, deadline_s: float = 20.0) -> None:
    """Poll (the roller works on its own thread) until no call is held."""
    end = time.monotonic() + deadline_s
    while held_count(store) and time.monotonic() < end:
        time.sleep(0.02)
    assert_nothing_waits(store)


def assert_nothing_waits(store: Store) -> None:
    if store.dialect == "duckdb":
        assert store.query(f"SELECT count(*) FROM {rollups.PENDING}").rows == [(0,)]


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB rolls up held calls every 250 here, so tests see calls both rolled up and waiting."""
    monkeypatch.setattr(held, "ROLLUP_BATCH", 250)


def assert_exact(store: Store) -> None:
    """call_rollups (per combination) and call_dim_hours (per dimension) equal the raw calls, hour by hour."""
    roll_up_waiting(store)
    for dim, expr in {"": "''", **rollups.DIMS}.items():
        raw = _by_hour(
            store, f"SELECT date_trunc('hour', start_time), {expr}, {RAW} FROM calls GROUP BY 1, 2"
        )
        column = dim or "''"
        tuples = f"SELECT hour, {column}, {ROLLED} FROM {rollups.TABLE} GROUP BY 1, 2"
        assert _by_hour(store, tuples) == raw, dim
        value = "CASE WHEN null_value THEN NULL ELSE value END" if dim else "''"
        per_dim = f"SELECT hour, {value}, {ROLLED} FROM {rollups.DIM_HOURS} WHERE dim = ? GROUP BY 1, 2"
        assert _by_hour(store, per_dim, [dim]) == raw, dim


def assert_sketches_count_every_value(store: Store) -> None:
    roll_up_waiting(store)
    for metric, column in rollups.SKETCHED.items():
        raw = store.query(
            f"SELECT date_trunc('day', start_time), tenant, count({column}) FROM calls GROUP BY 1, 2"
        ).rows
        sketched = store.query(
            f"SELECT day, CASE WHEN null_value THEN NULL ELSE value END, sum(n) FROM {rollups.SKETCHES} "
            "WHERE dim = 'tenant' AND metric = ? GROUP BY 1, 2",
            [metric],
        ).rows
        assert {(d, t): int(n) for d, t, n in sketched if n} == {(d, t): int(n) for d, t, n in raw if n}
    assert_weeks_sum_the_days(store)


def _repriced(calls: list[Call]) -> list[Call]:
    return [dataclasses.replace(c, cost_usd=(c.cost_usd or 0.001) * 3, input_cost_usd=None) for c in calls]


def test_rollups_equal_the_raw_calls_after_late_duplicate_and_repriced_calls(store: Store) -> None:
    calls = random_calls(1, 600)
    for i in range(0, 600, 100):
        assert store.write(calls[i : i + 100]) == 100
    assert store.write(calls[50:250]) == 0  # resent: nothing added
    late = random_calls(2, 80, start=T0 - dt.timedelta(days=20), hours=5)
    assert store.write([*late, *calls[:10]]) == 80  # old hours grow; the duplicates in the batch do not count
    store.replace(_repriced(calls[100:160]))
    assert_exact(store)
    assert_sketches_count_every_value(store)


@pytest.fixture
def filled(store: Store) -> Store:
    """1,500 calls; on DuckDB 1,400 rolled up and 100 waiting (reads add those in)."""
    calls = random_calls(3, 1500)
    for i in range(0, 1400, 350):
        store.write(calls[i : i + 350])
    roll_up_waiting(store)
    store.write(calls[1400:])  # 100 < 250 spans since the roll-up: held
    if store.dialect == "duckdb":
        assert held_count(store) == 100
    return store


def _raw(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every view scan the raw calls (as it does over 24 h or less)."""
    monkeypatch.setattr(rollup_reads, "MIN_RANGE", dt.timedelta(days=10_000))


def _sums_only(row: dict[str, Any]) -> dict[str, Any]:
    dropped = ("_ms", "tokens_per_s", "percentile", "_usd", "error_rate", "avg_prompt_chars")
    return {k: v for k, v in row.items() if not any(k.endswith(d) or k.startswith(d) for d in dropped)}


def _money(rows: list[dict[str, Any]]) -> list[Any]:
    """Costs: the rollups add integer nano-dollars, the raw scan floats: equal to a nano-dollar a call."""
    return [pytest.approx(r["cost_usd"], abs=1e-9 * r["calls"]) for r in rows]


RANGE = TimeRange(T0 + dt.timedelta(minutes=17), T0 + dt.timedelta(hours=HOURS - 2, minutes=41))


@pytest.mark.parametrize(
    ("by", "filters"),
    [
        ((), {}),
        (("tenant",), {}),
        (("feature",), {"feature": "chat"}),
        (("model", "team"), {"tenant": "acme"}),
    ],
)
def test_long_summaries_read_the_rollups_and_equal_the_raw_scan(
    filled: Store, monkeypatch: pytest.MonkeyPatch, by: tuple[str, ...], filters: dict[str, str]
) -> None:
    rolled = summary(filled, RANGE, by, filters).dicts()
    _raw(monkeypatch)
    raw = summary(filled, RANGE, by, filters).dicts()
    assert [_sums_only(r) for r in rolled] == [_sums_only(r) for r in raw]
    assert _money(rolled) == _money(raw)
    one_dim = len({*by, *filters}) <= 1
    assert {r["percentiles_from"] for r in rolled} == {"sketch" if one_dim else "exact"}
    assert {r["percentiles_from"] for r in raw} == {"exact"}


def test_overview_series_breakdowns_chargeback_and_budgets_equal_the_raw_scan(
    filled: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    month = parse_period("2026-11")
    budget = budgets.Budget("tenant", "acme", "month", 1.0)

    def views() -> list[Any]:
        overview = overview_totals(filled, RANGE)
        step, series = timeseries(filled, RANGE, step_s=3 * 3600)
        if RANGE.end - RANGE.start > rollup_reads.MIN_RANGE:
            assert [(r["bucket"], r["calls"]) for r in series] == _by_hour_start(filled, step)
        charged = chargeback(filled, month, "tenant")
        return [
            _sums_only(overview),
            round(overview["cost_usd"], 6),
            step,
            sum(r["calls"] for r in series),
            round(sum(r["cost_usd"] or 0 for r in series), 6),
            breakdowns(filled, RANGE, ["tenant", "feature", "model"], limit=3),
            [(r["tenant"], r["calls"], r["cost_nusd"], r["input_tokens"]) for r in charged.rows],
            charged.total["cost_nusd"],
            round(budgets.spent(filled, budget, month.start, T0 + dt.timedelta(hours=50)), 6),
        ]

    rolled = views()
    assert overview_totals(filled, RANGE)["percentiles_from"] == "sketch"
    _raw(monkeypatch)
    raw = views()
    for a, b in zip(rolled, raw, strict=True):
        if isinstance(a, dict) and "tenant" in a:  # breakdowns: floats summed in another order
            a, b = (
                {d: [{**r, "cost_usd": round(r["cost_usd"], 6)} for r in v] for d, v in x.items()}
                for x in (a, b)
            )
        assert a == b


def _by_hour_start(store: Store, step: int) -> list[tuple[int, int]]:
    """Calls per bucket of the rollup series: an hour's calls fall in the bucket where the hour (or the range)
    starts."""
    start = "greatest(date_trunc('hour', start_time), ?)"
    sql = (
        f"SELECT date_diff('second', ?, {start}) // ? AS b, count(*) FROM calls "
        "WHERE start_time >= ? AND start_time < ? GROUP BY 1 ORDER BY 1"
    )
    rows = store.query(sql, [RANGE.start, RANGE.start, step, RANGE.start, RANGE.end]).rows
    return [(int(b), int(n)) for b, n in rows]


def _exact(store: Store, by: str | None, column: str, q: float) -> dict[Any, float]:
    group = f"{by}, " if by else ""
    sql = (
        f"SELECT {group}quantile_cont({column}, {q}) FROM calls WHERE start_time >= ? AND start_time < ?"
        + (f" GROUP BY {by}" if by else "")
    )
    return {
        (r[0] if by else None): r[-1] for r in store.query(sql, [T0, T0 + dt.timedelta(hours=HOURS)]).rows
    }


@pytest.mark.parametrize("by", [None, "tenant"])
def test_sketch_percentiles_are_within_two_percent_of_exact(duck: Store, by: str | None) -> None:
    duck.write(random_calls(4, 4000))
    days = TimeRange(T0, T0 + dt.timedelta(hours=HOURS))  # whole days: the sketches cover exactly the range
    rows = summary(duck, days, [by] if by else []).dicts()
    for alias, q, column in (
        ("latency_p50_ms", 0.5, "duration_ms"),
        ("latency_p95_ms", 0.95, "duration_ms"),
        ("ttft_p50_ms", 0.5, "ttft_ms"),
    ):
        exact = _exact(duck, by, column, q)
        for row in rows:
            truth = exact[row[by] if by else None]
            assert abs(row[alias] - truth) / truth < 0.02, (alias, row.get(by))
    assert {r["percentiles_from"] for r in rows} == {"sketch"}


def _from_sketch_rows(store: Store, days: tuple[dt.datetime, dt.datetime]) -> dict[Any, dict[str, Any]]:
    """tenant -> metric -> (count, the value at each of rollup_reads.QUANTILES), merged here in Python from
    the stored sketch rows of `days` (quantile_cont's ranks, read from their buckets)."""
    counts: dict[Any, dict[str, dict[int, int]]] = {}
    for (day, dim, value, null, metric, bucket), n in _sketch_rows(store).items():
        if dim != "tenant" or not days[0] <= day < days[1]:
            continue
        per_bucket = counts.setdefault(None if null else value, {}).setdefault(metric, {})
        per_bucket[bucket] = per_bucket.get(bucket, 0) + n
    return {
        tenant: {metric: _quantiles_of(buckets) for metric, buckets in metrics.items()}
        for tenant, metrics in counts.items()
    }


def _quantiles_of(buckets: dict[int, int]) -> tuple[int, list[float | None]]:
    total, out = sum(buckets.values()), []
    for q in rollup_reads.QUANTILES:
        rank = q * (total - 1)
        ranks = [math.floor(rank), math.ceil(rank)]
        lo, hi = (next(b for b, cum in _running(buckets) if cum > r) for r in ranks)
        out.append(rollups.interpolate(lo, hi, rank - ranks[0]))
    return total, out


def _running(buckets: dict[int, int]) -> list[tuple[int, int]]:
    return list(zip(sorted(buckets), itertools.accumulate(buckets[b] for b in sorted(buckets)), strict=True))


def test_sketch_percentiles_equal_the_merged_sketch_with_calls_held_and_without(filled: Store) -> None:
    """The read's SQL (held calls' sketches merged apart, then none held: not read) gives the answer of the
    stored sketch rows merged by hand."""
    metrics = list(rollups.SKETCHED)
    days = rollup_reads.touched_days(RANGE.start, RANGE.end)
    with_held = rollup_reads.percentiles(filled, RANGE.start, RANGE.end, ["tenant"], None, metrics)
    roll_up_waiting(filled)
    expected = _from_sketch_rows(filled, days)
    none_held = rollup_reads.percentiles(filled, RANGE.start, RANGE.end, ["tenant"], None, metrics)
    assert with_held == none_held
    assert none_held == {(tenant,): found for tenant, found in expected.items()}
    two = rollup_reads.percentiles(filled, RANGE.start, RANGE.end, ["tenant"], None, ["ttft", "latency"])
    assert two == {k: {m: v[m] for m in ("ttft", "latency")} for k, v in none_held.items()}


def test_long_views_read_their_weeks_from_the_weekly_sketches(store: Store) -> None:
    """Over 20 days, a view's weeks come from the sketches per week, the days of them outside the view taken
    out again and the other days from the daily ones: the same answer as every daily row of the view merged
    by hand; with the daily rows of the view's days in those weeks deleted the answer stays (DuckDB: it read
    the weeks, less Monday Nov 2), while ClickHouse reads the days (it keeps no weeks)."""
    store.write(random_calls(13, 1200, start=T0, hours=20 * 24))
    roll_up_waiting(store)
    view = TimeRange(T0 + dt.timedelta(hours=54), T0 + dt.timedelta(days=19, hours=5))  # Tuesday to Friday
    days = rollup_reads.touched_days(view.start, view.end)
    weeks = rollup_reads.weeks_to_read(*days, dt.datetime.max)
    assert weeks == (dt.datetime(2026, 11, 2), dt.datetime(2026, 11, 23))  # T0 is a Sunday
    metrics = list(rollups.SKETCHED)
    found = rollup_reads.percentiles(store, view.start, view.end, ["tenant"], None, metrics)
    assert found == {(tenant,): merged for tenant, merged in _from_sketch_rows(store, days).items()}
    scoped = rollup_reads.percentiles(
        TenantStore(store, ["acme"]), view.start, view.end, ["tenant"], None, metrics
    )
    assert scoped == {("acme",): found[("acme",)]}  # what is sealed is read through the scope too
    store.execute(f"DELETE FROM {rollups.SKETCHES} WHERE day >= ? AND day < ?", list(days))
    again = rollup_reads.percentiles(store, view.start, view.end, ["tenant"], None, metrics)
    assert (again == found) == (store.dialect == "duckdb")


@pytest.mark.parametrize(
    ("first", "end", "sealed", "weeks"),
    [
        (3, 21, 99, (2, 23)),  # six of Nov 2's week's days, five of Nov 16's: both read as weeks
        (7, 21, 99, (9, 23)),  # two of Nov 2's week's seven: read daily
        (3, 21, 18, (2, 23)),  # Nov 16's week holds its two sealed days, both in the view
        (3, 21, 17, (2, 16)),  # ... and one: read daily
        (4, 6, 99, None),  # two days of one week
        (2, 30, 2, None),  # nothing sealed yet
    ],
)
def test_a_view_reads_a_week_when_that_reads_fewer_rows(
    first: int, end: int, sealed: int, weeks: tuple[int, int] | None
) -> None:
    def day(n: int) -> dt.datetime:
        return dt.datetime(2026, 11, 1) + dt.timedelta(days=n - 1)

    found = rollup_reads.weeks_to_read(day(first), day(end), day(sealed))
    assert found == (None if weeks is None else (day(weeks[0]), day(weeks[1])))


def test_a_day_is_added_to_its_weeks_sketches_once_it_is_sealed(
    duck: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before its day is sealed a call's sketch goes to its day only, and views read those days; sealing
    the days that ended (as the first roll-up of a day does) adds them to their weeks once; later calls of
    sealed days are added to both. The roll-ups here run on Monday Nov 2, so the days to Nov 1 are over."""
    monkeypatch.setattr(held, "utcnow", lambda: T0 + dt.timedelta(days=1, hours=3))
    duck.execute(f"DELETE FROM {rollups.WEEKS}")
    duck.execute(f"UPDATE {rollups.MARK} SET sealed = ?", [T0 - dt.timedelta(days=6)])  # from Oct 26
    calls = random_calls(14, 1500, start=T0, hours=20 * 24)
    duck.write(calls[:1200])
    roll_up_waiting(duck)
    view = TimeRange(T0 + dt.timedelta(hours=54), T0 + dt.timedelta(days=19, hours=5))
    days, metrics = rollup_reads.touched_days(view.start, view.end), list(rollups.SKETCHED)

    def read() -> Any:
        found = rollup_reads.percentiles(duck, view.start, view.end, ["tenant"], None, metrics)
        assert found == {(t,): merged for t, merged in _from_sketch_rows(duck, days).items()}
        return found

    read()
    assert duck.query(f"SELECT DISTINCT week, sealed FROM {rollups.WEEKS}, {rollups.MARK}").rows == [
        (T0 - dt.timedelta(days=6), T0 + dt.timedelta(days=1))
    ]
    with duck._root.cursor() as con:  # type: ignore[attr-defined]
        con.execute("BEGIN")
        held.seal_days(con, dt.datetime(2026, 11, 19, 9))  # the days to Nov 18 are over
        con.execute("COMMIT")
    assert duck.query(f"SELECT sealed FROM {rollups.MARK}").rows == [(dt.datetime(2026, 11, 19),)]
    assert_weeks_sum_the_days(duck)
    read()
    stale = rollup_reads._held_and_sealed(duck, None)[0], dt.datetime(2026, 11, 18)
    monkeypatch.setattr(rollup_reads, "_held_and_sealed", lambda store, timeout_s: stale)
    read()  # Nov 18 sealed between the mark's read and the merge: read again, not counted twice
    monkeypatch.undo()
    monkeypatch.setattr(held, "utcnow", lambda: T0 + dt.timedelta(days=1, hours=3))
    duck.write(calls[1200:])  # late calls of sealed days and of days not sealed yet
    roll_up_waiting(duck)
    assert_weeks_sum_the_days(duck)
    read()


def test_tenant_scoped_long_views_see_their_tenant_only(
    filled: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    scoped = TenantStore(filled, ["acme"])
    by_feature = summary(scoped, RANGE, ["feature"]).dicts()
    total = overview_totals(scoped, RANGE)
    assert {r["tenant"] for r in summary(scoped, RANGE, ["tenant"]).dicts()} == {"acme"}
    assert total["percentiles_from"] == "sketch"  # its tenants' sketches, merged
    rows = scoped.query(f"SELECT DISTINCT dim, value FROM {rollups.DIM_HOURS}").rows
    assert set(rows) == {("tenant", "acme")}
    _raw(monkeypatch)
    acme = {"tenant": "acme"}
    assert [_sums_only(r) for r in by_feature] == [
        _sums_only(r) for r in summary(filled, RANGE, ["feature"], acme).dicts()
    ]
    assert _sums_only(total) == _sums_only(overview_totals(filled, RANGE, acme))


def test_duckdb_holds_new_calls_until_a_batch_of_them_is_rolled_up(duck: Store) -> None:
    calls = random_calls(6, 400)
    duck.write(calls[:200])
    assert held_count(duck) == 200
    assert duck.query(f"SELECT count(*) FROM {rollups.TABLE}").rows == [(0,)]
    duck.write(calls[200:300])  # 300 >= 250 spans since the last roll-up: the roller wakes
    wait_until_nothing_waits(duck)
    assert duck.query(f"SELECT sum(calls) FROM {rollups.TABLE}").rows == [(300,)]
    duck.write(calls[300:])
    duck.replace(_repriced(calls[250:350]))  # a reprice rolls up what waits first, then swaps versions
    assert_nothing_waits(duck)
    assert_exact(duck)


def test_the_roller_rolls_up_held_calls_every_interval(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(held, "ROLLUP_EVERY_S", 0.05)
    with duckdb_store.DuckDBStore(tmp_path / "t.duckdb") as duck:
        duck.write(random_calls(9, 20))  # far fewer than ROLLUP_BATCH
        wait_until_nothing_waits(duck)
        assert_exact(duck)


def test_rolling_up_while_groups_commit_counts_every_call_once(
    duck: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The roller's transactions run beside the writer's: no call is rolled up twice or missed."""
    monkeypatch.setattr(held, "ROLLUP_BATCH", 30)
    calls = random_calls(10, 1200)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # many small groups, the roller waking often
        assert sum(pool.map(duck.write, [calls[i : i + 10] for i in range(0, 1200, 10)])) == 1200
    assert_exact(duck)


def _sketch_rows(store: Store) -> dict[tuple[Any, ...], int]:
    """The stored sketches: key (`rollups.SKETCH_KEY`) -> count, keys of count 0 left out."""
    keys = ", ".join(rollups.SKETCH_KEY)
    rows = store.query(f"SELECT {keys}, sum(n) AS total FROM {rollups.SKETCHES} GROUP BY {keys}").rows
    return {tuple(r[:-1]): int(r[-1]) for r in rows if r[-1]}


def test_migration_15_puts_sketches_of_the_old_gamma_in_the_buckets_ingest_writes_now(store: Store) -> None:
    """A store at schema 14 holds sketches in buckets of GAMMA 1.02; migration 15 re-buckets them into those
    of GAMMA 1.02 squared: the rows then equal the ones ingest writes for the same calls (so percentiles are
    as fresh sketches give them, within 2 %: test_sketch_percentiles_are_within_two_percent_of_exact), and
    the sums are untouched."""
    store.write(random_calls(11, 800))
    roll_up_waiting(store)
    ingested, version = _sketch_rows(store), store.schema_version  # type: ignore[attr-defined]
    store.execute(f"TRUNCATE TABLE {rollups.SKETCHES}")  # as schema 14 wrote them
    old = rollups.sketches_select("spans", "kind = 'llm'", gamma=rollups.GAMMA_V13)
    store.execute(f"INSERT INTO {rollups.SKETCHES} {old}")
    before = _sketch_rows(store)
    assert len(before) > len(ingested)  # finer buckets
    assert sum(before.values()) == sum(ingested.values())
    store.execute("DELETE FROM schema_migrations WHERE version >= 15")
    store._migrate()  # type: ignore[attr-defined]
    assert store.schema_version == version  # type: ignore[attr-defined]
    assert _sketch_rows(store) == ingested
    assert_exact(store)


def test_a_file_opened_read_only_before_migration_15_is_scanned(tmp_path: Any) -> None:
    """Its sketches would be in the buckets of GAMMA 1.02, which reads no longer know: views scan calls."""
    path = tmp_path / "old.duckdb"
    with duckdb_store.DuckDBStore(path) as duck:
        duck.write(random_calls(12, 300))
        duck.execute("DELETE FROM schema_migrations WHERE version >= 15")
    with duckdb_store.DuckDBStore(path, read_only=True) as old:
        assert not old.has_rollups
        assert {r["percentiles_from"] for r in summary(old, RANGE, ["tenant"]).dicts()} == {"exact"}


def test_the_migration_backfills_the_rollups_of_stored_calls(duck: Store) -> None:
    duck.write(random_calls(5, 300))
    roll_up_waiting(duck)
    ingested = _sketch_rows(duck)
    for table in rollups.TABLES:
        duck.execute(f"DELETE FROM {table}")
    duck.execute(f"DROP TABLE {rollups.TABLE}")
    duck.execute(f"DROP TABLE {rollups.DIM_HOURS}")
    duck.execute(f"DROP TABLE {rollups.SKETCHES}")
    duck.execute(f"DROP VIEW {rollups.PENDING}")  # as before migration 13: the calls are stored, not held
    duck.execute(f"DROP TABLE {rollups.MARK}")
    duck.execute("DELETE FROM schema_migrations WHERE version >= 13")
    duck._migrate()  # type: ignore[attr-defined]
    assert_exact(duck)
    assert_sketches_count_every_value(duck)
    assert _sketch_rows(duck) == ingested  # 13 backfilled in the buckets of GAMMA 1.02, 15 re-bucketed them


def test_duckdb_holds_the_calls_stored_after_its_mark_across_a_restart(tmp_path: Any) -> None:
    """Held calls are those whose writer stamp (received_at) is after the mark; every group's stamp is later
    than the last, also after a restart, so none is skipped or rolled up twice."""
    path, calls = tmp_path / "held.duckdb", random_calls(8, 500)
    with duckdb_store.DuckDBStore(path) as duck:
        duck.write(calls[:100])
        duck.write(calls[100:200])
        stamps = duck.query("SELECT DISTINCT received_at FROM spans ORDER BY 1").rows
        assert len(stamps) == 2
        assert held_count(duck) == 200
    with duckdb_store.DuckDBStore(path) as duck:
        duck.write(calls[200:300])
        third = duck.query("SELECT max(received_at) FROM spans").rows[0][0]
        assert third > stamps[-1][0]
        assert duck.roll_up_held() == 300
        assert duck.query(f"SELECT mark FROM {rollups.MARK}").rows == [(third,)]
        duck.write(calls[300:500])
        assert held_count(duck) == 200
        assert_exact(duck)
