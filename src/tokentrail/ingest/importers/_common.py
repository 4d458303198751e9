"""Plumbing shared by the importers: streamed file reading, problems, deterministic ids, times, numbers.

Files are read line by line through a text wrapper (gzip is detected by its magic bytes and streamed), so
memory stays bounded by the longest line. A `ByteMeter` follows the compressed bytes read from disk, for
progress bars.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import math
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

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

_EPOCH = dt.datetime(1970, 1, 1)  # times are naive UTC, as everywhere in tokentrail
_EARLIEST = dt.datetime(2000, 1, 1)  # smaller epoch numbers are not times
_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")


def parse_time(value: Any) -> dt.datetime | None:
    """A naive UTC datetime from ISO-8601 text or epoch seconds/ms/µs/ns; text without a zone is UTC."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if _NUMERIC.match(text):
        return _from_epoch(float(text))
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed
    return parsed.astimezone(dt.UTC).replace(tzinfo=None)


def _from_epoch(number: float) -> dt.datetime | None:
    if not math.isfinite(number) or number <= 0:
        return None
    magnitude = abs(number)
    if magnitude >= 1e17:
        number /= 1e9
    elif magnitude >= 1e14:
        number /= 1e6
    elif magnitude >= 1e11:
        number /= 1e3
    try:
        moment = _EPOCH + dt.timedelta(seconds=number)
    except OverflowError:
        return None
    return moment if moment >= _EARLIEST else None


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


def to_int(value: Any) -> int | None:
    """A non-negative int from an int, an integral float or a numeric string; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    number = to_float(value)
    if number is None or number < 0 or not number.is_integer():
        return None
    return int(number)


def to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    numeric = isinstance(value, int | float) or (isinstance(value, str) and _NUMERIC.match(value.strip()))
    if not numeric:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def to_str(value: Any) -> str | None:
    """A non-empty stripped string from a string or a number; else None."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def metadata_value(value: Any) -> str | None:
    """A metadata value as text: strings as they are, numbers and booleans spelled as in JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return to_str(value)


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y"):
        return True
    if text in ("false", "0", "no", "n"):
        return False
    return None


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
