"""The raw-SQL gate of ``tokentrail sql``."""

from __future__ import annotations

import pytest

from tokentrail.query import QueryError, check_read_only

from .conftest import DuckDBBackend


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("SELECT 1", "duckdb"),
        ("select count(*) from calls where feature = 'x';", "duckdb"),
        ("WITH a AS (SELECT * FROM calls) SELECT app, count(*) FROM a GROUP BY app", "duckdb"),
        ("SELECT 1 UNION ALL SELECT 2", "duckdb"),
        ("SELECT * FROM range(3)", "duckdb"),
        ("DESCRIBE calls", "duckdb"),
        ("SHOW TABLES", "duckdb"),
        ("SHOW TABLES", "clickhouse"),
        ("SELECT count() FROM calls", "clickhouse"),
    ],
)
def test_read_only_sql_is_allowed(sql: str, dialect: str) -> None:
    assert check_read_only(sql, dialect) == sql.strip().rstrip(";")


@pytest.mark.parametrize(
    ("sql", "dialect", "message"),
    [
        ("DROP TABLE spans", "duckdb", "DROP statements are not allowed"),
        ("DELETE FROM spans", "duckdb", "DELETE statements are not allowed"),
        ("INSERT INTO spans (name) VALUES ('x')", "duckdb", "INSERT statements are not allowed"),
        ("UPDATE spans SET name = 'x'", "duckdb", "UPDATE statements are not allowed"),
        ("CREATE TABLE x AS SELECT 1", "duckdb", "CREATE statements are not allowed"),
        ("SELECT 1; DROP TABLE spans", "duckdb", "expected one statement, got 2"),
        ("COPY spans TO 'out.csv'", "duckdb", "COPY statements are not allowed"),
        ("ATTACH 'other.db'", "duckdb", "not allowed"),
        ("PRAGMA version", "duckdb", "not allowed"),
        ("SET threads = 1", "duckdb", "not allowed"),
        ("EXPLAIN SELECT 1", "duckdb", "EXPLAIN statements are not allowed"),
        ("SELECT 1 INTO t", "duckdb", "SELECT ... INTO"),
        ("SELECT * FROM read_csv('/etc/passwd')", "duckdb", "table function"),
        ("SELECT * FROM '/etc/passwd.csv'", "duckdb", "reading the file"),
        ("SELECT * FROM 'data.parquet'", "duckdb", "reading the file"),
        ("SELECT getenv('HOME')", "duckdb", "getenv() reads outside the database"),
        ("SELECT * FROM url('http://x', CSV)", "clickhouse", "table function"),
        ("SELECT * FROM file('x.csv')", "clickhouse", "table function"),
        ("SELECT (", "duckdb", "SQL syntax error"),
        ("  ;  ", "duckdb", "the SQL is empty"),
    ],
)
def test_anything_else_is_refused(sql: str, dialect: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        check_read_only(sql, dialect)
    assert message in caught.value.message


def test_allowed_sql_runs(duckdb_backend: DuckDBBackend) -> None:
    sql = check_read_only("SELECT count(*) AS n FROM calls WHERE kind = 'llm';")
    assert duckdb_backend.sql(sql).rows[0][0] > 0


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM calls WHERE", "SQL syntax error: something is missing after 'WHERE'"),
        ("SELECT 1 +", "SQL syntax error: something is missing after '+'"),
        ("SELECT * FROM calls LIMT 5", "SQL syntax error: unexpected '5' after 'LIMT'"),
    ],
)
def test_syntax_errors_say_where_in_the_users_terms(sql: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        check_read_only(sql)
    error = caught.value
    assert error.message == message and error.line == 1 and error.column
    assert "class" not in str(error) and "sqlglot" not in str(error)
    assert "calls, spans, metric_points, stream_timelines, budgets" in (error.hint or "")


@pytest.mark.parametrize("dialect", ["duckdb", "clickhouse"])
def test_an_unknown_table_names_the_queryable_ones(dialect: str) -> None:
    with pytest.raises(QueryError) as caught:
        check_read_only("SELECT * FROM call JOIN spans USING (trace_id)", dialect)
    assert caught.value.message == "no table or view named 'call'"
    tables = "calls, spans, metric_points, stream_timelines, budgets, log_records, "
    tables += "alert_rules, alert_states, alert_events, alert_deliveries, alert_silences, export_marks, "
    tables += "call_rollups, call_dim_hours, call_sketches"
    assert caught.value.hint == f"the tables and views you can query: {tables}"
    assert "duckdb_tables" not in str(caught.value)
    with_names = "WITH recent AS (SELECT * FROM calls) SELECT count(*) FROM recent"
    assert check_read_only(with_names, dialect) == with_names
