"""Rows and Calls → Arrow tables in the logical schema, the form both stores insert.

Calls become the columns of `model.COLUMNS` plus one more, `stream_timeline` (a struct of the chunk numbers
and offsets, null for a call that did not stream), so the ingest workers hand over one table; the stores
split it (`split_timelines`) into the spans and the rows of the ``stream_timelines`` table."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tokentrail.model import (
    BOOL,
    COLUMNS,
    FLOAT,
    FLOAT_LIST,
    INT,
    INT_LIST,
    JSON,
    METRIC_COLUMNS,
    STR,
    STR_LIST,
    TIME,
    TIMELINE_COLUMNS,
    Call,
)

# large_string, not string: in pyarrow 26, building a `string` array from Python str objects is ~50x slower
# (measured 1.4 ms against 25 us for 500 values), and DuckDB and ClickHouse take either.
ARROW_TYPES = {
    STR: pa.large_string(),
    INT: pa.int64(),
    FLOAT: pa.float64(),
    BOOL: pa.bool_(),
    TIME: pa.timestamp("us"),
    STR_LIST: pa.list_(pa.large_string()),
    INT_LIST: pa.list_(pa.int64()),
    FLOAT_LIST: pa.list_(pa.float64()),
    JSON: pa.large_string(),
}

Columns = Sequence[tuple[str, str, str]]


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _dump(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)


class TableShape:
    """The Arrow schema of a table and which columns need JSON dumping or UTC normalising."""

    def __init__(self, columns: Columns) -> None:
        self.schema = pa.schema([(name, ARROW_TYPES[kind]) for name, kind, _ in columns])
        self.json_idx = [i for i, (_, kind, _) in enumerate(columns) if kind == JSON]
        self.time_idx = [i for i, (_, kind, _) in enumerate(columns) if kind == TIME]

    def table(self, rows: Sequence[Sequence[Any]]) -> pa.Table:
        width = len(self.schema)
        columns = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
        for i in self.json_idx:
            columns[i] = [_dump(v) for v in columns[i]]
        for i in self.time_idx:
            columns[i] = [_naive_utc(v) for v in columns[i]]
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, self.schema, strict=True)]
        return pa.Table.from_arrays(arrays, schema=self.schema)


SPANS = TableShape(COLUMNS)
METRICS = TableShape(METRIC_COLUMNS)
TIMELINES = TableShape(TIMELINE_COLUMNS)
TIMELINE_FIELD = "stream_timeline"
TIMELINE_TYPE = pa.struct([(name, ARROW_TYPES[kind]) for name, kind, _ in TIMELINE_COLUMNS[3:]])


def calls_to_arrow(calls: Sequence[Call]) -> pa.Table:
    """The spans' columns and their timelines (see the module docstring)."""
    timelines = [
        None if (t := c.stream_timeline) is None else {"chunks": t.chunks, "offsets_ms": t.offsets_ms}
        for c in calls
    ]
    table = SPANS.table([c.row() for c in calls])
    return table.append_column(TIMELINE_FIELD, pa.array(timelines, type=TIMELINE_TYPE))


def split_timelines(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(the spans in the form of model.COLUMNS, their non-null timelines in the form of TIMELINE_COLUMNS)."""
    if TIMELINE_FIELD not in table.column_names:
        return table, TIMELINES.table([])
    streamed = table.filter(pc.is_valid(table.column(TIMELINE_FIELD)))
    parts = streamed.column(TIMELINE_FIELD).combine_chunks()
    columns = [streamed.column(name) for name, _, _ in TIMELINE_COLUMNS[:3]]
    columns += [parts.field(name) for name, _, _ in TIMELINE_COLUMNS[3:]]
    timelines = pa.Table.from_arrays(columns, schema=TIMELINES.schema)
    return table.drop_columns([TIMELINE_FIELD]), timelines


def arrow_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """Rows of an Arrow result, with times as naive UTC datetimes."""
    columns = []
    for column in table.columns:
        values = column.to_pylist()
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            values = [_naive_utc(v) for v in values]
        columns.append(values)
    return list(zip(*columns, strict=True)) if columns else []


def value_kind(arrow_type: pa.DataType) -> str:
    """One of `base.KINDS` for an Arrow column type (ClickHouse results arrive as Arrow)."""
    t = pa.types
    if t.is_integer(arrow_type):
        return "integer"
    if t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return "float"
    if t.is_boolean(arrow_type):
        return "boolean"
    if t.is_timestamp(arrow_type) or t.is_date(arrow_type):
        return "timestamp"
    if t.is_list(arrow_type) or t.is_large_list(arrow_type) or t.is_fixed_size_list(arrow_type):
        return "list"
    if t.is_struct(arrow_type) or t.is_map(arrow_type):
        return "object"
    return "string"
