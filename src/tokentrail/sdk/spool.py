"""A bounded disk spool of encoded OTLP batches, for when the collector cannot be reached.

Each batch is one file, ``<time_ns>-<pid>-<seq>-<spans>.otlp.gz`` (the gzipped protobuf body, ready to
send), written to a temporary name and renamed, so a reader never sees half a file. Names sort oldest first.
When the folder would exceed its size cap the oldest files are deleted and their spans counted as dropped.
Several processes may share a folder: the collector is idempotent on (trace_id, span_id), so a batch sent
twice is stored once, and a file already taken by another process is skipped.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Final

SUFFIX: Final = ".otlp.gz"


def spans_in(path: Path) -> int:
    try:
        return int(path.name[: -len(SUFFIX)].rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


class Spool:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._seq = itertools.count()

    def files(self) -> list[Path]:
        """Spooled batches, oldest first."""
        try:
            names = sorted(p for p in self.folder.iterdir() if p.name.endswith(SUFFIX))
        except FileNotFoundError:
            return []
        return names

    def size(self) -> int:
        total = 0
        for path in self.files():
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def put(self, payload: bytes, spans: int) -> int:
        """Store one batch; returns the number of spans dropped to stay under the cap (this one included)."""
        if len(payload) > self.max_bytes:
            return spans
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq)}-{spans}{SUFFIX}"
        temp = self.folder / f".{name}.tmp"
        temp.write_bytes(payload)
        os.replace(temp, self.folder / name)
        return self._trim()

    def _trim(self) -> int:
        files = self.files()
        sizes = []
        for path in files:
            try:
                sizes.append(path.stat().st_size)
            except FileNotFoundError:
                sizes.append(0)
        total, dropped = sum(sizes), 0
        for path, size in zip(files, sizes, strict=True):
            if total <= self.max_bytes:
                break
            dropped += self.remove(path)
            total -= size
        return dropped

    def read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:  # another process took it
            return None

    def remove(self, path: Path) -> int:
        """Delete a file; returns its span count (0 if it was already gone)."""
        try:
            path.unlink()
        except FileNotFoundError:
            return 0
        return spans_in(path)
