"""Plumbing shared by the importers: streamed file reading, problems, deterministic ids, times.

Files are read line by line through a text wrapper (gzip is detected by its magic bytes and streamed), so
memory stays bounded by the longest line. `read_lines` is the reader of the line-per-call formats; values
are converted by `tokentrail.ingest.values`. A `ByteMeter` follows the compressed bytes read from disk, for
progress bars.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from tokentrail.ingest.values import to_str
from tokentrail.model import Call

GZIP_MAGIC = b"\x1f\x8b"
TEXT_LIMIT = 500  # free-text attribute values are cut to this many characters

_READ_ERRORS = (OSError, EOFError, zlib.error)


@dataclasses.dataclass(frozen=True, slots=True)
class ImportProblem:
    """A line or record that could not be imported. ``line_no`` is 1-based; 0 means the whole file."""

    path: Path
    line_no: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line_no}: {self.message}"


class ProblemSink(Protocol):
    """Where importers report problems; a plain ``list`` is one."""

    def append(self, problem: ImportProblem, /) -> None: ...


@dataclasses.dataclass(slots=True)
class ByteMeter:
    """Counts the bytes read from disk so far (compressed bytes for gzip files)."""

    total: int = 0
    finished: int = 0
    _current: IO[bytes] | None = None

    def done(self) -> int:
        current = self._current
        if current is None or current.closed:
            return self.finished
        return min(self.finished + current.tell(), self.total) if self.total else self.finished

    def start_file(self, raw: IO[bytes]) -> None:
        self._current = raw

    def end_file(self, size: int) -> None:
        self._current = None
        self.finished += size


@dataclasses.dataclass(slots=True)
class Cursor:
    """The position an importer has reached in a file, for problem reports."""

    path: Path
    line: int = 0


FileBody = Callable[[IO[str], Cursor], Iterator[Call]]


@contextlib.contextmanager
def open_text(path: Path, meter: ByteMeter | None = None) -> Iterator[IO[str]]:
    """Open a (possibly gzipped) UTF-8 file as text, streamed; undecodable bytes become U+FFFD."""
    size = path.stat().st_size
    with path.open("rb") as raw:
        if meter is not None:
            meter.start_file(raw)
        try:
            with _decoded(raw) as text:
                yield text
        finally:
            if meter is not None:
                meter.end_file(size)


def _decoded(raw: io.BufferedReader) -> IO[str]:
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8-sig", errors="replace")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace")


def read_guarded(
    path: Path, problems: ProblemSink, meter: ByteMeter | None, body: FileBody
) -> Iterator[Call]:
    """Run ``body`` over the opened file; a read error (truncated gzip, I/O) becomes one problem."""
    cursor = Cursor(path)
    try:
        with open_text(path, meter) as text:
            yield from body(text, cursor)
    except _READ_ERRORS as exc:
        where = f" after line {cursor.line}" if cursor.line else ""
        problems.append(ImportProblem(path, cursor.line, f"cannot read file{where}: {exc}"))


def numbered(text: IO[str], cursor: Cursor) -> Iterator[tuple[int, str]]:
    """Yield ``(line_no, line)`` pairs, keeping ``cursor`` up to date."""
    for line_no, line in enumerate(text, 1):
        cursor.line = line_no
        yield line_no, line


@dataclasses.dataclass(slots=True)
class FileReader:
    """One file being read: its path, its identity in line keys (`path_key`) and where problems go."""

    path: Path
    problems: ProblemSink
    file_key: str = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.file_key = path_key(self.path)

    def problem(self, line_no: int, message: str) -> None:
        self.problems.append(ImportProblem(self.path, line_no, message))


LineParser = Callable[[str, str, dt.datetime], Call]
"""``(line, line key, file mtime) -> Call``; raises ValueError for a line it cannot read."""


def read_lines(
    path: Path,
    problems: ProblemSink,
    meter: ByteMeter | None,
    parse: LineParser,
    keep: Callable[[str], object],
) -> Iterator[Call]:
    """The calls of a file with one call per line: ``parse`` runs on each line ``keep`` accepts; a line it
    cannot read is reported to ``problems`` and skipped."""
    reader = FileReader(path, problems)

    def body(text: IO[str], cursor: Cursor) -> Iterator[Call]:
        mtime = file_mtime(path)
        for line_no, line in numbered(text, cursor):
            if keep(line):
                try:
                    yield parse(line, line_key(reader.file_key, line_no, line), mtime)
                except ValueError as exc:
                    reader.problem(line_no, str(exc))

    return read_guarded(path, problems, meter, body)


# --- files ------------------------------------------------------------------------------------------


def expand_paths(
    paths: Iterable[Path], wanted: Callable[[Path], bool], excluded: Callable[[Path], bool]
) -> list[Path]:
    """Files named directly plus, for directories, the ``wanted`` files found recursively; ``excluded``
    files are dropped either way.

    Hidden files and directories are skipped while walking. Order is stable (sorted).
    Raises FileNotFoundError for a path that does not exist.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(file for file in _walk(path, wanted) if not excluded(file))
        elif path.exists():
            if not excluded(path):
                files.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return files


def _walk(root: Path, wanted: Callable[[Path], bool]) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
        if not hidden and path.is_file() and wanted(path):
            yield path


def has_suffix(path: Path, suffixes: tuple[str, ...]) -> bool:
    name = path.name.lower()
    return name.endswith(suffixes) or (name.endswith(".gz") and name[:-3].endswith(suffixes))


# --- ids ----------------------------------------------------------------------------------------------

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


def ids_for_key(key: str) -> tuple[str, str]:
    """A deterministic ``(trace_id, span_id)``: md5 (32 hex) and the first 16 hex of sha1 of ``key``."""
    data = key.encode("utf-8", "surrogatepass")
    trace_id = hashlib.md5(data, usedforsecurity=False).hexdigest()
    span_id = hashlib.sha1(data, usedforsecurity=False).hexdigest()[:16]
    return trace_id, span_id


def path_key(path: Path) -> str:
    """The identity of a file in line keys: its absolute path."""
    return str(path.resolve())


def line_key(file_key: str, line_no: int, line: str) -> str:
    """The identity of one line: the file's `path_key`, the line number and a hash of the content."""
    digest = hashlib.sha1(line.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()
    return f"{file_key}:{line_no}:{digest}"


def hex_id(value: Any, length: int) -> str | None:
    """``value`` if it is a valid lower- or upper-case hex id of ``length`` chars (not all zeros)."""
    if not isinstance(value, str):
        return None
    low = value.strip().lower()
    pattern = _HEX32 if length == 32 else _HEX16
    return low if pattern.match(low) and low.strip("0") else None


# --- times ----------------------------------------------------------------------------------------


def file_mtime(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC).replace(tzinfo=None)


def place_in_time(call: Call, start: dt.datetime | None, end: dt.datetime | None) -> None:
    """Set start, end and duration from whichever of them are known (duration may already be set)."""
    duration = call.duration_ms
    if start is not None and end is not None:
        if duration is None:
            call.duration_ms = (end - start) / dt.timedelta(milliseconds=1)
    elif end is not None:
        start = end - dt.timedelta(milliseconds=duration) if duration is not None else end
    elif start is not None and duration is not None:
        end = start + dt.timedelta(milliseconds=duration)
    call.start_time, call.end_time = start, end


def derive_rate(call: Call) -> None:
    """Output tokens per second over the streaming duration (or the whole latency)."""
    span_ms = call.stream_duration_ms or call.duration_ms
    if call.output_tokens and span_ms and span_ms > 0 and call.output_tokens_per_s is None:
        call.output_tokens_per_s = call.output_tokens / (span_ms / 1000)


# --- values ---------------------------------------------------------------------------------------


def metadata_value(value: Any) -> str | None:
    """A metadata value as text: strings as they are, numbers and booleans spelled as in JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return to_str(value)


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- prompt shape ---------------------------------------------------------------------------------

_TEXT_KEYS = frozenset({"text", "prompt", "inputText", "content", "system", "input"})


def text_chars(value: Any, depth: int = 0, is_text: bool = True) -> int:
    """Characters of text in a prompt structure: strings reached through text-like keys (``text``,
    ``content``, ``prompt``, ...), or a bare string. Settings such as stop sequences do not count."""
    if isinstance(value, str):
        return len(value) if is_text else 0
    if depth > 16:
        return 0
    if isinstance(value, list):
        return sum(text_chars(item, depth + 1, is_text) for item in value)
    if isinstance(value, dict):
        return sum(text_chars(item, depth + 1, key in _TEXT_KEYS) for key, item in value.items())
    return 0
