"""Reading an archive back (what a replay does): the manifest's parts, checksummed, day by day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from tokentrail.analytics.ranges import TimeRange
from tokentrail.archive.files import Row, utc
from tokentrail.archive.target import ArchiveError, Target
from tokentrail.archive.writer import load_manifest, read_part


def read_samples(target: Target, since: dt.datetime | None = None) -> Iterator[Row]:
    """Every archived sample that started at or after `since`, oldest day first."""
    manifest = load_manifest(target, None)
    if not manifest["days"]:
        raise ArchiveError("no archive here (no _manifest.json, or it lists no days)")
    for day in sorted(manifest["days"]):
        if since is not None and day < utc(since).date().isoformat():
            continue
        for part in manifest["days"][day]["parts"]:
            for row in read_part(target, part, manifest["format"]):
                if since is None or utc(row["start_time"]) >= utc(since):
                    yield row


def since_time(since: str | None) -> dt.datetime | None:
    """The start of a `--since` window (a duration such as 7d), or None for everything."""
    return None if since is None else TimeRange.resolve(since).start
