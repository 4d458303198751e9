"""The importers' public API: iter_calls, import_files, batching, progress, idempotence, bounded memory."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest

import tokentrail.ingest.importers as importers
from tokentrail.ingest.importers import KINDS, ImportProblem, ImportSummary, import_files, iter_calls
from tokentrail.model import Call


class FakeStore:
    """Dedups on (trace_id, span_id), as the real stores do; keeps the batch sizes it saw."""

    def __init__(self) -> None:
        self.keys: set[tuple[str, str]] = set()
        self.batches: list[int] = []

    def write(self, calls: Sequence[Call]) -> int:
        self.batches.append(len(calls))
        before = len(self.keys)
        self.keys.update((call.trace_id, call.span_id) for call in calls)
        return len(self.keys) - before


class CountingStore:
    """Keeps nothing, so that only the importer's own memory is measured."""

    def __init__(self) -> None:
        self.rows = 0

    def write(self, calls: Sequence[Call]) -> int:
        self.rows += len(calls)
        return len(calls)


def jsonl_line(index: int, prompt: str = "") -> str:
    record: dict[str, object] = {
        "ts": f"2025-01-15T14:{index // 60 % 60:02d}:{index % 60:02d}Z",
        "feature": f"feature-{index % 7}",
        "model": "gpt-4o-mini",
        "latency_ms": 100 + index % 900,
        "input": 1000 + index,
        "output": 50,
    }
    if prompt:
        record["prompt"] = prompt
    return json.dumps(record) + "\n"


def write_jsonl(path: Path, lines: int, prompt: str = "") -> None:
    with path.open("w") as handle:
        handle.writelines(jsonl_line(index, prompt) for index in range(lines))


def test_kinds_and_errors_before_reading(tmp_path: Path) -> None:
    assert KINDS == ("bedrock-logs", "metric-lines", "jsonl")
    with pytest.raises(ValueError, match="unknown import kind 'csv'"):
        iter_calls("csv", [tmp_path], [])
    with pytest.raises(FileNotFoundError):
        iter_calls("jsonl", [tmp_path / "missing.jsonl"], [])
    with pytest.raises(ValueError, match="batch_size"):
        import_files("jsonl", [tmp_path], FakeStore(), batch_size=0)


def test_reimport_stores_nothing_new(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", 25)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jsonl.gz").write_bytes(
        gzip.compress(b"".join(jsonl_line(i).encode() for i in range(5)))
    )
    (tmp_path / "sub" / "bad.jsonl").write_text("{nope\n")
    store = FakeStore()
    first = import_files("jsonl", [tmp_path], store, batch_size=10)
    assert (first.read, first.stored, first.duplicates, first.files) == (30, 30, 0, 3)
    assert first.problem_count == 1 and first.problems[0].line_no == 1
    assert max(store.batches) == 10
    again = import_files("jsonl", [tmp_path], store, batch_size=10)
    assert (again.read, again.stored, again.duplicates) == (30, 0, 30)


def test_progress_reports_bytes_up_to_the_total(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", 3000)
    (tmp_path / "b.jsonl.gz").write_bytes(
        gzip.compress(b"".join(jsonl_line(i).encode() for i in range(3000)))
    )
    total = sum(path.stat().st_size for path in tmp_path.iterdir())
    seen: list[tuple[int, int]] = []
    summary = import_files(
        "jsonl", [tmp_path], FakeStore(), batch_size=500, progress=lambda d, t: seen.append((d, t))
    )
    assert summary.stored == 6000
    assert {t for _, t in seen} == {total}
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[0] == 0 and done[-1] == total
    assert len(set(done)) > 4  # it moved during the import, not only at the end


def test_problems_are_capped_but_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importers, "MAX_KEPT_PROBLEMS", 3)
    (tmp_path / "bad.jsonl").write_text("x\n" * 10)
    summary = import_files("jsonl", [tmp_path / "bad.jsonl"], FakeStore())
    assert isinstance(summary, ImportSummary)
    assert (summary.read, summary.problem_count, len(summary.problems)) == (0, 10, 3)


def test_every_kind_reads_a_directory(tmp_path: Path) -> None:
    (tmp_path / "m.log").write_text("METRIC|event=span|name=llm|ms=5\n")
    record = {"schemaType": "ModelInvocationLog", "requestId": "r-1", "modelId": "m", "operation": "Converse"}
    (tmp_path / "b.json").write_text(json.dumps(record) + "\n")
    problems: list[ImportProblem] = []
    assert [call.source for call in iter_calls("metric-lines", [tmp_path], problems)] == ["metric-line"]
    assert [call.source for call in iter_calls("bedrock-logs", [tmp_path / "b.json"], problems)] == [
        "bedrock-log"
    ]
    assert problems == []


def test_large_file_imports_in_bounded_memory(tmp_path: Path) -> None:
    # 40k lines carrying a 600-character prompt each (which the importer reads and drops): ~30 MB.
    path = tmp_path / "big.jsonl"
    lines = 40_000
    write_jsonl(path, lines, prompt="Summarise the following support ticket. " * 15)
    size = path.stat().st_size
    store = CountingStore()
    tracemalloc.start()
    try:
        summary = import_files("jsonl", [path], store)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.read == summary.stored == store.rows == lines
    assert size > 20_000_000
    assert peak < size / 5, f"peak {peak} bytes for a {size}-byte file"
