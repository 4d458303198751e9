"""Rows and Calls → Arrow tables in the logical schema, the form both stores insert.

Calls become the columns of `model.COLUMNS` plus two more, each a struct for a table of its own:
`stream_timeline` (the chunk numbers and offsets, null for a call that did not stream) and `sample` (the
redacted content and its labels, null for a call whose content was not sampled), so the ingest workers hand
over one table; the stores split it (`split_sides`) into the spans and the rows of the ``stream_timelines``
and ``samples`` tables."""

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
    SAMPLE_COLUMNS,
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
SAMPLES = TableShape(SAMPLE_COLUMNS)


class Side:
    """A table keyed by (trace_id, span_id, start_time) whose other columns travel with the spans as one
    struct column, null where a span has no row."""

    def __init__(self, table: str, field: str, shape: TableShape, columns: Columns) -> None:
        self.table, self.field, self.shape = table, field, shape
        self.names = [name for name, _, _ in columns[3:]]
        self.type = pa.struct([(name, ARROW_TYPES[kind]) for name, kind, _ in columns[3:]])

    def split(self, table: pa.Table) -> pa.Table:
        """This side's non-null rows of `table`, in the form of its own columns."""
        present = table.filter(pc.is_valid(table.column(self.field)))
        parts = present.column(self.field).combine_chunks()
        columns = [present.column(name) for name in ("trace_id", "span_id", "start_time")]
        columns += [parts.field(name) for name in self.names]
        return pa.Table.from_arrays(columns, schema=self.shape.schema)


TIMELINE = Side("stream_timelines", "stream_timeline", TIMELINES, TIMELINE_COLUMNS)
SAMPLE = Side("samples", "sample", SAMPLES, SAMPLE_COLUMNS)
SIDES = (TIMELINE, SAMPLE)


def _timeline(call: Call) -> dict[str, Any] | None:
    t = call.stream_timeline
    return None if t is None else {"chunks": t.chunks, "offsets_ms": t.offsets_ms}


def _sample(call: Call) -> dict[str, Any] | None:
    s = call.sample
    if s is None:
        return None
    labels = {name: getattr(call, name) for name in ("app", "feature", "tenant", "provider", "request_model")}
    sizes = {"reason": s.reason, "input_chars": s.input_chars, "output_chars": s.output_chars}
    return labels | sizes | {"document": _dump(s.document), "redaction": _dump(s.redaction)}


def calls_to_arrow(calls: Sequence[Call]) -> pa.Table:
    """The spans' columns, their timelines and their samples (see the module docstring)."""
    table = SPANS.table([c.row() for c in calls])
    table = table.append_column(TIMELINE.field, pa.array([_timeline(c) for c in calls], type=TIMELINE.type))
    return table.append_column(SAMPLE.field, pa.array([_sample(c) for c in calls], type=SAMPLE.type))


def split_sides(table: pa.Table) -> tuple[pa.Table, dict[str, pa.Table]]:
    """(the spans in the form of model.COLUMNS, each side table's non-null rows by table name)."""
    present = [side for side in SIDES if side.field in table.column_names]
    sides = {side.table: side.split(table) for side in present}
    return table.drop_columns([side.field for side in present]), sides


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
