"""Where an archive lives: a local directory or an S3 prefix, seen as keys holding bytes.

S3 goes through boto3 with an optional endpoint (``--s3-endpoint`` or ``AWS_ENDPOINT_URL``), so MinIO and
other S3-compatible stores work. Nothing else reaches the network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from tokentrail.exceptions import ExternalError


class ArchiveError(ExternalError):
    """A clear, user-facing problem with an archive location or its contents."""


class Target(Protocol):
    def read(self, key: str) -> bytes | None: ...

    def write(self, key: str, data: bytes) -> None: ...

    def keys(self) -> list[str]: ...


class LocalTarget:
    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def write(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(data)
        partial.replace(path)  # a reader never sees half a file

    def keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())


class S3Target:
    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket, self.prefix, self.client = bucket, prefix.strip("/"), client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> bytes | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except self.client.exceptions.NoSuchKey:
            return None
        return bytes(body.read())

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def keys(self) -> list[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
        return sorted(obj["Key"][len(start) :] for page in pages for obj in page.get("Contents", []))


def s3_client(endpoint: str | None) -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise ArchiveError("an s3:// archive needs boto3: pip install 'tokentrail[providers]'") from exc
    return boto3.client("s3", endpoint_url=endpoint or os.environ.get("AWS_ENDPOINT_URL") or None)


def open_target(location: str, s3_endpoint: str | None = None) -> Target:
    """A directory path, or ``s3://bucket/prefix``."""
    if location.startswith("s3://"):
        bucket, _, prefix = location[len("s3://") :].partition("/")
        if not bucket:
            raise ArchiveError(f"{location!r} names no bucket; write s3://bucket/prefix")
        return S3Target(bucket, prefix, s3_client(s3_endpoint))
    if "://" in location:
        raise ArchiveError(f"{location!r}: an archive is a directory or s3://bucket/prefix")
    return LocalTarget(Path(location))
