"""Prompt events, the hash chain over them, and the fold that derives a prompt's state.

The events are the audit log: one append-only table (``prompt_events``), one chain per prompt. Each entry
holds the hash of the one before it (``prev_hash``, empty for the first) and its own ``hash``: SHA-256 over
the canonical JSON of every other field, ``prev_hash`` included. `verify` walks a chain in ``seq`` order and
names the first entry that was edited (its hash no longer matches), removed (a gap in ``seq`` or a broken
link) or moved (a broken link). Dropping the newest entries leaves a shorter valid chain: compare the head
hash `verify` prints with one you keep elsewhere to catch that.

`fold` is pure: the same events give the same state, so state and audit cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

from tokentrail.prompts.content import Content, sha256

CREATED, SUBMITTED, APPROVED, REJECTED = "created", "submitted", "approved", "rejected"
PROMOTED, ROLLED_BACK = "promoted", "rolled_back"
KINDS = (CREATED, SUBMITTED, APPROVED, REJECTED, PROMOTED, ROLLED_BACK)
DRAFT = "draft"


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    prompt: str
    seq: int
    kind: str
    actor: str
    authenticated: bool
    occurred_at: str  # ISO 8601 UTC, microseconds
    version: int | None = None
    from_version: int | None = None
    stage: str | None = None
    reason: str | None = None
    payload: str = "{}"  # canonical JSON: the content and message of a created version
    prev_hash: str = ""
    hash: str = ""

    def body(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        fields.pop("hash")
        return fields

    def sealed(self) -> Event:
        return dataclasses.replace(self, hash=sha256(self.body()))

    def public(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


COLUMNS = tuple(f.name for f in dataclasses.fields(Event))


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    position: int
    message: str


def verify(events: Iterable[Event]) -> list[Problem]:
    """Every break in one prompt's chain, given in stored `seq` order."""
    problems, prev = [], ""
    for position, event in enumerate(events, start=1):
        if event.seq != position:
            problems.append(Problem(event.seq, position, f"expected seq {position}: removed or reordered"))
        if event.prev_hash != prev:
            problems.append(
                Problem(event.seq, position, "link to the previous entry broken: removed or reordered")
            )
        if event.sealed().hash != event.hash:
            problems.append(Problem(event.seq, position, "content does not match its hash: edited"))
        prev = event.hash
    return problems


@dataclasses.dataclass(slots=True)
class Version:
    number: int
    content_id: str
    content: Content
    message: str
    author: str
    created_at: str
    status: str = DRAFT
    decided_by: str | None = None
    reason: str | None = None


@dataclasses.dataclass(slots=True)
class Live:
    """A version holding a stage from `since` until `until` (None: still)."""

    stage: str
    version: int
    since: str
    until: str | None = None


@dataclasses.dataclass(slots=True)
class State:
    name: str
    versions: dict[int, Version] = dataclasses.field(default_factory=dict)
    history: dict[str, list[int]] = dataclasses.field(default_factory=dict)  # per stage, the versions held
    rollbacks: dict[str, int] = dataclasses.field(default_factory=dict)
    live: list[Live] = dataclasses.field(default_factory=list)

    @property
    def stages(self) -> dict[str, int]:
        return {stage: held[-1] for stage, held in self.history.items() if held}

    def by_content(self, content_id: str) -> Version | None:
        return next((v for v in self.versions.values() if v.content_id == content_id), None)


def fold(name: str, events: Iterable[Event]) -> State:
    state = State(name)
    for event in events:
        apply(state, event)
    return state


def apply(state: State, event: Event) -> None:
    if event.kind == CREATED:
        _created(state, event)
    elif event.kind in (SUBMITTED, APPROVED, REJECTED) and event.version in state.versions:
        version = state.versions[event.version]
        version.status = event.kind
        if event.kind != SUBMITTED:
            version.decided_by, version.reason = event.actor, event.reason
    elif event.kind in (PROMOTED, ROLLED_BACK) and event.stage and event.version is not None:
        _moved(state, event, event.stage, event.version)


def _created(state: State, event: Event) -> None:
    payload: Mapping[str, Any] = json.loads(event.payload)
    content = Content.from_mapping(payload["content"])
    number = event.version or len(state.versions) + 1
    state.versions[number] = Version(
        number, content.content_id, content, payload.get("message", ""), event.actor, event.occurred_at
    )


def _moved(state: State, event: Event, stage: str, version: int) -> None:
    held = state.history.setdefault(stage, [])
    if event.kind == ROLLED_BACK:
        if held:
            held.pop()
        state.rollbacks[stage] = state.rollbacks.get(stage, 0) + 1
    if not held or held[-1] != version:
        held.append(version)
    for span in state.live:
        if span.stage == stage and span.until is None:
            span.until = event.occurred_at
    state.live.append(Live(stage, version, event.occurred_at))
