"""Query paths cannot reach outside the store: the SQL gate, the stores' own lock-down (DuckDB without
external access and with its configuration locked; ClickHouse queries with readonly = 1), and the query
language, which turns user text into literals and known fields only. Every attempt fails with a clear
message and leaves the store and the file system as they were."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tokentrail.cli import app as cli
from tokentrail.model import Call
from tokentrail.query import QueryError
from tokentrail.query.run import run_sql
from tokentrail.server.app import create_app
from tokentrail.store import QueryFailed, Store
from tokentrail.store.clickhouse import ChdbEngine, ClickHouseStore
from tokentrail.store.duckdb import DuckDBStore

SECRET_FILE_LINE = "root:"  # the first line of /etc/passwd on every Linux


ESCAPES = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT read_text('/etc/passwd')",
    "SELECT * FROM range(1) t, LATERAL read_csv('/etc/passwd')",
    "SHOW SELECT * FROM read_csv('/etc/passwd')",
    "DESCRIBE SELECT * FROM read_csv('/etc/passwd')",
    "SELECT (SELECT count(*) FROM read_csv('/etc/passwd'))",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM query('SELECT 1')",
    "COPY (SELECT 1) TO '{tmp}/out.csv'",
    "COPY spans TO '{tmp}/out.csv'",
    "ATTACH '{tmp}/other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET threads = 1",
    "PRAGMA threads = 1",
    "SELECT 1; DROP TABLE spans",
    "SELECT 1; SELECT 2",
    "SELECT * FROM auth_keys",
    "SELECT * FROM auth_secret",
    "DESCRIBE SELECT digest FROM auth_keys",
    "CALL pragma_version()",
    "SUMMARIZE auth_keys",
]


def one_call() -> Call:
    return Call(
        trace_id="a" * 32,
        span_id="b" * 16,
        kind="llm",
        name="chat",
        tenant="acme",
        start_time=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=1),
    )


@pytest.mark.parametrize("template", ESCAPES)
def test_cli_sql_escapes_fail_cleanly(tmp_path: Path, template: str) -> None:
    db = tmp_path / "e.duckdb"
    DuckDBStore(db).close()
    statement = template.format(tmp=tmp_path)
    result = CliRunner().invoke(cli, ["sql", statement, "--db", str(db)])
    assert result.exit_code != 0, (statement, result.output)
    assert "error:" in result.output and SECRET_FILE_LINE not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.duckdb"]  # no file written, none attached
    with DuckDBStore(db) as store:
        assert store.query("SELECT count(*) FROM spans").rows == [(0,)]


def test_run_sql_escapes_fail_on_both_stores(store: Store, tmp_path: Path) -> None:
    store.write([one_call()])
    attempts = [
        *(t.format(tmp=tmp_path) for t in ESCAPES),
        "SELECT * FROM file('/etc/passwd')",
        "SELECT * FROM url('http://127.0.0.1:1/')",
    ]
    for statement in attempts:
        with pytest.raises((QueryError, QueryFailed)):
            run_sql(store, statement)
    assert store.query("SELECT count(*) FROM spans").rows == [(1,)]
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM range(1) t, LATERAL read_csv('/etc/passwd')",
        "SHOW SELECT * FROM read_csv('/etc/passwd')",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET GLOBAL enable_external_access = true",
        "INSTALL httpfs",
    ],
)
def test_duckdb_connections_are_locked_below_the_gate(duck: DuckDBStore, sql: str) -> None:
    with pytest.raises(
        QueryFailed, match=r"disabled by configuration|configuration has been locked|Permission"
    ):
        duck.query(sql)


def test_clickhouse_queries_are_read_only_below_the_gate(tmp_path: Path) -> None:
    with ClickHouseStore(ChdbEngine(str(tmp_path / "ch"))) as store:
        for sql in (
            "SELECT * FROM file('/etc/passwd', 'LineAsString')",
            "SELECT * FROM url('http://127.0.0.1:1/')",
        ):
            with pytest.raises(QueryFailed, match="readonly"):
                store.query(sql, dialect="clickhouse")


INJECTIONS: list[tuple[str, int]] = [
    ("filter tenant = \"x' OR '1'='1\"", 200),  # a string literal stays a value
    ("filter tenant = 'acme'; DROP TABLE spans", 400),
    ("filter feature =~ /'; SELECT * FROM read_csv('\\/etc\\/passwd') --/", 200),  # a regex stays a value
    ('fields tenant | filter tenant = "a\\" OR 1=1 --"', 200),
    ('fields `x"; DROP TABLE spans; --`', 400),  # an unknown field name is refused, never pasted
    ("stats count(*) by `tenant`) UNION SELECT * FROM auth_keys --`", 400),
    ("stats count(*) by read_csv('/etc/passwd')", 400),
    ("display read_text('/etc/passwd')", 400),
    ("fields @message | filter @message like \"'; COPY spans TO '/tmp/tt-x.csv'; --\"", 200),
    ("filter tenant =~ /(a+)+$/", 200),
]


@pytest.mark.parametrize(("text", "status"), INJECTIONS)
async def test_query_language_injections_are_values_or_400(store: Store, text: str, status: int) -> None:
    store.write([one_call()])
    app = create_app(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.post("/api/query", json={"query": text, "since": "1h"})
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    if status == 400:
        assert body["error"] and SECRET_FILE_LINE not in r.text
    else:
        assert body["rows"] == []  # matched nothing: the text was compared as data
    assert store.query("SELECT count(*) FROM spans").rows == [(1,)]
    assert not Path("/tmp/tt-x.csv").exists()


@pytest.mark.parametrize(("text", "status"), [i for i in INJECTIONS if i[1] == 400])
def test_cli_query_injections_exit_non_zero(tmp_path: Path, text: str, status: int) -> None:
    db = tmp_path / "q.duckdb"
    DuckDBStore(db).close()
    result = CliRunner().invoke(cli, ["query", text, "--db", str(db)])
    assert result.exit_code != 0 and "error:" in result.output
    with DuckDBStore(db) as store:
        assert store.query("SELECT count(*) FROM spans").rows == [(0,)]
