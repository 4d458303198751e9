"""One part file of an archive: samples rows to Parquet or zstd-compressed JSON lines, and back.

Rows hold the `samples` table's columns (model.SAMPLE_COLUMNS) with `document` and `redaction` as JSON text;
the day is not a column of the file, it is the Hive partition (`day=YYYY-MM-DD/`) the file sits in.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from tokentrail.model import SAMPLE_COLUMNS

Row = dict[str, Any]
FORMATS = {"parquet": "parquet", "jsonl.zst": "jsonl.zst"}  # format name -> file extension
NAMES = [name for name, _, _ in SAMPLE_COLUMNS]
TYPES = {"start_time": pa.timestamp("us", tz="UTC"), "input_chars": pa.int64(), "output_chars": pa.int64()}
SCHEMA = pa.schema([(name, TYPES.get(name, pa.string())) for name in NAMES])


def utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def normal(row: Row) -> Row:
    """A row as archived: UTC start time, JSON columns as text."""
    out = {name: row.get(name) for name in NAMES}
    out["start_time"] = utc(row["start_time"])
    for name in ("document", "redaction"):
        if not isinstance(out[name], str):
            out[name] = json.dumps(out[name], ensure_ascii=False)
    return out


def encode(rows: list[Row], fmt: str) -> bytes:
    if fmt == "parquet":
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), sink, compression="zstd")
        return sink.getvalue()
    lines = (json.dumps(r | {"start_time": r["start_time"].isoformat()}, ensure_ascii=False) for r in rows)
    return zstandard.ZstdCompressor().compress("".join(f"{line}\n" for line in lines).encode())


def decode(data: bytes, fmt: str) -> list[Row]:
    if fmt == "parquet":
        return list(pq.read_table(io.BytesIO(data)).to_pylist())
    text = zstandard.ZstdDecompressor().decompressobj().decompress(data).decode()
    rows = [json.loads(line) for line in text.splitlines() if line]
    for row in rows:
        row["start_time"] = dt.datetime.fromisoformat(row["start_time"])
    return rows
