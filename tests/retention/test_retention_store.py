"""Retention on both stores: exactly the expired days go, chargeback survives through the daily rollup, the
disk cap drops the oldest days first, and the work runs as tasks on the store's writer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import threading
from pathlib import Path

import pytest

from support import assert_weeks_sum_the_days
from tokentrail.analytics.chargeback import chargeback
from tokentrail.analytics.ranges import parse_period
from tokentrail.exceptions import BadRequest
from tokentrail.model import Call, StreamTimeline
from tokentrail.pricing import load_prices, price_call
from tokentrail.retention import Policy, apply_retention, oldest_kept
from tokentrail.retention.apply import backend_for
from tokentrail.retention.policy import first_kept_day
from tokentrail.store import Store, StoreError
from tokentrail.store.clickhouse import ChdbEngine, ClickHouseStore
from tokentrail.store.duckdb import DuckDBStore

NOW = dt.datetime(2026, 11, 21, 12, 0, 0)
US = dt.timedelta(microseconds=1)
MODELS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku-20241022")]


def call(i: int, start: dt.datetime, kind: str = "llm", **fields: object) -> Call:
    return Call(trace_id=f"{i:032x}", span_id=f"{i:016x}", kind=kind, start_time=start, **fields)  # type: ignore[arg-type]


def ids(store: Store, table: str = "spans") -> set[str]:
    return {row[0] for row in store.query(f"SELECT span_id FROM {table}").rows}


def metric(name: str, at: dt.datetime) -> tuple[object, ...]:
    return (name, "1", "gauge", at, None, 1.0, None, None, None, None, None, None, "svc", "{}", at)


def test_first_kept_day_is_midnight_n_days_before_today() -> None:
    assert first_kept_day(NOW, 3) == dt.datetime(2026, 11, 18)
    assert first_kept_day(dt.datetime(2026, 11, 21), 1) == dt.datetime(2026, 11, 20)


def test_exactly_the_expired_days_are_deleted(store: Store) -> None:
    boundary = first_kept_day(NOW, 3)  # 2026-11-18 00:00: every call before it is over 3 days old
    spans = [
        call(
            1, boundary - US, stream_timeline=StreamTimeline([0, 1], [5.0, 9.0])
        ),  # the last µs of an expired day
        call(2, boundary, stream_timeline=StreamTimeline([0], [7.0])),  # the first of a kept one
        call(3, boundary - dt.timedelta(days=5)),
        call(4, boundary - dt.timedelta(hours=12), kind="tool"),  # spans of any kind follow the calls
        call(5, NOW),
        call(6, boundary + dt.timedelta(hours=1), kind="agent"),
    ]
    store.write(spans)
    store.write_metrics([metric("old", boundary - US), metric("kept", boundary)])
    report = apply_retention(store, Policy(calls=3, metric_points=3), now=NOW)
    assert ids(store) == {f"{i:016x}" for i in (2, 5, 6)}
    assert [r[0] for r in store.query("SELECT name FROM metric_points").rows] == ["kept"]
    assert ids(store, "stream_timelines") == {f"{2:016x}"}  # a call's chunk arrivals go with it
    keys = {"span_keys": 3} if isinstance(store, DuckDBStore) else {}  # DuckDB's duplicate-check keys go too
    assert report.rows == {"spans": 3, "stream_timelines": 1, "metric_points": 1, **keys}
    assert report.days["spans"] == [dt.date(2026, 11, 13), dt.date(2026, 11, 17)]
    assert oldest_kept(store)["spans"] == boundary
    again = apply_retention(store, Policy(calls=3, metric_points=3), now=NOW)
    assert again.rows == {} and ids(store) == {f"{i:016x}" for i in (2, 5, 6)}


def test_tables_without_a_setting_keep_everything(store: Store) -> None:
    old = NOW - dt.timedelta(days=400)
    store.write([call(1, old)])
    store.write_metrics([metric("old", old)])
    apply_retention(store, Policy(metric_points=30), now=NOW)
    assert ids(store) == {f"{1:016x}"}
    assert store.query("SELECT count(*) FROM metric_points").rows == [(0,)]


def month_of_calls(n: int = 240, seed: int = 3) -> list[Call]:
    rng, prices, out = random.Random(seed), load_prices(None), []
    for i in range(n):
        provider, model = MODELS[i % 2]
        c = call(
            i + 1,
            dt.datetime(2026, 10, 1) + dt.timedelta(minutes=179 * i),  # Oct 1 .. Oct 30
            provider=provider,
            request_model=model,
            input_tokens=rng.randint(100, 5000),
            output_tokens=rng.randint(5, 800),
            tenant=f"tenant-{i % 5}",
            team=["search", "support"][i % 2],
            status="error" if i % 17 == 0 else "ok",
            duration_ms=100.0 + 37 * (i % 50),  # sketched in the rollups
        )
        price_call(c, prices)
        out.append(c)
    return out


def test_chargeback_of_deleted_days_is_unchanged(store: Store) -> None:
    store.write(month_of_calls())
    periods = [parse_period(p) for p in ("2026-10", "2026-10-03", "2026-10-20", "2026-11")]
    queries = [
        (p, by, f) for p in periods for by in ("tenant", "model", "team") for f in ({}, {"team": "search"})
    ]
    before = [chargeback(store, p, by, f) for p, by, f in queries]
    report = apply_retention(store, Policy(calls=10), now=dt.datetime(2026, 10, 25, 8))  # drops Oct 1 .. 14
    assert report.days["spans"][0] == dt.date(2026, 10, 1) and report.days["spans"][-1] == dt.date(
        2026, 10, 14
    )
    first_kept = min(c.start_time for c in month_of_calls() if c.start_time >= dt.datetime(2026, 10, 15))
    assert store.query("SELECT min(start_time) FROM calls").rows == [(first_kept,)]
    after = [chargeback(store, p, by, f) for p, by, f in queries]
    for old, new in zip(before, after, strict=True):
        assert dataclasses.asdict(new) == dataclasses.asdict(old)
    assert before[0].total["calls"] == 240 and before[0].total["cost_nusd"] > 0
    with pytest.raises(BadRequest, match="retention has deleted"):
        chargeback(store, periods[0], "tenant", {"status": "ok"})
    with pytest.raises(BadRequest, match="retention has deleted"):
        chargeback(store, periods[0], "user_id")  # the rollup does not keep users
    assert chargeback(store, periods[2], "tenant", {"status": "ok"}).total["calls"] > 0


def test_rollups_have_their_own_retention(store: Store) -> None:
    store.write(month_of_calls())
    apply_retention(store, Policy(calls=1), now=dt.datetime(2026, 11, 3))
    days = store.query("SELECT count(DISTINCT day) FROM daily_costs").rows[0][0]
    assert days == 30
    apply_retention(store, Policy(calls=1, rollups=20), now=dt.datetime(2026, 11, 3))
    kept = store.query("SELECT min(day), count(DISTINCT day) FROM daily_costs").rows[0]
    assert kept == (dt.datetime(2026, 10, 14), 17)
    rollups_of_long_ranges = {"call_rollups": "hour", "call_dim_hours": "hour", "call_sketches": "day"}
    kept_rows = 0
    for table, column in rollups_of_long_ranges.items():
        sql = f"SELECT count(*) FILTER (WHERE {column} < ?), count(*) FROM {table}"
        older, rows = store.query(sql, [dt.datetime(2026, 10, 14)]).rows[0]
        assert older == 0, table
        kept_rows += rows
    assert kept_rows > 0
    assert_weeks_sum_the_days(store)  # the week of Oct 12 lost its days before the 14th


def test_calls_deleted_before_they_were_rolled_up_stay_in_the_rollups(store: Store) -> None:
    """DuckDB holds new calls before rolling them up (store/duckdb.py); deleting them rolls them up first."""
    calls = month_of_calls()
    store.write(calls)
    apply_retention(store, Policy(calls=1), now=dt.datetime(2026, 11, 3))
    assert store.query("SELECT count(*) FROM spans").rows == [(0,)]
    rolled = store.query("SELECT sum(calls), sum(input_tokens) FROM call_rollups").rows[0]
    assert tuple(map(int, rolled)) == (len(calls), sum(c.input_tokens or 0 for c in calls))


def days_left(store: Store) -> list[dt.datetime]:
    return [
        r[0] for r in store.query("SELECT DISTINCT date_trunc('day', start_time) FROM spans ORDER BY 1").rows
    ]


def measured_size(store: Store) -> int:
    backend = backend_for(store)
    backend.reclaim()
    return backend.size_bytes()


def ten_days(store: Store, per_day: int) -> list[dt.datetime]:
    days = [first_kept_day(NOW, d) for d in range(9, -1, -1)]
    for k, day in enumerate(days):
        store.write(
            [call(k * per_day + i + 1, day + dt.timedelta(seconds=7 * i), tenant="x") for i in range(per_day)]
        )
    return days


def test_disk_cap_drops_the_oldest_days_first(store: Store) -> None:
    days = ten_days(store, 2000)
    size = measured_size(store)
    apply_retention(store, Policy(max_disk=size), now=NOW)
    assert days_left(store) == days  # at the cap, nothing goes
    report = apply_retention(store, Policy(max_disk=1), now=NOW)  # a tiny cap: everything but today
    assert days_left(store) == [days[-1]]
    assert report.cap_days == [d.date() for d in days[:-1]]
    assert store.query("SELECT sum(calls) FROM daily_costs").rows == [(18000,)]
    if store.dialect == "clickhouse":  # the mutations rewrote the parts
        assert report.size_after < report.size_before
        assert any("only today's data left" in note for note in report.notes)
    else:  # 20,000 rows share one row group: DuckDB frees no block until a whole row group is deleted
        assert any("not reclaimed yet" in note for note in report.notes)


def test_a_cap_between_sizes_keeps_the_newest_days(store: Store) -> None:
    days = ten_days(store, 2000)
    size = measured_size(store)
    report = apply_retention(store, Policy(max_disk=size * 6 // 10), now=NOW)
    left = days_left(store)
    assert left == days[len(days) - len(left) :]  # what is left is the newest days
    assert 1 <= len(report.cap_days) < 9
    assert report.cap_days == [d.date() for d in days[: len(report.cap_days)]]


def test_clickhouse_ttl_follows_the_policy_and_expires_rows(tmp_path: Path) -> None:
    with ClickHouseStore(ChdbEngine(f"{tmp_path}/ch")) as ch:
        today = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time())
        ch.write([call(1, today - dt.timedelta(days=30)), call(2, today)])
        report = apply_retention(ch, Policy(calls=7, metric_points=2), now=today - dt.timedelta(days=60))
        assert report.rows == {}  # nothing expired as of that `now`; the TTL is set all the same
        engines = dict(ch.query("SELECT name, engine_full FROM system.tables", dialect="clickhouse").rows)
        assert "TTL toDate(assumeNotNull(start_time)) + toIntervalDay(9)" in engines["spans"]
        assert "TTL toDate(assumeNotNull(time)) + toIntervalDay(3)" in engines["metric_points"]
        assert "TTL toDate(assumeNotNull(start_time)) + toIntervalDay(8)" in engines["stream_timelines"]
        assert "TTL toDate(assumeNotNull(time)) + toIntervalDay(8)" in engines["log_records"]  # as calls
        ch.run_task(lambda engine: engine.command("OPTIMIZE TABLE spans FINAL") or 0).result()
        assert ids(ch) == {f"{2:016x}"}  # ClickHouse's own merge expired the old row
        assert apply_retention(ch, Policy(calls=7, metric_points=2)).ttl == []  # in line: nothing to change
        cleared = apply_retention(ch, Policy())
        assert cleared.ttl == [
            "ALTER TABLE spans REMOVE TTL",
            "ALTER TABLE stream_timelines REMOVE TTL",
            "ALTER TABLE log_records REMOVE TTL",
            "ALTER TABLE metric_points REMOVE TTL",
        ]


def test_tasks_run_alone_on_the_writer_between_batches(store: Store) -> None:
    threads: list[str] = []

    def task(conn: object) -> int:
        threads.append(threading.current_thread().name)
        return 41

    store.write([call(1, NOW)])
    assert store.run_task(task).result() == 41
    assert threads and threads[0].startswith("tokentrail")
    with pytest.raises(ZeroDivisionError):
        store.run_task(lambda conn: 1 // 0).result()
    assert store.write([call(2, NOW)]) == 1  # the writer survived the failing task


def test_a_closed_store_refuses_tasks(store: Store) -> None:
    store.close()
    with pytest.raises(StoreError):
        store.run_task(lambda conn: 0)


def test_a_reopened_duckdb_store_reclaims_the_space_of_deleted_days(tmp_path: Path) -> None:
    path = tmp_path / "big.duckdb"
    with DuckDBStore(path) as duck:  # 300,000 spans over 30 days: a few row groups, oldest first
        duck.execute(
            "INSERT INTO spans (trace_id, span_id, kind, name, status, source, start_time) "
            "SELECT printf('%032x', i), printf('%016x', i), 'llm', 'c', 'ok', 'sdk', "
            "TIMESTAMP '2026-10-01' + to_microseconds(i * 8640000) FROM range(300000) r(i)"
        )
    with DuckDBStore(path) as duck:  # reopened: nothing left open may hold back the checkpoint
        before = measured_size(duck)
        report = apply_retention(duck, Policy(calls=10), now=dt.datetime(2026, 10, 31, 12))
        assert report.rows == {"spans": 200000}
        assert backend_for(duck).size_bytes() < before * 0.7
        assert duck.query("SELECT min(start_time) FROM spans").rows == [(dt.datetime(2026, 10, 21),)]


def test_a_stopped_run_ends_before_the_next_day(store: Store) -> None:
    store.write([call(1, NOW - dt.timedelta(days=9)), call(2, NOW)])
    stop = threading.Event()
    stop.set()  # as when serve shuts down during a run
    assert apply_retention(store, Policy(calls=1), now=NOW, stop=stop).rows == {}
    assert ids(store) == {f"{1:016x}", f"{2:016x}"}
    keys = {"span_keys": 1} if isinstance(store, DuckDBStore) else {}
    assert apply_retention(store, Policy(calls=1), now=NOW).rows == {"spans": 1, **keys}
