"""The prompt registry over a store: every change is one appended, hash-chained event (events.py).

Errors (in the tree of `tokentrail.exceptions`; server/errors.py gives each its HTTP status):
    PromptError            base class
    ├── PromptInvalid      a bad name, stage or content
    ├── PromptNotFound     no such prompt or version
    ├── PromptForbidden    the actor may not do this (approving their own version)
    └── PromptConflict     the state forbids it (promoting an unapproved or rejected version to a stage
                           that requires approval; rolling back a stage with no earlier version)

A refused action appends nothing. Appends are serialised by the registry's lock; run one server per store
(the DuckDB file allows one writer process anyway).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
from collections.abc import Sequence
from typing import Any

from tokentrail.exceptions import TokentrailError
from tokentrail.prompts import events as ev
from tokentrail.prompts.content import Content, canonical_json
from tokentrail.prompts.events import Event, State, Version
from tokentrail.store import Store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DEFAULT_STAGES = ("dev", "staging", "prod")


class PromptError(TokentrailError):
    """The registry refuses an action; the message says why."""


class PromptInvalid(PromptError):
    """A bad prompt name, stage or content."""


class PromptNotFound(PromptError):
    """No such prompt or version."""


class PromptForbidden(PromptError):
    """The actor may not do this."""


class PromptConflict(PromptError):
    """The prompt's state forbids the action."""


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a key's name (authenticated) or a name given locally (unauthenticated)."""

    name: str
    authenticated: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Stages:
    """The stage names, in order; the last one (``prod`` by default) always requires approval."""

    names: tuple[str, ...] = DEFAULT_STAGES
    approval: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, names: str, approval: str) -> Stages:
        listed = tuple(n.strip() for n in names.split(",") if n.strip()) or DEFAULT_STAGES
        wanted = {n.strip() for n in approval.split(",") if n.strip()}
        unknown = wanted - set(listed)
        if unknown:
            raise PromptInvalid(f"approval stages {sorted(unknown)} are not among the stages {list(listed)}")
        return cls(listed, frozenset(wanted | {listed[-1]}))

    def check(self, stage: str) -> None:
        if stage not in self.names:
            raise PromptInvalid(f"unknown stage {stage!r}; the stages are {', '.join(self.names)}")


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise PromptInvalid(f"bad prompt name {name!r}: 1-128 letters, digits, '.', '_' or '-'")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


class Registry:
    def __init__(self, store: Store, stages: Stages | None = None) -> None:
        self.store = store
        self.stages = stages or Stages()
        self._lock = threading.Lock()

    # -- reads
    def names(self) -> list[str]:
        rows = self.store.query("SELECT DISTINCT prompt FROM prompt_events ORDER BY prompt").rows
        return [str(r[0]) for r in rows]

    def events(self, name: str) -> list[Event]:
        sql = f"SELECT {', '.join(ev.COLUMNS)} FROM prompt_events WHERE prompt = ? ORDER BY seq"
        return [Event(**row) for row in self.store.query(sql, [name]).dicts()]

    def state(self, name: str) -> State:
        found = self.events(name)
        if not found:
            raise PromptNotFound(f"no prompt named {name!r}")
        return ev.fold(name, found)

    def version(self, name: str, number: int) -> Version:
        state = self.state(name)
        if number not in state.versions:
            raise PromptNotFound(f"prompt {name!r} has no version {number}")
        return state.versions[number]

    # -- changes
    def create(self, name: str, content: Content, message: str, actor: Actor) -> tuple[Version, bool]:
        """The version holding `content` (new: True), or the existing one with the same content (False)."""
        check_name(name)
        with self._lock:
            found = self.events(name)
            state = ev.fold(name, found)
            same = state.by_content(content.content_id)
            if same is not None:
                return same, False
            payload = canonical_json({"content": content.as_dict(), "message": message}).decode()
            number = len(state.versions) + 1
            self._append(name, found, ev.CREATED, actor, version=number, payload=payload)
        return self.version(name, number), True

    def submit(self, name: str, number: int, actor: Actor) -> Version:
        return self._decide(name, number, actor, ev.SUBMITTED, None)

    def approve(self, name: str, number: int, actor: Actor) -> Version:
        return self._decide(name, number, actor, ev.APPROVED, None)

    def reject(self, name: str, number: int, actor: Actor, reason: str | None) -> Version:
        return self._decide(name, number, actor, ev.REJECTED, reason)

    def _decide(self, name: str, number: int, actor: Actor, kind: str, reason: str | None) -> Version:
        with self._lock:
            found = self.events(name)
            version = _find(ev.fold(name, found), name, number)
            check_decision(version, actor, kind)
            self._append(name, found, kind, actor, version=number, reason=reason)
        return self.version(name, number)

    def promote(self, name: str, number: int, stage: str, actor: Actor) -> State:
        self.stages.check(stage)
        with self._lock:
            found = self.events(name)
            state = ev.fold(name, found)
            version = _find(state, name, number)
            self.check_promotion(version, stage)
            previous = state.stages.get(stage)
            if previous == number:
                raise PromptConflict(f"{stage} already holds version {number}")
            self._append(name, found, ev.PROMOTED, actor, version=number, from_version=previous, stage=stage)
        return self.state(name)

    def rollback(self, name: str, stage: str, actor: Actor, reason: str | None = None) -> State:
        self.stages.check(stage)
        with self._lock:
            found = self.events(name)
            state = ev.fold(name, found)
            if not found:
                raise PromptNotFound(f"no prompt named {name!r}")
            held = state.history.get(stage, [])
            if len(held) < 2:
                raise PromptConflict(f"{stage} of {name!r} has no earlier version to roll back to")
            self._append(
                name,
                found,
                ev.ROLLED_BACK,
                actor,
                version=held[-2],
                from_version=held[-1],
                stage=stage,
                reason=reason,
            )
        return self.state(name)

    def check_promotion(self, version: Version, stage: str) -> None:
        if version.status == ev.REJECTED:
            raise PromptConflict(f"version {version.number} was rejected and cannot be promoted")
        if stage in self.stages.approval and version.status != ev.APPROVED:
            raise PromptConflict(
                f"{stage} requires an approved version; version {version.number} is {version.status}"
            )

    def _append(self, name: str, found: Sequence[Event], kind: str, actor: Actor, **fields: Any) -> Event:
        last = found[-1] if found else None
        event = Event(
            prompt=name,
            seq=(last.seq + 1) if last else 1,
            kind=kind,
            actor=actor.name,
            authenticated=actor.authenticated,
            occurred_at=now_iso(),
            prev_hash=last.hash if last else "",
            **fields,
        ).sealed()
        placeholders = ", ".join("?" for _ in ev.COLUMNS)
        self.store.execute(
            f"INSERT INTO prompt_events ({', '.join(ev.COLUMNS)}) VALUES ({placeholders})",
            [getattr(event, column) for column in ev.COLUMNS],
        )
        return event


def _find(state: State, name: str, number: int) -> Version:
    if not state.versions:
        raise PromptNotFound(f"no prompt named {name!r}")
    if number not in state.versions:
        raise PromptNotFound(f"prompt {name!r} has no version {number}")
    return state.versions[number]


def check_decision(version: Version, actor: Actor, kind: str) -> None:
    """Four eyes: nobody approves their own version; a decided version stays decided."""
    if kind == ev.APPROVED and actor.name == version.author:
        raise PromptForbidden(
            f"{actor.name!r} wrote version {version.number} and cannot approve it (four eyes)"
        )
    if version.status in (ev.APPROVED, ev.REJECTED):
        raise PromptConflict(f"version {version.number} is already {version.status}")
