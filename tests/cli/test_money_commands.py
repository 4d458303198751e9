"""chargeback (API and CLI), reprice and prices check, and `tokentrail import`, over real stores."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tokentrail.analytics.calls import fetch_calls
from tokentrail.analytics.chargeback import chargeback
from tokentrail.analytics.ranges import TimeRange, parse_period
from tokentrail.cli import app
from tokentrail.model import Call
from tokentrail.pricing import load_prices, price_call
from tokentrail.server.app import create_app
from tokentrail.store import Store
from tokentrail.store.duckdb import DuckDBStore

runner = CliRunner()
OCT = dt.datetime(2026, 10, 1)
MODELS = [
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("aws.bedrock", "amazon.nova-lite-v1:0"),
]


def priced_calls(n: int = 300, seed: int = 7) -> list[Call]:
    rng = random.Random(seed)
    prices = load_prices(None)
    out = []
    for i in range(n):
        provider, model = MODELS[i % 3]
        inp = rng.randint(100, 5000)
        cache = rng.randint(0, inp // 2)
        call = Call(
            trace_id=f"{i + 1:032x}",
            span_id=f"{i + 1:016x}",
            kind="llm",
            provider=provider,
            request_model=model,
            start_time=OCT + dt.timedelta(minutes=137 * i),
            input_tokens=inp,
            output_tokens=rng.randint(5, 800),
            cache_read_tokens=cache,
            tenant=f"tenant-{i % 7}",
            team=["search", "support"][i % 2],
        )
        price_call(call, prices)
        out.append(call)
    return out


def test_chargeback_reconciles_to_the_cent(store: Store) -> None:
    calls = priced_calls()
    store.write(calls)
    result = chargeback(store, parse_period("2026-10"), "tenant")
    in_october = [c for c in calls if c.start_time and c.start_time < dt.datetime(2026, 11, 1)]
    expected_total = sum(round((c.cost_usd or 0) * 1e9) for c in in_october)
    assert result.total["cost_nusd"] == expected_total
    assert sum(r["cost_nusd"] for r in result.rows) == result.total["cost_nusd"]
    assert round(sum(r["cost_usd"] for r in result.rows), 2) == round(result.total["cost_usd"], 2)
    assert sum(r["share"] for r in result.rows) == pytest.approx(1.0)
    t3 = next(r for r in result.rows if r["tenant"] == "tenant-3")
    mine = [c for c in in_october if c.tenant == "tenant-3"]
    assert t3["calls"] == len(mine)
    assert t3["cache_read_tokens"] == sum(c.cache_read_tokens or 0 for c in mine)
    parts = t3["input_cost_usd"] + t3["cache_cost_usd"] + t3["output_cost_usd"]
    assert parts == pytest.approx(t3["cost_usd"], abs=3e-9)
    assert t3["cost_per_query_usd"] == pytest.approx(t3["cost_usd"] / len(mine))


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    store.write(priced_calls())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(store)), base_url="http://t"
    ) as c:
        yield c


async def test_chargeback_api(api: httpx.AsyncClient) -> None:
    body = (await api.get("/api/chargeback", params={"period": "2026-10", "by": "team"})).json()
    assert {r["team"] for r in body["rows"]} == {"search", "support"}
    assert sum(r["cost_nusd"] for r in body["rows"]) == body["total"]["cost_nusd"]
    for params in ({"by": "team"}, {"period": "2026-10", "by": "colour"}, {"period": "last month"}):
        r = await api.get("/api/chargeback", params=params)
        assert r.status_code == 400 and r.json()["error"]


def test_reprice_changes_only_what_the_overrides_change(store: Store, tmp_path: Path) -> None:
    calls = priced_calls(60)
    store.write(calls)
    overrides = tmp_path / "prices.toml"
    overrides.write_text('[[discount]]\nprovider = "openai"\ndiscount = 0.25\n')
    if isinstance(store, DuckDBStore):  # the CLI path, on the file
        store.close()
        db = store.path
        out = runner.invoke(app, ["reprice", "--db", db, "--start", "2026-10-01", "--prices", str(overrides)])
        assert out.exit_code == 0, out.output
        assert "repriced 60 calls" in out.output and "20 changed" in out.output
        store = DuckDBStore(db)
    else:
        from tokentrail.cli.prices import changed_by_repricing

        fetched = fetch_calls(store, TimeRange(OCT, OCT + dt.timedelta(days=40)))
        changed = changed_by_repricing(fetched, load_prices(overrides))
        assert len(changed) == 20
        store.replace(changed)
    rows = store.query("SELECT provider, sum(cost_usd), count(*) FROM spans GROUP BY 1").rows
    by_provider = {p: (cost, n) for p, cost, n in rows}
    openai_before = sum(c.cost_usd or 0 for c in calls if c.provider == "openai")
    assert by_provider["openai"][0] == pytest.approx(openai_before * 0.75)
    assert by_provider["openai"][1] == 20  # replaced, not duplicated
    store.close()


def test_prices_check_lists_models_and_flags_unknown(tmp_path: Path) -> None:
    db = tmp_path / "p.duckdb"
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with DuckDBStore(db) as s:
        s.write(
            [
                Call(
                    trace_id="a" * 32,
                    span_id="b" * 16,
                    kind="llm",
                    provider="openai",
                    request_model="gpt-4o",
                    start_time=now,
                    input_tokens=1,
                    output_tokens=1,
                ),
                Call(
                    trace_id="a" * 32,
                    span_id="c" * 16,
                    kind="llm",
                    provider="acme",
                    request_model="zz-9000",
                    start_time=now,
                    input_tokens=1,
                    output_tokens=1,
                ),
            ]
        )
    out = runner.invoke(app, ["prices", "check", "--db", str(db)], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    assert "gpt-4o" in out.output and "genai-prices" in out.output
    assert "zz-9000" in out.output and "1 calls unpriced: their models cannot be priced" in out.output


def test_import_cli_prices_and_dedups(tmp_path: Path) -> None:
    db = tmp_path / "i.duckdb"
    log = tmp_path / "calls.jsonl"
    log.write_text(
        json.dumps(
            {
                "feature": "search",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "latency_ms": 800,
                "input": 1200,
                "output": 80,
                "cache_read": 1000,
                "ts": "2026-10-02T10:00:00Z",
            }
        )
        + "\n"
        + "{broken\n"
        + json.dumps(
            {"feature": "search", "error": "RateLimitError", "msg": "x", "ts": "2026-10-02T10:00:01Z"}
        )
        + "\n"
    )
    first = runner.invoke(app, ["import", "jsonl", str(log), "--db", str(db)])
    assert first.exit_code == 0, first.output
    assert "2 stored" in first.output and f"{log}:2" in first.output
    again = runner.invoke(app, ["import", "jsonl", str(tmp_path), "--db", str(db)])
    assert "0 stored, 2 already present" in again.output
    with DuckDBStore(db) as s:
        row = s.query(
            "SELECT cost_usd, input_cost_usd, cache_cost_usd, price_source FROM calls WHERE status = 'ok'"
        ).rows[0]
    p = load_prices(None)
    expected = Call(
        trace_id="x",
        span_id="y",
        provider="openai",
        request_model="gpt-4o-mini",
        input_tokens=1200,
        output_tokens=80,
        cache_read_tokens=1000,
        start_time=dt.datetime(2026, 10, 2, 10),
    )
    price_call(expected, p)
    assert row == (expected.cost_usd, expected.input_cost_usd, expected.cache_cost_usd, expected.price_source)
    for args, message in (
        (["import", "nope", str(log)], "unknown kind"),
        (["import", "jsonl", str(tmp_path / "missing.jsonl")], "no such file"),
    ):
        bad = runner.invoke(app, [*args, "--db", str(db)])
        assert bad.exit_code == 2 and message in bad.output


def test_imported_bedrock_logs_cost_what_the_price_data_says(tmp_path: Path) -> None:
    from support import expected_parts, package_price
    from tokentrail.pricing import describe_model

    def record(i: int, model: str, inp: int, out: int, cache_r: int, cache_w: int) -> dict[str, object]:
        return {
            "schemaType": "ModelInvocationLog",
            "timestamp": "2026-10-03T10:00:00Z",
            "requestId": f"r-{i}",
            "operation": "Converse",
            "modelId": model,
            "region": "us-east-1",
            "requestMetadata": {"tenant_id": "acme"},
            "input": {
                "inputTokenCount": inp,
                "cacheReadInputTokenCount": cache_r,
                "cacheWriteInputTokenCount": cache_w,
            },
            "output": {"outputTokenCount": out, "outputBodyJson": {"metrics": {"latencyMs": 900}}},
        }

    records = [
        record(1, "amazon.nova-lite-v1:0", 1200, 300, 0, 0),
        record(2, "amazon.nova-pro-v1:0", 800, 120, 4000, 0),
        record(3, "us.anthropic.claude-3-5-sonnet-20240620-v1:0", 25, 400, 9000, 1500),
        record(
            4, "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-1-8b-instruct-v1:0", 640, 200, 0, 0
        ),
    ]
    log = tmp_path / "bedrock.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    db = tmp_path / "b.duckdb"
    assert runner.invoke(app, ["import", "bedrock-logs", str(log), "--db", str(db)]).exit_code == 0
    prices = load_prices(None)
    with DuckDBStore(db) as s:
        rows = s.query("SELECT * FROM calls ORDER BY response_id").dicts()
    assert len(rows) == 4
    for row, rec in zip(rows, records, strict=True):
        inp = rec["input"]
        assert isinstance(inp, dict)
        assert row["input_tokens"] == sum(inp.values())  # Bedrock counts input without the cache
        how = describe_model(row["provider"], row["request_model"], prices)
        want_input, want_cache, want_output = expected_parts(
            package_price(how.matched, row["start_time"]), row
        )
        assert row["input_cost_usd"] == pytest.approx(want_input, rel=1e-9, abs=1e-12)
        assert row["cache_cost_usd"] == pytest.approx(want_cache, rel=1e-9, abs=1e-12)
        assert row["output_cost_usd"] == pytest.approx(want_output, rel=1e-9, abs=1e-12)
        assert row["cost_usd"] == row["input_cost_usd"] + row["cache_cost_usd"] + row["output_cost_usd"]
