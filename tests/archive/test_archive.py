"""`tokentrail archive`: day partitions with a checksummed manifest, locally and on moto's S3; nothing raw
in the files; re-runs add nothing; new samples land in a new part; pyarrow reads it back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pyarrow.dataset as ds
import pyarrow.fs
import pytest
import zstandard

from archive_data import DAY1, DAY2, add_samples, assert_nothing_raw, content_span, local_files
from tokentrail.archive.files import decode
from tokentrail.archive.reader import read_samples
from tokentrail.archive.target import ArchiveError, LocalTarget, open_target
from tokentrail.archive.writer import MANIFEST, archive
from tokentrail.store import Store

D1, D2 = DAY1.date().isoformat(), DAY2.date().isoformat()


def check_manifest(manifest: dict[str, Any], blobs: dict[str, bytes], days: dict[str, int]) -> None:
    assert {d: e["samples"] for d, e in manifest["days"].items()} == days
    assert manifest["samples"] == sum(days.values())
    for entry in manifest["days"].values():
        for part in entry["parts"]:
            assert hashlib.sha256(blobs[part["file"]]).hexdigest() == part["sha256"]
    parts = [p["file"] for e in manifest["days"].values() for p in e["parts"]]
    assert sorted(parts) == sorted(k for k in blobs if k != MANIFEST)


async def test_local_parquet_archive_reads_back_with_hive_partitioning(
    sampled: Store, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    report = archive(sampled, LocalTarget(root))
    assert report.written == {D1: 3, D2: 2} and report.total == 5
    blobs = local_files(root)
    check_manifest(json.loads(blobs[MANIFEST]), blobs, {D1: 3, D2: 2})
    assert sorted(blobs) == [MANIFEST, f"day={D1}/part-00000.parquet", f"day={D2}/part-00000.parquet"]
    assert_nothing_raw(blobs)
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    rows = table.to_pylist()
    assert sorted(str(r["day"]) for r in rows) == [D1] * 3 + [D2] * 2
    stored = {tuple(r) for r in sampled.query("SELECT trace_id, span_id FROM samples").rows}
    assert {(r["trace_id"], r["span_id"]) for r in rows} == stored
    doc = json.loads(rows[0]["document"])
    assert "<EMAIL_1>" in json.dumps(doc) and doc["provider"] == "openai"


async def test_rerun_adds_nothing_and_new_samples_get_a_new_part(sampled: Store, tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "a")
    archive(sampled, target)
    before = local_files(tmp_path / "a")
    again = archive(sampled, target)
    assert again.written == {} and again.skipped == 2 and again.total == 5
    assert local_files(tmp_path / "a") == before
    await add_samples(sampled, [content_span(n, DAY2) for n in (7, 8)])
    third = archive(sampled, target)
    assert third.written == {D2: 2} and third.skipped == 1 and third.total == 7
    blobs = local_files(tmp_path / "a")
    check_manifest(json.loads(blobs[MANIFEST]), blobs, {D1: 3, D2: 4})
    new_part = decode(blobs[f"day={D2}/part-00001.parquet"], "parquet")
    assert sorted(r["span_id"] for r in new_part) == [f"{8:016x}", f"{9:016x}"]
    ids = [(r["trace_id"], r["span_id"]) for r in read_samples(target)]
    assert len(ids) == len(set(ids)) == sampled.query("SELECT count(*) FROM samples").rows[0][0]


async def test_jsonl_zst_archive_and_since(sampled: Store, tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "j")
    report = archive(sampled, target, "jsonl.zst", since=DAY2)
    assert report.written == {D2: 2}
    blobs = local_files(tmp_path / "j")
    assert_nothing_raw(blobs)
    text = zstandard.ZstdDecompressor().decompressobj().decompress(blobs[f"day={D2}/part-00000.jsonl.zst"])
    lines = [json.loads(line) for line in text.decode().splitlines()]
    assert [line["feature"] for line in lines] == ["support", "support"]
    assert archive(sampled, target, "jsonl.zst").written == {D1: 3}
    with pytest.raises(ArchiveError, match=r"holds jsonl\.zst files"):
        archive(sampled, target, "parquet")


async def test_s3_archive_on_moto_reads_back_with_pyarrow(sampled: Store, moto_s3: str, bucket: str) -> None:
    target = open_target(f"s3://{bucket}/cold/samples", s3_endpoint=moto_s3)
    assert archive(sampled, target).written == {D1: 3, D2: 2}
    assert archive(sampled, target).written == {}
    s3 = boto3.client("s3", endpoint_url=moto_s3)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="cold/samples/")["Contents"]
    blobs = {
        o["Key"].removeprefix("cold/samples/"): s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        for o in listed
    }
    check_manifest(json.loads(blobs[MANIFEST]), blobs, {D1: 3, D2: 2})
    assert_nothing_raw(blobs)
    host = moto_s3.removeprefix("http://")
    fs = pyarrow.fs.S3FileSystem(
        endpoint_override=host, scheme="http", access_key="testing", secret_key="testing", region="us-east-1"
    )
    table = ds.dataset(f"{bucket}/cold/samples", filesystem=fs, format="parquet", partitioning="hive")
    assert table.count_rows() == 5
    assert sorted({str(d) for d in table.to_table(columns=["day"]).column("day").to_pylist()}) == [D1, D2]


async def test_reading_back_since_a_time_is_what_replay_since_picks(sampled: Store, tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "r")
    archive(sampled, target)
    assert [r["start_time"].date().isoformat() for r in read_samples(target, DAY2)] == [D2, D2]
    assert len(list(read_samples(target))) == 5
