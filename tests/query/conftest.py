"""Real stores for the query tests: a DuckDB file and a chdb (ClickHouse) database with the same rows.

The ``backend`` fixture is parametrised over both, so each test runs the same query on both dialects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pytest

from tokentrail import model
from tokentrail.query import compile_query

from .data import Row, make_rows

DUCKDB_TYPES = {
    model.STR: "VARCHAR",
    model.INT: "BIGINT",
    model.FLOAT: "DOUBLE",
    model.BOOL: "BOOLEAN",
    model.TIME: "TIMESTAMP",
    model.STR_LIST: "VARCHAR[]",
    model.JSON: "VARCHAR",
}
CLICKHOUSE_TYPES = {
    model.STR: "Nullable(String)",
    model.INT: "Nullable(Int64)",
    model.FLOAT: "Nullable(Float64)",
    model.BOOL: "Bool",
    model.TIME: "DateTime64(6, 'UTC')",
    model.STR_LIST: "Array(String)",
    model.JSON: "String",
}


@dataclasses.dataclass
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


class Backend(Protocol):
    name: str

    def sql(self, sql: str) -> Result: ...

    def run(self, query: str, **options: Any) -> Result: ...


def _ddl(types: dict[str, str]) -> str:
    return ", ".join(f'"{name}" {types[kind]}' for name, kind, _ in model.COLUMNS)


def _storage_row(call: model.Call) -> tuple[Any, ...]:
    values = dict(zip(model.COLUMN_NAMES, call.row(), strict=True))
    values["metadata"] = json.dumps(call.metadata)
    values["attributes"] = json.dumps(call.attributes)
    return tuple(values.values())


class DuckDBBackend:
    name = "duckdb"

    def __init__(self, path: Path, rows: list[Row]) -> None:
        self.connection = duckdb.connect(str(path))
        self.connection.execute(f"CREATE TABLE spans ({_ddl(DUCKDB_TYPES)})")
        self.connection.execute("CREATE VIEW calls AS SELECT * FROM spans WHERE kind = 'llm'")
        marks = ", ".join("?" * len(model.COLUMNS))
        self.connection.executemany(
            f"INSERT INTO spans VALUES ({marks})", [_storage_row(r.call) for r in rows]
        )

    def sql(self, sql: str) -> Result:
        cursor = self.connection.cursor()
        cursor.execute(sql)
        columns = [d[0] for d in cursor.description or ()]
        return Result(columns, [tuple(row) for row in cursor.fetchall()])

    def run(self, query: str, **options: Any) -> Result:
        compiled = compile_query(query, dialect="duckdb", **options)
        result = self.sql(compiled.sql)
        assert result.columns == compiled.columns
        return result


class ClickHouseBackend:
    name = "clickhouse"

    def __init__(self, path: Path, rows: list[Row]) -> None:
        from chdb import session

        self.session = session.Session(str(path))
        self.session.query("CREATE DATABASE IF NOT EXISTS tt")
        self.session.query(
            f"CREATE TABLE tt.spans ({_ddl(CLICKHOUSE_TYPES)}) ENGINE = MergeTree ORDER BY start_time"
        )
        self.session.query("CREATE VIEW tt.calls AS SELECT * FROM tt.spans WHERE kind = 'llm'")
        lines = "\n".join(json.dumps(_json_row(r.call)) for r in rows)
        self.session.query(f"INSERT INTO tt.spans FORMAT JSONEachRow {lines}")
        self.session.query("USE tt")

    def close(self) -> None:
        self.session.close()

    def sql(self, sql: str) -> Result:
        text = self.session.query(sql, "JSONCompactEachRowWithNamesAndTypes").bytes().decode()
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        if not lines:
            return Result([], [])
        columns, types, *rows = lines
        return Result(
            columns, [tuple(_from_clickhouse(v, t) for v, t in zip(row, types, strict=True)) for row in rows]
        )

    def run(self, query: str, **options: Any) -> Result:
        compiled = compile_query(query, dialect="clickhouse", **options)
        result = self.sql(compiled.sql)
        assert result.columns == compiled.columns
        return result


def _json_row(call: model.Call) -> dict[str, Any]:
    values = dict(zip(model.COLUMN_NAMES, _storage_row(call), strict=True))
    for name, value in values.items():
        if isinstance(value, dt.datetime):
            values[name] = value.isoformat(sep=" ", timespec="microseconds")
    return values


def _from_clickhouse(value: Any, type_name: str) -> Any:
    inner = (
        type_name.removeprefix("Nullable(").removesuffix(")")
        if type_name.startswith("Nullable(")
        else type_name
    )
    if value is None:
        return None
    if inner.startswith("DateTime"):
        return dt.datetime.fromisoformat(value)
    if inner == "Date":
        return dt.datetime.fromisoformat(value)
    return value


@pytest.fixture(scope="session")
def rows() -> list[Row]:
    return make_rows()


@pytest.fixture(scope="session")
def llm_rows(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.llm]


@pytest.fixture(scope="session")
def duckdb_backend(tmp_path_factory: pytest.TempPathFactory, rows: list[Row]) -> DuckDBBackend:
    return DuckDBBackend(tmp_path_factory.mktemp("duckdb") / "tokentrail.duckdb", rows)


@pytest.fixture(scope="module")
def clickhouse_backend(
    tmp_path_factory: pytest.TempPathFactory, rows: list[Row]
) -> Iterator[ClickHouseBackend]:
    # chdb runs one embedded server per process, on one path at a time: hold it for a module only and
    # close it, so that other test modules can open their own.
    backend = ClickHouseBackend(tmp_path_factory.mktemp("chdb"), rows)
    yield backend
    backend.close()


@pytest.fixture(params=["duckdb", "clickhouse"])
def backend(request: pytest.FixtureRequest) -> Backend:
    name = f"{request.param}_backend"
    backend: Backend = request.getfixturevalue(name)
    return backend


def norm(value: Any) -> Any:
    """Compare numbers from either store: ints stay, floats keep 9 significant digits."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return float(f"{value:.9g}")
    if isinstance(value, int):
        return value
    if isinstance(value, tuple | list):
        return tuple(norm(v) for v in value)
    return value


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, str(v)) for v in row)


def same_rows(actual: list[tuple[Any, ...]], expected: list[tuple[Any, ...]], ordered: bool = False) -> bool:
    got = [norm(row) for row in actual]
    want = [norm(row) for row in expected]
    if not ordered:
        got, want = sorted(got, key=_sort_key), sorted(want, key=_sort_key)
    assert got == want
    return True
