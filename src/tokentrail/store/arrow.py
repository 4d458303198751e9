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
    LOG_RECORD_COLUMNS,
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


_JSON = json.JSONEncoder(separators=(",", ":"), default=str)  # built once: json.dumps builds one per call


def _dump(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if type(value) is dict and not value:  # most calls' metadata and attributes
        return "{}"
    return _JSON.encode(value)


class TableShape:
    """The Arrow schema of a table (its `columns`, then any `extra` fields) and which columns need JSON
    dumping or UTC normalising."""

    def __init__(self, columns: Columns, extra: Sequence[pa.Field] = ()) -> None:
        self.schema = pa.schema([*((name, ARROW_TYPES[kind]) for name, kind, _ in columns), *extra])
        self.row_type = pa.struct(self.schema)
        self.json_idx = [i for i, (_, kind, _) in enumerate(columns) if kind == JSON]
        self.time_idx = [i for i, (_, kind, _) in enumerate(columns) if kind == TIME]

    def batch(self, rows: Sequence[Sequence[Any]]) -> pa.RecordBatch:
        """The rows (values in schema order) as one record batch, built in one conversion, as one struct
        array: converting column by column costs ~4 µs per column and table (~250 µs for a table of calls)."""
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) or [() for _ in self.schema]
        for i in self.json_idx:
            columns[i] = [_dump(v) for v in columns[i]]
        for i in self.time_idx:
            columns[i] = [v if v is None or v.tzinfo is None else _naive_utc(v) for v in columns[i]]
        rows = list(zip(*columns, strict=True))
        return pa.RecordBatch.from_struct_array(pa.array(rows, type=self.row_type))

    def table(self, rows: Sequence[Sequence[Any]]) -> pa.Table:
        return pa.Table.from_batches([self.batch(rows)])


METRICS = TableShape(METRIC_COLUMNS)
TIMELINES = TableShape(TIMELINE_COLUMNS)
SAMPLES = TableShape(SAMPLE_COLUMNS)
LOG_RECORDS = TableShape(LOG_RECORD_COLUMNS)


class Side:
    """A table keyed by (trace_id, span_id, start_time) whose other columns travel with the spans as one
    struct column, null where a span has no row."""

    def __init__(self, table: str, field: str, shape: TableShape, columns: Columns) -> None:
        self.table, self.field, self.shape = table, field, shape
        self.names = [name for name, _, _ in columns[3:]]
        self.type = pa.struct([(name, ARROW_TYPES[kind]) for name, kind, _ in columns[3:]])

    def split(self, table: pa.Table) -> pa.Table:
        """This side's non-null rows of `table`, in the form of its own columns."""
        if table.column(self.field).null_count == table.num_rows:  # the usual case, at a tenth of the cost
            return self.shape.schema.empty_table()
        present = table.filter(pc.is_valid(table.column(self.field)))
        parts = present.column(self.field).combine_chunks()
        columns = [present.column(name) for name in ("trace_id", "span_id", "start_time")]
        columns += [parts.field(name) for name in self.names]
        return pa.Table.from_arrays(columns, schema=self.shape.schema)


TIMELINE = Side("stream_timelines", "stream_timeline", TIMELINES, TIMELINE_COLUMNS)
SAMPLE = Side("samples", "sample", SAMPLES, SAMPLE_COLUMNS)
SIDES = (TIMELINE, SAMPLE)
SPANS = TableShape(COLUMNS, [pa.field(side.field, side.type) for side in SIDES])


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


def calls_to_batch(calls: Sequence[Call]) -> pa.RecordBatch:
    """The spans' columns, their timelines and their samples (see the module docstring)."""
    return SPANS.batch([(*c.row(), _timeline(c), _sample(c)) for c in calls])


def calls_to_arrow(calls: Sequence[Call]) -> pa.Table:
    return pa.Table.from_batches([calls_to_batch(calls)])


def calls_to_ipc(calls: Sequence[Call]) -> bytes:
    """`calls_to_batch` as an Arrow IPC message without the schema, which both ends know (`SPANS`): a
    message per table of a few calls costs half as much to write and read as an IPC stream."""
    return bytes(calls_to_batch(calls).serialize().to_pybytes())


def calls_from_ipc(data: bytes) -> pa.Table:
    """The table `calls_to_ipc` wrote, reading `data` in place (no copy)."""
    return pa.Table.from_batches([pa.ipc.read_record_batch(pa.py_buffer(data), SPANS.schema)])


def split_sides(table: pa.Table) -> tuple[pa.Table, dict[str, pa.Table]]:
    """(the spans in the form of model.COLUMNS, each side table's non-null rows by table name)."""
    present = [side for side in SIDES if table.schema.get_field_index(side.field) >= 0]  # not column_names
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
