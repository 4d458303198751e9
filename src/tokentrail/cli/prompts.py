"""`tokentrail prompts ...`: the prompt registry on the store directly (docs/prompts.md).

Direct store access is admin-level: whoever can write the store can write any row, so the CLI is for the
store's owner. Its entries carry ``--actor`` (default: the OS user) and are marked unauthenticated; four
eyes still holds between actor names. Teams that need authenticated approvals use the API with named keys
(``prompts:write``, ``prompts:approve``); the dashboard goes through it too.
"""

from __future__ import annotations

import difflib
import getpass
import json
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tokentrail.cli.common import console, fail, group, opened_store
from tokentrail.cli.options import Db
from tokentrail.prompts import events as ev
from tokentrail.prompts.content import SHORT, Content, ContentError
from tokentrail.prompts.registry import Actor, Registry, Stages
from tokentrail.settings import Settings

app = group("Prompt versions, approval, stages and the audit log.")

ActorName = Annotated[
    str | None, typer.Option("--actor", help="Who acts (recorded as unauthenticated) [default: the OS user]")
]


@contextmanager
def registry(db: str | None) -> Iterator[Registry]:
    settings = Settings()
    with opened_store(db) as store:
        yield Registry(store, Stages.parse(settings.prompt_stages, settings.prompt_approval_stages))


def actor(name: str | None) -> Actor:
    return Actor(name or getpass.getuser(), False)


def read_content(path: Path) -> tuple[Content, str | None]:
    """A .txt template, or a .json / .toml object with template or messages, model, params (and message)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {path}: {exc}")
    if path.suffix not in (".json", ".toml"):
        return Content(template=text), None
    try:
        body: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except ValueError as exc:
        fail(f"{path} is not valid {path.suffix[1:]}: {exc}")
    if not isinstance(body, dict):
        fail(f"{path} must hold an object")
    try:
        return Content.from_mapping(body), body.get("message")
    except ContentError as exc:  # the message names the file it came from
        fail(f"{path}: {exc}")


def describe(version: ev.Version) -> str:
    return f"version {version.number} ({version.content_id[:SHORT]}, {version.status})"


def decide(db: str | None, name: str, act: Callable[[Registry], ev.Version]) -> None:
    """Run one review step (submit, approve, reject) and say where the version now stands."""
    with registry(db) as reg:
        done = act(reg)
    console.print(f"{escape(name)}: {describe(done)}", highlight=False)


@app.command("create")
def create(
    name: str,
    file: Annotated[Path, typer.Option(help=".txt template, or .json/.toml with messages, model, params")],
    message: Annotated[str | None, typer.Option("--message", "-m", help="Commit message")] = None,
    actor_name: ActorName = None,
    db: Db = None,
) -> None:
    """Add a version (the same content again is the same version)."""
    content, file_message = read_content(file)
    with registry(db) as reg:
        version, new = reg.create(name, content, message or file_message or "", actor(actor_name))
    verb = "created" if new else "unchanged: already"
    console.print(f"{escape(name)}: {verb} {describe(version)}", highlight=False)


@app.command("list")
def list_(db: Db = None) -> None:
    """The prompts, their version counts and what each stage holds."""
    with registry(db) as reg:
        states = [reg.state(name) for name in reg.names()]
        stage_names = reg.stages.names
    table = Table("prompt", "versions", *stage_names)
    for state in states:
        held = state.stages
        table.add_row(
            escape(state.name), str(len(state.versions)), *(str(held.get(s, "-")) for s in stage_names)
        )
    console.print(table)


@app.command("show")
def show(
    name: str,
    version: Annotated[int | None, typer.Option("--version", help="Show this version's content")] = None,
    db: Db = None,
) -> None:
    """Versions with their state, the stages and rollback counts; or one version's content."""
    with registry(db) as reg:
        state = reg.state(name)
        if version is not None:
            found = reg.version(name, version)
            console.print(f"{escape(name)} {describe(found)} by {escape(found.author)}", highlight=False)
            console.print(escape(found.content.render()), highlight=False)
            return
    print_state(state)


@app.command("diff")
def diff(name: str, a: int, b: int, db: Db = None) -> None:
    """Unified diff of two versions as rendered text."""
    with registry(db) as reg:
        old, new = reg.version(name, a), reg.version(name, b)
    lines = difflib.unified_diff(
        old.content.render().splitlines(keepends=True),
        new.content.render().splitlines(keepends=True),
        f"{name} v{a}",
        f"{name} v{b}",
    )
    typer.echo("".join(lines), nl=False)


def print_state(state: ev.State) -> None:
    held = state.stages
    table = Table("version", "content id", "status", "author", "decided by", "stages", "message")
    for v in state.versions.values():
        stages = ", ".join(s for s, n in held.items() if n == v.number)
        table.add_row(
            str(v.number),
            v.content_id[:SHORT],
            v.status,
            escape(v.author),
            escape(v.decided_by or "-"),
            stages or "-",
            escape(v.message),
        )
    console.print(table)
    counts = ", ".join(f"{s} {n}" for s, n in state.rollbacks.items()) or "none"
    console.print(f"rollbacks: {counts}", highlight=False)


@app.command("submit")
def submit(name: str, version: int, actor_name: ActorName = None, db: Db = None) -> None:
    """Submit a version for review."""
    decide(db, name, lambda reg: reg.submit(name, version, actor(actor_name)))


@app.command("approve")
def approve(name: str, version: int, actor_name: ActorName = None, db: Db = None) -> None:
    """Approve a version; its author cannot (four eyes)."""
    decide(db, name, lambda reg: reg.approve(name, version, actor(actor_name)))


@app.command("reject")
def reject(
    name: str,
    version: int,
    reason: Annotated[str | None, typer.Option("--reason", help="Why")] = None,
    actor_name: ActorName = None,
    db: Db = None,
) -> None:
    """Reject a version: it can never be promoted."""
    decide(db, name, lambda reg: reg.reject(name, version, actor(actor_name), reason))


@app.command("promote")
def promote(
    name: str,
    version: int,
    stage: Annotated[str, typer.Option("--stage", help="dev, staging, prod (TOKENTRAIL_PROMPT_STAGES)")],
    actor_name: ActorName = None,
    db: Db = None,
) -> None:
    """Point a stage at a version (approved first, for a stage that requires approval)."""
    with registry(db) as reg:
        reg.promote(name, version, stage, actor(actor_name))
    console.print(f"{escape(name)}: {escape(stage)} now holds version {version}", highlight=False)


@app.command("rollback")
def rollback(
    name: str,
    stage: Annotated[str, typer.Option("--stage")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    actor_name: ActorName = None,
    db: Db = None,
) -> None:
    """Move a stage back to the version it held before (counted as a rollback)."""
    with registry(db) as reg:
        state = reg.rollback(name, stage, actor(actor_name), reason)
    console.print(
        f"{escape(name)}: {escape(stage)} back to version {state.stages[stage]} "
        f"(rollbacks: {state.rollbacks[stage]})",
        highlight=False,
    )


@app.command("audit")
def audit(
    name: str,
    verify: Annotated[
        bool, typer.Option("--verify", help="Check the hash chain; exit 1 where it breaks")
    ] = False,
    db: Db = None,
) -> None:
    """The audit log of a prompt (its events, hash-chained)."""
    with registry(db) as reg:
        reg.state(name)
        entries = reg.events(name)
    print_audit(entries)
    if verify:
        check_chain(entries)


def print_audit(entries: list[ev.Event]) -> None:
    table = Table("seq", "time (UTC)", "event", "actor", "version", "stage", "reason", "hash")
    for e in entries:
        who = escape(e.actor) + ("" if e.authenticated else " (unauthenticated)")
        moved = f"{e.from_version} → {e.version}" if e.from_version is not None else str(e.version or "-")
        table.add_row(
            str(e.seq),
            e.occurred_at[:19],
            e.kind,
            who,
            moved,
            escape(e.stage or "-"),
            escape(e.reason or "-"),
            e.hash[:SHORT],
        )
    console.print(table)


def check_chain(entries: list[ev.Event]) -> None:
    problems = ev.verify(entries)
    for p in problems:
        console.print(f"entry {p.position} (seq {p.seq}): {p.message}", highlight=False)
    if problems:
        fail(f"audit log broken at entry {problems[0].position}", code=1)
    head = entries[-1].hash if entries else "-"
    console.print(f"verified: {len(entries)} entries, head {head}", highlight=False)
