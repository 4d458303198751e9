"""POST /api/query and the query/sql commands, on both backends where a store is involved."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tokentrail.cli import app as cli
from tokentrail.model import Call
from tokentrail.server.app import create_app
from tokentrail.store import Store
from tokentrail.store.duckdb import DuckDBStore

T0 = dt.datetime(2026, 11, 20, 10, 0)


def rows() -> list[Call]:
    return [
        Call(
            trace_id=f"{i + 1:032x}",
            span_id=f"{i + 1:016x}",
            kind="llm",
            start_time=T0 + dt.timedelta(minutes=i),
            feature=["search", "chat"][i % 2],
            request_model="gpt-4o",
            input_tokens=100 + i,
            output_tokens=10,
            cache_read_tokens=20,
            duration_ms=100.0 * (i + 1),
            metadata={"tenant_id": f"t{i % 3}"},
        )
        for i in range(12)
    ]


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    store.write(rows())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(store)), base_url="http://t"
    ) as c:
        yield c


async def test_query_returns_columns_types_rows(api: httpx.AsyncClient) -> None:
    q = (
        "fields requestMetadata.tenant_id as Tenant,"
        " input.inputTokenCount + output.outputTokenCount as Tokens"
        " | stats sum(Tokens) as TotalTokens, count(*) as Requests by Tenant"
        " | sort TotalTokens desc"
    )
    r = await api.post(
        "/api/query", json={"query": q, "start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"}
    )
    body = r.json()
    assert r.status_code == 200, body
    assert body["columns"] == [
        {"name": "Tenant", "type": "string"},
        {"name": "TotalTokens", "type": "integer"},
        {"name": "Requests", "type": "integer"},
    ]
    expected = {f"t{k}": sum(100 + i - 20 + 10 for i in range(12) if i % 3 == k) for k in range(3)}
    assert {row[0]: row[1] for row in body["rows"]} == expected
    assert [row[1] for row in body["rows"]] == sorted(expected.values(), reverse=True)


DAY = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"}


async def test_stats_by_bin_and_string_have_types_in_output_order(api: httpx.AsyncClient) -> None:
    q = "stats avg(duration_ms) as avg_ms, count(*) as n by bin(1h), feature | sort feature"
    body = (await api.post("/api/query", json={"query": q, **DAY})).json()
    assert body["columns"] == [
        {"name": "bin(1h)", "type": "timestamp"},
        {"name": "feature", "type": "string"},
        {"name": "avg_ms", "type": "float"},
        {"name": "n", "type": "integer"},
    ]
    assert body["rows"] == [
        ["2026-11-20T10:00:00Z", "chat", 700.0, 6],
        ["2026-11-20T10:00:00Z", "search", 600.0, 6],
    ]


async def test_fields_of_every_type(api: httpx.AsyncClient) -> None:
    q = "fields @timestamp, feature, input_tokens, duration_ms, stream, tool_names "
    q += " | sort @timestamp | limit 1"
    body = (await api.post("/api/query", json={"query": q, **DAY})).json()
    names = ["@timestamp", "feature", "input_tokens", "duration_ms", "stream", "tool_names"]
    kinds = ["timestamp", "string", "integer", "float", "boolean", "list"]
    assert body["columns"] == [{"name": n, "type": k} for n, k in zip(names, kinds, strict=True)]
    assert body["rows"] == [["2026-11-20T10:00:00Z", "search", 100, 100.0, False, []]]


async def test_an_empty_result_still_has_typed_columns(api: httpx.AsyncClient) -> None:
    q = "filter feature = 'nobody' | stats count(*) as n, avg(duration_ms) as avg_ms by bin(5m), feature"
    body = (await api.post("/api/query", json={"query": q, **DAY})).json()
    assert body == {
        "columns": [
            {"name": "bin(5m)", "type": "timestamp"},
            {"name": "feature", "type": "string"},
            {"name": "n", "type": "integer"},
            {"name": "avg_ms", "type": "float"},
        ],
        "rows": [],
    }


async def test_time_range_is_applied(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/api/query",
        json={"query": "stats count(*) as n", "start": "2026-11-20T10:05:00Z", "end": "2026-11-20T10:08:00Z"},
    )
    assert r.json()["rows"] == [[3]]


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"query": "stats sum(cost) by feature"}, "unknown field"),
        ({"query": "fields feature |"}, "line"),
        ({"query": ""}, "query"),
        ({"nope": 1}, "query"),
        ({"query": "stats count(*)", "start": "soon"}, "bad time"),
    ],
)
async def test_bad_queries_are_400_with_position(
    api: httpx.AsyncClient, payload: dict[str, object], needle: str
) -> None:
    r = await api.post("/api/query", json=payload)
    assert r.status_code == 400 and needle in r.text
    assert r.json()["error"]


async def test_body_must_be_json(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/query", content=b"stats count(*)", headers={"content-type": "text/plain"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]


def test_cli_query_and_read_only_sql(tmp_path: Path) -> None:
    db = tmp_path / "q.duckdb"
    with DuckDBStore(db) as s:
        s.write(rows())
    runner = CliRunner()
    out = runner.invoke(
        cli,
        [
            "query",
            "stats count(*) as n by feature | sort feature",
            "--db",
            str(db),
            "--start",
            "2026-11-20",
            "--end",
            "2026-11-21",
            "--format",
            "csv",
        ],
    )
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == ["feature,n", "chat,6", "search,6"]
    day = ["--db", str(db), "--start", "2026-11-20", "--end", "2026-11-21"]
    as_json = runner.invoke(
        cli, ["query", "stats count(*) as n by bin(1d), feature", *day, "--format", "json"]
    )
    assert json.loads(as_json.output)["columns"] == [
        {"name": "bin(1d)", "type": "timestamp"},
        {"name": "feature", "type": "string"},
        {"name": "n", "type": "integer"},
    ]
    bad = runner.invoke(cli, ["query", "stats count(*) by featur", "--db", str(db)])
    assert bad.exit_code == 2 and "did you mean 'feature'" in bad.output
    ok = runner.invoke(cli, ["sql", "SELECT count(*) AS n FROM spans", "--db", str(db), "--format", "csv"])
    assert ok.output.splitlines() == ["n", "12"]
    for statement in ("DELETE FROM spans", "SELECT 1; DROP TABLE spans", "COPY spans TO '/tmp/x.csv'"):
        refused = runner.invoke(cli, ["sql", statement, "--db", str(db)])
        assert refused.exit_code == 2, statement
    with DuckDBStore(db) as s:
        assert s.query("SELECT count(*) FROM spans").rows == [(12,)]
