"""`tokentrail archive`: copy the samples table, day by day, into part files with a manifest.

Layout (Hive style, so pyarrow, Spark or DuckDB read it as a partitioned dataset)::

    <root>/_manifest.json
    <root>/day=2026-12-01/part-00000.parquet
    <root>/day=2026-12-01/part-00001.parquet     # samples that arrived after the first run

The manifest is ``_manifest.json`` because dataset readers skip files whose names start with ``_``; it holds,
per day, the samples archived, a digest of their ids, and each part's file, row count and sha256.

Re-running adds nothing: a day whose sample ids digest matches the manifest is skipped; a day that gained
samples gets one new part holding only the new ones, so every sample is in exactly one part. A part is written
before the manifest names it, so an interrupted run leaves at worst an unnamed part that the next run
overwrites.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

from tokentrail.archive.files import FORMATS, NAMES, Row, decode, encode, normal, utc
from tokentrail.archive.target import ArchiveError, Target
from tokentrail.store import Store

MANIFEST = "_manifest.json"
VERSION = 1
DAY = dt.timedelta(days=1)


@dataclasses.dataclass
class Report:
    written: dict[str, int] = dataclasses.field(default_factory=dict)  # day -> samples in its new part
    skipped: int = 0  # days already archived
    total: int = 0  # samples in the archive after the run


def load_manifest(target: Target, fmt: str | None) -> dict[str, Any]:
    """The archive's manifest (a fresh one for an empty location); `fmt` None accepts the archive's own."""
    raw = target.read(MANIFEST)
    if raw is None:
        return {"version": VERSION, "format": fmt or "parquet", "samples": 0, "days": {}}
    manifest: dict[str, Any] = json.loads(raw)
    if fmt is not None and manifest.get("format") != fmt:
        raise ArchiveError(f"this archive holds {manifest.get('format')} files; pass --format to match")
    return manifest


def ids_digest(ids: set[tuple[str, str]]) -> str:
    return hashlib.sha256("\n".join(f"{t}:{s}" for t, s in sorted(ids)).encode()).hexdigest()


def read_part(target: Target, part: dict[str, Any], fmt: str) -> list[Row]:
    """A part's rows, after checking its sha256 against the manifest."""
    data = target.read(part["file"])
    if data is None or hashlib.sha256(data).hexdigest() != part["sha256"]:
        raise ArchiveError(f"archive part {part['file']} is missing or does not match its checksum")
    return decode(data, fmt)


def _day_rows(store: Store, day: dt.date) -> list[Row]:
    start = dt.datetime.combine(day, dt.time())
    sql = f"SELECT {', '.join(NAMES)} FROM samples WHERE start_time >= ? AND start_time < ? ORDER BY span_id"
    result = store.query(sql, [start, start + DAY])
    return [normal(dict(zip(result.columns, row, strict=True))) for row in result.rows]


def _days(store: Store, since: dt.datetime | None) -> list[dt.date]:
    result = store.query(
        "SELECT min(start_time), max(start_time) FROM samples WHERE start_time >= ?",
        [since or dt.datetime(1970, 1, 1)],
    )
    first, last = result.rows[0]
    if first is None:
        return []
    first_day, last_day = utc(first).date(), utc(last).date()
    return [first_day + dt.timedelta(days=n) for n in range((last_day - first_day).days + 1)]


def _archive_day(target: Target, manifest: dict[str, Any], day: str, rows: list[Row]) -> int:
    """Write the day's samples that no part holds yet; the number written."""
    fmt = manifest["format"]
    entry = manifest["days"].setdefault(day, {"samples": 0, "ids_sha256": ids_digest(set()), "parts": []})
    ids = {(r["trace_id"], r["span_id"]) for r in rows}
    if ids_digest(ids) == entry["ids_sha256"]:
        return 0
    done = {(r["trace_id"], r["span_id"]) for p in entry["parts"] for r in read_part(target, p, fmt)}
    new = [r for r in rows if (r["trace_id"], r["span_id"]) not in done]
    if new:
        data = encode(new, fmt)
        name = f"day={day}/part-{len(entry['parts']):05d}.{FORMATS[fmt]}"
        target.write(name, data)
        part = {"file": name, "samples": len(new), "sha256": hashlib.sha256(data).hexdigest()}
        entry["parts"].append(part | {"bytes": len(data)})
        entry["samples"] += len(new)
    entry["ids_sha256"] = ids_digest(done | ids)
    return len(new)


def archive(store: Store, target: Target, fmt: str = "parquet", since: dt.datetime | None = None) -> Report:
    """Archive the samples that started at or after `since` (all of them when None)."""
    if fmt not in FORMATS:
        raise ArchiveError(f"unknown archive format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    manifest = load_manifest(target, fmt)
    report = Report()
    for day in _days(store, since):
        rows = [r for r in _day_rows(store, day) if since is None or r["start_time"] >= utc(since)]
        written = _archive_day(target, manifest, day.isoformat(), rows) if rows else 0
        if written:
            report.written[day.isoformat()] = written
            manifest["samples"] = sum(d["samples"] for d in manifest["days"].values())
            target.write(MANIFEST, json.dumps(manifest, indent=1).encode())
        elif rows:
            report.skipped += 1
    report.total = sum(d["samples"] for d in manifest["days"].values())
    return report
