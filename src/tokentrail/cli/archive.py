"""`tokentrail archive`: write the sampled (already redacted) content to day-partitioned files."""

from __future__ import annotations

from typing import Annotated

import typer

from tokentrail.archive.reader import since_time
from tokentrail.archive.target import open_target
from tokentrail.archive.writer import archive as run_archive
from tokentrail.cli.common import fail, opened_store, say
from tokentrail.cli.options import Db, SamplesSince
from tokentrail.settings import Settings

To = Annotated[
    str | None, typer.Option("--to", help="Directory or s3://bucket/prefix [env TOKENTRAIL_ARCHIVE_TO]")
]
S3Endpoint = Annotated[str | None, typer.Option(help="S3 endpoint URL, e.g. MinIO [env AWS_ENDPOINT_URL]")]


def archive(
    db: Db = None,
    to: To = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet or jsonl.zst")] = "parquet",
    since: SamplesSince = None,
    s3_endpoint: S3Endpoint = None,
) -> None:
    """Archive sampled prompt/response pairs by day (Hive style, a manifest); re-running adds nothing."""
    location = to or Settings().archive_to
    if not location:
        fail("say where to archive: --to DIR or s3://bucket/prefix (or set TOKENTRAIL_ARCHIVE_TO)")
    start = since_time(since)
    with opened_store(db, read_only=True) as store:
        report = run_archive(store, open_target(location, s3_endpoint), fmt, start)
    for day, count in sorted(report.written.items()):
        say(f"day={day}: {count} new samples")
    say(
        f"archived {sum(report.written.values())} samples to {location} "
        f"({report.skipped} days unchanged; {report.total} samples in the archive)"
    )
