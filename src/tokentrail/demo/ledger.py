"""What the demo sent: one entry per LLM call, written next to the database as ``<db>.ledger.json``.

Entries hold the call's labels, provider, requested model, outcome, the attempts the SDK's retry policy
makes for it, the degradation reason, and its tokens as the provider reported them in its response,
normalised to the OpenTelemetry rule (input includes cache reads and writes; 0 for a failed call). A test
compares the ledger with what the collector stored.

`labelled` sets labels for tokentrail (``tokentrail.labels``) and, alongside, for the ledger, so both see
exactly the same values without reading tokentrail's internals.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import tokentrail

_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_LABELS: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "tokentrail_demo_labels", default=_NO_LABELS
)
_SCENARIO: contextvars.ContextVar[str] = contextvars.ContextVar("tokentrail_demo_scenario", default="")
_DEGRADED: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tokentrail_demo_degraded", default=None
)
_TRACE: contextvars.ContextVar[str | None] = contextvars.ContextVar("tokentrail_demo_trace", default=None)


@contextlib.contextmanager
def labelled(**values: object) -> Iterator[None]:
    """``tokentrail.labels(**values)``, also remembered for the ledger (None removes a label)."""
    merged = {**_LABELS.get()}
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    token = _LABELS.set(merged)
    try:
        with tokentrail.labels(**values):
            yield
    finally:
        _LABELS.reset(token)


@contextlib.contextmanager
def degraded(reason: str) -> Iterator[None]:
    """``tokentrail.degraded(reason)`` as a block; calls inside are marked in the ledger too."""
    token = _DEGRADED.set(reason)
    try:
        with tokentrail.degraded(reason):
            yield
    finally:
        _DEGRADED.reset(token)


@contextlib.contextmanager
def traced(name: str) -> Iterator[None]:
    """``tokentrail.trace(name)``; calls inside are marked with the agent's name in the ledger."""
    token = _TRACE.set(name)
    try:
        with tokentrail.trace(name):
            yield
    finally:
        _TRACE.reset(token)


@contextlib.contextmanager
def in_scenario(name: str) -> Iterator[None]:
    token = _SCENARIO.set(name)
    try:
        yield
    finally:
        _SCENARIO.reset(token)


@dataclasses.dataclass(slots=True)
class Entry:
    scenario: str
    labels: dict[str, str]
    provider: str
    model: str
    api: str  # chat, responses, embeddings, messages, converse, invoke
    stream: bool
    status: str = "ok"  # ok | error
    error: str | None = None  # the exception type, or the stop reason of a filtered answer
    attempts: int = 1
    degraded: str | None = None
    trace: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


class Ledger:
    """Entries appended from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self._per_scenario: Counter[str] = Counter()

    def start(self, provider: str, model: str, api: str, stream: bool) -> Entry:
        """A new entry for a call about to be made, with the labels and markers in force."""
        return Entry(
            _SCENARIO.get(), dict(_LABELS.get()), provider, model, api, stream,
            degraded=_DEGRADED.get(), trace=_TRACE.get(),
        )  # fmt: skip

    def add(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)
            self._per_scenario[entry.scenario] += 1

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def per_scenario(self) -> Counter[str]:
        """Calls made so far by each scenario."""
        with self._lock:
            return Counter(self._per_scenario)

    def write(self, path: Path, meta: Mapping[str, Any]) -> None:
        data = {**meta, "calls": [dataclasses.asdict(e) for e in self.entries()]}
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def read(path: Path) -> tuple[dict[str, Any], list[Entry]]:
    """A ledger file's metadata and entries."""
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = [Entry(**raw) for raw in data.pop("calls")]
    return data, entries
