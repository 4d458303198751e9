"""Importers for the LLM logs people already have (``tokentrail import``).

Kinds:

- ``bedrock-logs``: Amazon Bedrock model invocation logs (CloudWatch export, ``aws logs`` JSON, S3
  delivery layout); see `bedrock_logs`.
- ``metric-lines``: application log lines carrying ``METRIC|key=value|...``; see `metric_lines`.
- ``jsonl``: per-call JSON lines; see `jsonl`.

Every importer streams its files (gzip included) line by line or record by record, so memory stays bounded
whatever the file size. A bad line becomes an `ImportProblem` and the import goes on. Ids are
deterministic (from the Bedrock ``requestId``, or the file path, line number and line content), and the
store is idempotent on ``(trace_id, span_id)``, so importing a file twice stores it once.

Pricing is not applied here: the ingest pipeline prices the calls it is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final, Protocol

from tokentrail.model import Call

from . import bedrock_logs, jsonl, metric_lines
from ._common import ByteMeter, ImportProblem, ProblemSink, expand_paths

__all__ = ["KINDS", "CallWriter", "ImportProblem", "ImportSummary", "expand", "import_files", "iter_calls"]

KINDS: Final = ("bedrock-logs", "metric-lines", "jsonl")
MAX_KEPT_PROBLEMS: Final = 1000

Progress = Callable[[int, int], None]


class CallWriter(Protocol):
    """What `import_files` needs of a store (``tokentrail.store.base.Store`` is one)."""

    def write(self, calls: Sequence[Call]) -> int: ...


@dataclasses.dataclass(frozen=True, slots=True)
class ImportSummary:
    """The outcome of an import. ``problems`` keeps the first `MAX_KEPT_PROBLEMS`; ``problem_count`` counts
    them all. ``duplicates`` are calls read that the store already held."""

    read: int
    stored: int
    duplicates: int
    problems: list[ImportProblem]
    problem_count: int = 0
    files: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class _Importer:
    wanted: Callable[[Path], bool]
    excluded: Callable[[Path], bool]
    read: Callable[[Path, ProblemSink, ByteMeter | None], Iterator[Call]]


def _importer(kind: str) -> _Importer:
    modules = {"bedrock-logs": bedrock_logs, "metric-lines": metric_lines, "jsonl": jsonl}
    module = modules.get(kind)
    if module is None:
        raise ValueError(f"unknown import kind {kind!r}; expected one of: {', '.join(KINDS)}")
    return _Importer(module.wanted, module.excluded, module.iter_file)


def expand(kind: str, paths: Sequence[Path]) -> list[Path]:
    """The files an import of ``paths`` reads: files as given, directories walked recursively (hidden
    entries skipped, the kind's file types only). Raises FileNotFoundError for a missing path."""
    importer = _importer(kind)
    return expand_paths(paths, importer.wanted, importer.excluded)


def iter_calls(kind: str, paths: Sequence[Path], problems: list[ImportProblem]) -> Iterator[Call]:
    """The calls in ``paths``, one at a time; problems are appended to ``problems``.

    Raises ValueError for an unknown kind and FileNotFoundError for a missing path, before reading.
    """
    importer = _importer(kind)
    files = expand_paths(paths, importer.wanted, importer.excluded)
    return _calls(importer, files, problems, None)


def _calls(
    importer: _Importer,
    files: list[Path],
    problems: ProblemSink,
    meter: ByteMeter | None,
    after_file: Callable[[], None] | None = None,
) -> Iterator[Call]:
    for path in files:
        yield from importer.read(path, problems, meter)
        if after_file is not None:
            after_file()


@dataclasses.dataclass(slots=True)
class _ProblemLog:
    """Keeps the first problems, counts them all."""

    kept: list[ImportProblem] = dataclasses.field(default_factory=list)
    count: int = 0

    def append(self, problem: ImportProblem, /) -> None:
        self.count += 1
        if len(self.kept) < MAX_KEPT_PROBLEMS:
            self.kept.append(problem)


def import_files(
    kind: str,
    paths: Sequence[Path],
    store: CallWriter,
    batch_size: int = 2000,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import ``paths`` into ``store`` in batches of ``batch_size`` calls.

    ``progress(bytes_done, bytes_total)`` is called as the files are read (bytes on disk, compressed for
    gzip). A store error propagates; what was written before it stays, and a re-run skips it.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    importer = _importer(kind)
    files = expand_paths(paths, importer.wanted, importer.excluded)
    meter = ByteMeter(total=sum(path.stat().st_size for path in files))
    problems = _ProblemLog()

    def report() -> None:
        if progress is not None:
            progress(meter.done(), meter.total)

    report()
    read = stored = 0
    batch: list[Call] = []
    for call in _calls(importer, files, problems, meter, after_file=report):
        batch.append(call)
        read += 1
        if len(batch) >= batch_size:
            stored += store.write(batch)
            batch = []
            report()
    if batch:
        stored += store.write(batch)
        report()
    return ImportSummary(read, stored, read - stored, problems.kept, problems.count, len(files))
