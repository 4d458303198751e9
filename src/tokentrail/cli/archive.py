"""`tokentrail archive`: write the sampled (already redacted) content to day-partitioned files."""

from __future__ import annotations

import typer

from tokentrail.analytics import BadRequest
from tokentrail.archive.reader import since_time
from tokentrail.archive.target import ArchiveError, open_target
from tokentrail.archive.writer import archive as run_archive
from tokentrail.cli.common import fail, opened_store, say


def register(app: typer.Typer) -> None:
    @app.command()
    def archive(
        db: str = typer.Option(None, help="Store URL or DuckDB file [env TOKENTRAIL_DB]"),
        to: str = typer.Option(
            None, "--to", help="Directory or s3://bucket/prefix [env TOKENTRAIL_ARCHIVE_TO]"
        ),
        fmt: str = typer.Option("parquet", "--format", help="parquet or jsonl.zst"),
        since: str = typer.Option(None, help="Only samples this recent (e.g. 7d) [default: all]"),
        s3_endpoint: str = typer.Option(None, help="S3 endpoint URL, e.g. MinIO [env AWS_ENDPOINT_URL]"),
    ) -> None:
        """Archive sampled prompt/response pairs by day (Hive style, a manifest); re-running adds nothing."""
        from tokentrail.settings import Settings

        location = to or Settings().archive_to
        if not location:
            fail("say where to archive: --to DIR or s3://bucket/prefix (or set TOKENTRAIL_ARCHIVE_TO)")
        try:
            start = since_time(since)
            with opened_store(db, read_only=True) as store:
                report = run_archive(store, open_target(location, s3_endpoint), fmt, start)
        except (ArchiveError, BadRequest, ValueError) as exc:
            fail(str(exc))
        for day, count in sorted(report.written.items()):
            say(f"day={day}: {count} new samples")
        say(
            f"archived {sum(report.written.values())} samples to {location} "
            f"({report.skipped} days unchanged; {report.total} samples in the archive)"
        )
