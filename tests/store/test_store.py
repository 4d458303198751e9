"""Both stores: schema, idempotent writes, concurrency, errors; and the DuckDB store's own limits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from pathlib import Path

import pytest

from tokentrail.analytics.calls import stream_timelines
from tokentrail.model import COLUMN_NAMES, TIMELINE_COLUMNS, Call, StreamTimeline
from tokentrail.store import QueryFailed, QueryTimeout, Store, StoreBusy, open_store, rollups
from tokentrail.store import clickhouse as clickhouse_store
from tokentrail.store import duckdb as duckdb_store
from tokentrail.store.arrow import calls_to_arrow
from tokentrail.store.clickhouse import ChdbEngine, ClickHouseStore
from tokentrail.store.clickhouse_schema import Layout
from tokentrail.store.duckdb import DuckDBStore
from tokentrail.store.schema import ALERT_TABLES, span_key, span_key_values
from tokentrail.store.writer import Job

T0 = dt.datetime(2026, 11, 21, 12, 0, 0)


def calls(n: int, offset: int = 0, **fields: object) -> list[Call]:
    return [
        Call(
            trace_id=f"{i + offset:032x}",
            span_id=f"{i + offset + 1:016x}",
            kind="llm",
            start_time=T0 + dt.timedelta(seconds=i),
            input_tokens=10,
            metadata={"k": "v"},
            tool_names=["a"],
            attributes={"x": 1},
            **fields,
        )  # type: ignore[arg-type]
        for i in range(n)
    ]


def test_schema_matches_the_call_record(store: Store) -> None:
    result = store.query("SELECT * FROM spans LIMIT 0")
    assert tuple(result.columns) == COLUMN_NAMES
    # DuckDB 10: experiment members, 11: log records, 12: alert tables, 13: rollups of long ranges, 14: held
    # calls as a view, 15: sketches re-bucketed, 16: sketches per week, 17: call_rollups unkeyed;
    # ClickHouse 10: calls_hourly, 11: members, 12: log records, 13: alerts, 14: rollups, 15: sketches
    # re-bucketed
    assert store.schema_version == {"duckdb": 19, "clickhouse": 15}[store.dialect]
    timelines = store.query("SELECT * FROM stream_timelines LIMIT 0")
    assert tuple(timelines.columns) == tuple(name for name, _, _ in TIMELINE_COLUMNS)
    assert "stream_timeline" not in store.query("SELECT * FROM calls LIMIT 0").columns


def test_migrations_are_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "m.duckdb"
    DuckDBStore(path).close()
    with DuckDBStore(path) as again:
        assert again.query("SELECT count(*) FROM schema_migrations").rows == [(19,)]


def test_the_file_is_checkpointed_at_64_mb_of_wal_not_16(tmp_path: Path) -> None:
    """Fewer rewrites of the row group being filled (store/duckdb.py::CHECKPOINT_THRESHOLD), for the writer
    and for readers, and SQL cannot change it."""
    path = tmp_path / "c.duckdb"
    mib = "61.0 MiB"  # 64 MB
    with DuckDBStore(path) as store:
        assert store.query("SELECT current_setting('checkpoint_threshold')").rows == [(mib,)]
        with pytest.raises(QueryFailed, match="configuration has been locked"):
            store.query("SET checkpoint_threshold = '1GB'")
    with DuckDBStore(path, read_only=True) as reader:
        assert reader.query("SELECT current_setting('checkpoint_threshold')").rows == [(mib,)]


def _open(backend: str, path: Path) -> Store:
    if backend == "duckdb":
        return DuckDBStore(path / "up.duckdb")
    return ClickHouseStore(ChdbEngine(str(path / "chdb")))


@pytest.mark.parametrize("backend", ["duckdb", "chdb"])
def test_upgrade_to_4_adds_source_record_and_names_bedrock_operations(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store made at version 3 (Bedrock rows with operation 'chat') opens at version 4 with the same
    columns as a fresh one, imported Bedrock rows named by their API operation, other rows unchanged."""
    insert = (
        "INSERT INTO spans (trace_id, span_id, name, kind, status, source, start_time, provider, operation, "
        "metadata, attributes) VALUES (?, ?, '', 'llm', 'ok', ?, ?, ?, 'chat', '{}', ?)"
    )
    old = [
        ("a" * 32, "a" * 16, "bedrock-log", "aws.bedrock", '{"aws.bedrock.operation": "ConverseStream"}'),
        ("b" * 32, "b" * 16, "otlp", "openai", "{}"),
    ]
    duck_three, clickhouse_three = (
        duckdb_store.duckdb_migrations()[:3],
        clickhouse_store.migrations(Layout())[:3],
    )
    with monkeypatch.context() as patch:
        patch.setattr(duckdb_store, "duckdb_migrations", lambda: duck_three)
        patch.setattr(clickhouse_store, "migrations", lambda layout: clickhouse_three)
        with _open(backend, tmp_path) as before:
            for trace_id, span_id, source, provider, attributes in old:
                before.execute(insert, [trace_id, span_id, source, T0, provider, attributes])
            assert "source_record" not in before.query("SELECT * FROM spans LIMIT 0").columns
    with _open(backend, tmp_path) as after:
        assert after.schema_version == {"duckdb": 19, "chdb": 15}[backend]
        assert tuple(after.query("SELECT * FROM calls LIMIT 0").columns) == COLUMN_NAMES
        rows = after.query("SELECT provider, operation, source_record FROM calls ORDER BY provider").rows
        assert rows == [("aws.bedrock", "ConverseStream", None), ("openai", "chat", None)]


def test_write_is_idempotent_on_ids(store: Store) -> None:
    batch = calls(50)
    assert store.write(batch) == 50
    assert store.write(batch) == 0
    assert store.write(batch[:10] + calls(5, offset=1000)) == 5
    assert store.query("SELECT count(*) FROM spans").rows == [(55,)]


def test_duplicates_inside_one_batch_are_stored_once(store: Store) -> None:
    batch = calls(3)
    assert store.write(batch + batch) == 3


def test_round_trip_of_json_lists_and_times(store: Store) -> None:
    store.write(calls(1, cost_usd=0.5))
    row = store.query("SELECT * FROM spans").dicts()[0]
    back = Call.from_mapping(row)
    assert back.start_time == T0 and back.tool_names == ["a"]
    assert row["metadata"] == '{"k":"v"}' and row["cost_usd"] == 0.5


def test_timelines_are_stored_apart_once_and_survive_a_replace(store: Store) -> None:
    timeline = StreamTimeline([0, 1, 2, 40, 41, 299], [310.5, 312.25, 330.0, 900.125, 1900.0, 2500.75])
    batch = [*calls(2), *calls(1, offset=5, stream=True, stream_timeline=timeline)]
    assert store.write(batch) == 3
    assert store.write(batch) == 0  # a resent batch adds no span and no timeline
    streamed = batch[2]
    assert stream_timelines(store, streamed.trace_id) == {streamed.span_id: timeline}
    assert store.query("SELECT count(*) FROM stream_timelines").rows == [(1,)]
    streamed.stream_timeline, streamed.cost_usd = None, 1.5  # as reprice reads it back: no timeline
    assert store.replace([streamed]) == 1
    assert stream_timelines(store, streamed.trace_id, streamed.span_id) == {streamed.span_id: timeline}
    assert store.query("SELECT cost_usd FROM spans WHERE span_id = ?", [streamed.span_id]).rows == [(1.5,)]


def test_calls_view_holds_llm_spans_only(store: Store) -> None:
    store.write([*calls(2), Call(trace_id="f" * 32, span_id="e" * 16, kind="tool", start_time=T0)])
    assert store.query("SELECT count(*) FROM calls").rows == [(2,)]
    assert store.query("SELECT count(*) FROM spans").rows == [(3,)]


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    threads = [threading.Thread(target=store.write, args=(calls(200, offset=k * 1000),)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.query("SELECT count(*) FROM spans").rows == [(1600,)]


def test_a_bad_query_is_a_clear_error_and_the_store_keeps_working(store: Store) -> None:
    store.write(calls(3))
    with pytest.raises(QueryFailed, match="no_such_table"):
        store.query("SELECT * FROM no_such_table")
    assert store.query("SELECT count(*) FROM spans").rows == [(3,)]


def test_query_time_limit(duck: DuckDBStore) -> None:
    with pytest.raises(QueryTimeout):
        duck.query("SELECT count(*) FROM range(100000000000) a", timeout_s=0.2)


def test_full_queue_sheds_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with DuckDBStore(tmp_path / "q.duckdb", max_pending=1) as small:
        gate, entered = threading.Event(), threading.Event()
        real_commit = small._commit

        def slow_commit(con: object, jobs: list[object]) -> list[int]:  # a disk that stalls
            entered.set()
            gate.wait(10)
            return real_commit(con, jobs)  # type: ignore[arg-type]

        monkeypatch.setattr(small, "_commit", slow_commit)
        first = small.submit(calls(1))
        assert entered.wait(10)
        second = small.submit(calls(1, offset=10))
        with pytest.raises(StoreBusy):
            small.submit(calls(1, offset=20))
        gate.set()
        assert first.result(10) == 1 and second.result(10) == 1


def test_open_store_by_url(tmp_path: Path) -> None:
    s = open_store(f"duckdb:///{tmp_path}/u.duckdb")
    try:
        assert s.dialect == "duckdb"
    finally:
        s.close()
    assert (tmp_path / "u.duckdb").exists()


def test_a_long_span_and_its_resend_across_windows(store: Store) -> None:
    """A batch of recent spans plus an hour-old root span; resending it stores nothing new."""
    recent = calls(20, offset=500)
    root = Call(trace_id="d" * 32, span_id="e" * 16, kind="agent", start_time=T0 - dt.timedelta(hours=1))
    assert store.write([*recent, root]) == 21
    assert store.write([root, *recent[:3]]) == 0
    assert store.query("SELECT count(*) FROM spans").rows == [(21,)]


def test_same_ids_with_another_start_time_are_stored_once(store: Store) -> None:
    """(trace_id, span_id) is unique in the store whatever the start time of the resent span."""
    first = calls(3)
    assert store.write(first) == 3
    moved = [dataclasses.replace(c, start_time=c.start_time + dt.timedelta(days=40)) for c in first]
    assert store.write([*moved, *calls(2, offset=900)]) == 2
    rows = store.query("SELECT trace_id, span_id, start_time FROM spans ORDER BY trace_id").rows
    assert len(rows) == 5 and [r[2] for r in rows[:3]] == [c.start_time for c in first]


def test_ids_stored_before_the_key_table_existed_are_known(tmp_path: Path) -> None:
    """Migration 6 fills span_keys from the stored spans, so resends of old spans add nothing."""
    path = tmp_path / "old.duckdb"
    with DuckDBStore(path) as s:
        s.write(calls(4))
        s.execute("DELETE FROM span_keys")
        s.execute("DELETE FROM schema_migrations WHERE version >= 6")  # back to before span_keys
        s.execute(f"DROP VIEW {rollups.PENDING}")
        for table in (
            "span_keys",
            "samples",
            "auth_keys",
            "auth_secret",
            "prompt_events",
            "log_records",
            *(a[0] for a in ALERT_TABLES),
            *rollups.TABLES,
            rollups.MARK,
        ):
            s.execute(f"DROP TABLE {table}")  # every later migration re-runs on a clean slate
        s.execute("ALTER TABLE spans DROP COLUMN prompt_content_id")
    with DuckDBStore(path) as again:
        moved = [dataclasses.replace(c, start_time=T0 - dt.timedelta(days=3)) for c in calls(4)]
        assert again.write(moved) == 0
        assert again.query("SELECT count(*) FROM span_keys").rows == [(4,)]


def test_a_batch_larger_than_one_id_lookup_is_deduplicated(store: Store) -> None:
    """ClickHouse looks stored ids up a few thousand traces at a time (a query's text is capped)."""
    big = calls(9_000)
    assert store.write(big) == 9_000
    assert store.write(big[::2]) == 0
    assert store.query("SELECT count(*) FROM spans").rows == [(9_000,)]


def test_span_keys_computed_in_python_match_duckdbs(duck: DuckDBStore) -> None:
    ids = [(f"{i:032x}", f"{i * 7 + 1:016x}") for i in (1, 2**100, 3**70)]
    expected = span_key_values([t for t, _ in ids], [s for _, s in ids])
    for (trace_id, span_id), key in zip(ids, expected, strict=True):
        sql = f"SELECT {span_key()} FROM (SELECT ? AS trace_id, ? AS span_id)"
        assert duck.query(sql, [trace_id, span_id]).rows == [(key,)]


@pytest.mark.parametrize("count", [3, duckdb_store.PARAMETER_KEYS + 1])
def test_claimed_keys_carry_each_spans_start_time(duck: DuckDBStore, count: int) -> None:
    """A few keys go to DuckDB as list parameters, many as an Arrow table: both store the same rows."""
    batch = [
        dataclasses.replace(c, start_time=T0 + dt.timedelta(seconds=i)) for i, c in enumerate(calls(count))
    ]
    assert duck.write(batch) == count
    assert duck.write(batch[:2]) == 0
    keys = span_key_values([c.trace_id for c in batch], [c.span_id for c in batch])
    stored = dict(duck.query("SELECT k, start_time FROM span_keys").rows)
    assert stored == {key: c.start_time for key, c in zip(keys, batch, strict=True)}


def test_one_transaction_stores_a_group_and_credits_a_repeat_to_its_first_request(duck: DuckDBStore) -> None:
    """Jobs committed together share one insert; a span in two of them is stored once, counted once."""
    first, second, third = calls(3), calls(3, offset=2), calls(2, offset=10)
    jobs = [Job("spans", calls_to_arrow(batch)) for batch in (first, second, third)]
    con = duck._root.cursor()
    assert duck._commit(con, jobs) == [3, 2, 2]
    assert duck._commit(con, jobs[:1]) == [0]
    assert duck.query("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").rows == [(7, 7)]
    assert duck.query("SELECT count(*) FROM span_keys").rows == [(7,)]


@pytest.mark.parametrize("count", [3, duckdb_store.PARAMETER_KEYS + 1])
def test_a_span_twice_in_one_batch_is_stored_once_with_the_rest(duck: DuckDBStore, count: int) -> None:
    """A repeat inside one batch is a conflict of the plain key insert, small batch or large; the claim
    one by one then stores each span once."""
    batch = calls(count)
    assert duck.write([*batch, batch[1]]) == count
    stored = duck.query("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").rows
    assert stored == [(count, count)]
    assert duck.query("SELECT count(*) FROM span_keys").rows == [(count,)]
