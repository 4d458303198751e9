"""The ClickHouse DDL: one function for the store and `tokentrail clickhouse schema`; the hourly rollup view
checked on chDB against the raw calls; the cluster DDL parsed by ClickHouse's own parser (chDB has no
Keeper and no cluster, so it cannot run it, which is tested too)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tokentrail.cli import app
from tokentrail.model import Call
from tokentrail.store import StoreError
from tokentrail.store.clickhouse import ChdbEngine, ClickHouseStore, layout_for
from tokentrail.store.clickhouse_schema import QUANTILES, Layout, retention_days, schema_sql

T0 = dt.datetime(2026, 11, 21, 9, 0, 0)
LABELS = [
    ("openai", "gpt-4o", "search"),
    ("anthropic", "claude-sonnet-4-5", "chat"),
    ("openai", "o3", "chat"),
]


@pytest.fixture
def ch(tmp_path: Path) -> Iterator[ClickHouseStore]:
    with ClickHouseStore(ChdbEngine(str(tmp_path / "chdb"))) as store:
        yield store


def statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip()]


def sample_calls(n: int) -> list[Call]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        provider, model, feature = LABELS[i % 3]
        failed = i % 11 == 0
        out.append(
            Call(
                trace_id=f"{i // 4:032x}",
                span_id=f"{i:016x}",
                name=f"chat {model}",
                kind="llm",
                start_time=T0 + dt.timedelta(minutes=7 * i),
                duration_ms=rng.uniform(200, 4000),
                ttft_ms=rng.uniform(50, 900) if i % 2 else None,
                output_tokens_per_s=rng.uniform(20, 120),
                provider=provider,
                request_model=model,
                feature=feature,
                tenant=f"t{i % 4}",
                input_tokens=rng.randint(10, 5000),
                output_tokens=rng.randint(1, 800),
                cache_read_tokens=rng.randint(0, 300),
                cost_usd=rng.uniform(0, 0.05),
                status="error" if failed else "ok",
                error_class="rate_limit" if failed else None,
                attempts=1 + i % 3,
                source="otlp",
            )
        )
    return out


GROUP = "toStartOfHour(start_time), provider, request_model, feature"
RAW = (
    f"SELECT {GROUP}, count(), sum(status = 'error'), sum(greatest(ifNull(attempts, 1) - 1, 0)), "
    f"sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), round(sum(cost_usd), 9) "
    f"FROM calls GROUP BY {GROUP} ORDER BY {GROUP}"
)
MERGED = (
    "SELECT toDateTime64(hour, 6, 'UTC'), provider, model, feature, sumMerge(calls), sumMerge(errors), "
    "sumMerge(retries), sumMerge(input_tokens), sumMerge(output_tokens), sumMerge(cache_read_tokens), "
    "round(sumMerge(cost_usd), 9) "
    "FROM calls_hourly GROUP BY hour, provider, model, feature ORDER BY hour, provider, model, feature"
)


def test_the_hourly_rollup_view_sums_exactly_what_the_raw_calls_sum(ch: ClickHouseStore) -> None:
    rows = sample_calls(120)
    ch.write(rows[:70])
    ch.write(rows[70:])  # two inserts: the view's states for one hour are merged across parts
    raw = ch.query(RAW, dialect="clickhouse").rows
    assert len(raw) > 10 and sum(r[4] for r in raw) == 120
    assert ch.query(MERGED, dialect="clickhouse").rows == raw
    ch.write(rows[:10])  # a retried batch: the store adds nothing, so the view counts nothing twice
    assert ch.query(MERGED, dialect="clickhouse").rows == raw


def test_the_rollup_quantiles_approximate_the_exact_ones(ch: ClickHouseStore) -> None:
    ch.write(sample_calls(400))
    for column, source in (("latency_ms", "duration_ms"), ("ttft_ms", "ttft_ms")):
        merged = ch.query(
            f"SELECT quantilesTDigestMerge({QUANTILES})({column}) FROM calls_hourly", dialect="clickhouse"
        ).rows[0][0]
        exact = ch.query(f"SELECT quantilesExact({QUANTILES})({source}) FROM calls", dialect="clickhouse")
        for got, want in zip(merged, exact.rows[0][0], strict=True):
            assert abs(got - want) <= 0.05 * want, (column, got, want)


def test_the_printed_single_node_schema_is_what_the_store_applies(tmp_path: Path) -> None:
    engine = ChdbEngine(str(tmp_path / "chdb"))  # one chDB path per process: two databases in it
    engine.command("CREATE DATABASE printed")
    engine.command("USE printed")
    for statement in statements(schema_sql(Layout())):
        engine.command(statement)
    engine.command("USE default")
    listing = "SELECT table, name, type FROM system.columns WHERE database = '{}' ORDER BY table, position"
    with ClickHouseStore(engine) as store:
        printed = store.query(listing.format("printed"), dialect="clickhouse").rows
        applied = store.query(listing.format("default"), dialect="clickhouse").rows
    assert printed == applied
    assert {r[0] for r in printed} >= {
        "spans",
        "calls",
        "calls_hourly",
        "metric_points",
        "budgets",
        "samples",
        "auth_keys",
        "prompt_events",
        "log_records",
        "call_rollups",  # the rollups of long ranges (migration 14), on one server
        "call_dim_hours",
        "call_sketches",
    }


def test_the_cluster_schema_parses_but_chdb_cannot_run_it(tmp_path: Path) -> None:
    script = schema_sql(Layout("tt", {"calls": 30, "metrics": 7, "rollups": 400}))
    engine = ChdbEngine(str(tmp_path / "chdb"))
    try:
        for statement in statements(script):
            ast = engine.query_arrow(f"EXPLAIN AST {statement}", {})
            assert ast.num_rows > 1, statement
        with pytest.raises(Exception, match=r"(?i)cluster"):
            engine.command(statements(script)[0])  # ON CLUSTER: chDB has no remote_servers, no Keeper
    finally:
        engine.close()
    assert "ENGINE = Distributed(tt, currentDatabase(), spans_local, cityHash64(trace_id))" in script
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/spans_local', '{replica}')"
        in script
    )
    assert (
        "ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/calls_hourly_local'" in script
    )
    assert "ENGINE = Distributed(tt, currentDatabase(), samples_local, cityHash64(trace_id))" in script
    log_shard = "cityHash64(if(trace_id = '', record_id, trace_id))"  # by trace, else spread by record
    assert f"ENGINE = Distributed(tt, currentDatabase(), log_records_local, {log_shard})" in script
    assert "ALTER TABLE log_records_local ON CLUSTER tt ADD INDEX IF NOT EXISTS record_ids" in script
    assert "TTL toDateTime(assumeNotNull(time)) + INTERVAL 30 DAY" in script  # log records go with spans
    for table in ("auth_keys", "auth_secret", "prompt_events"):  # replicated to every node, not sharded
        assert f"ReplicatedMergeTree('/clickhouse/tables/all/{{database}}/{table}', '{{replica}}')" in script
        assert f"{table}_local" not in script
    for table in ("spans_local", "spans"):  # migration 9: the local table, then the Distributed one
        assert f"ALTER TABLE {table} ON CLUSTER tt ADD COLUMN IF NOT EXISTS prompt_content_id" in script
    assert "TTL toDateTime(start_time) + INTERVAL 30 DAY" in script
    assert "TTL hour + INTERVAL 400 DAY" in script
    assert "TO calls_hourly_local AS SELECT" in script and "FROM spans_local WHERE kind = 'llm'" in script
    assert "CREATE TABLE" in script and all(
        " ON CLUSTER tt" in s for s in statements(script) if s.startswith(("CREATE", "ALTER", "DROP"))
    )
    assert (
        "call_rollups" not in script and "call_sketches" not in script
    )  # a cluster keeps none (calls_hourly)
    assert "-- migration 14" in script and "-- migration 15" in script  # recorded, with nothing to do


def test_store_urls_choose_the_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENTRAIL_RETENTION_CALLS", "90d")
    assert layout_for("clickhouse://h:8123/db?cluster=tt") == Layout("tt", {"calls": 90})
    assert layout_for("clickhouse://h:8123/db") == Layout(None, {"calls": 90})
    with pytest.raises(StoreError, match="cluster name"):
        layout_for("clickhouse://h:8123/db?cluster=a;DROP")
    monkeypatch.setenv("TOKENTRAIL_RETENTION_CALLS", "soon")
    with pytest.raises(StoreError, match="TOKENTRAIL_RETENTION_CALLS"):
        layout_for("clickhouse://h:8123/db")
    assert retention_days({"TOKENTRAIL_RETENTION_METRIC_POINTS": "7"}) == {"metrics": 7}


def test_the_schema_command(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    single = runner.invoke(app, ["clickhouse", "schema"])
    assert single.exit_code == 0 and single.output == schema_sql(Layout()) + "\n"
    monkeypatch.setenv("TOKENTRAIL_RETENTION_ROLLUPS", "365")
    cluster = runner.invoke(app, ["clickhouse", "schema", "--cluster", "prod"])
    assert cluster.exit_code == 0 and cluster.output == schema_sql(Layout("prod", {"rollups": 365})) + "\n"
    bad = runner.invoke(app, ["clickhouse", "schema", "--cluster", "x y"])
    assert bad.exit_code == 2 and "letters, digits" in bad.output
