"""Pure parts: canonical content ids, the fold from events to state, the hash chain."""

from __future__ import annotations

import dataclasses

import pytest

from tokentrail.prompts import events as ev
from tokentrail.prompts.content import Content, ContentError, canonical_json, fill
from tokentrail.prompts.registry import PromptInvalid, Stages


def test_content_id_is_sha256_of_canonical_json() -> None:
    a = Content(template="Hi {name}", model="gpt-4o", params={"temperature": 0.2, "max_tokens": 9})
    b = Content.from_mapping(
        {"params": {"max_tokens": 9, "temperature": 0.2}, "model": "gpt-4o", "template": "Hi {name}"}
    )
    assert a.content_id == b.content_id and len(a.content_id) == 64
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    assert Content(template="Hi {name}!").content_id != a.content_id
    assert fill("Hi {name}", {"name": "Ann"}) == "Hi Ann"
    with pytest.raises(ContentError, match="exactly one"):
        Content.from_mapping({"template": "x", "messages": [{"role": "user", "content": "y"}]})
    with pytest.raises(ContentError, match="role"):
        Content.from_mapping({"messages": [{"role": "user"}]})


def event(seq: int, kind: str, actor: str = "ann", **fields: object) -> ev.Event:
    return ev.Event("p", seq, kind, actor, True, f"2026-01-01T00:00:{seq:02d}.000000", **fields)  # type: ignore[arg-type]


def created(seq: int, version: int, text: str) -> ev.Event:
    payload = canonical_json({"content": Content(template=text).as_dict(), "message": f"v{version}"}).decode()
    return event(seq, ev.CREATED, version=version, payload=payload)


def history() -> list[ev.Event]:
    return [
        created(1, 1, "one"),
        created(2, 2, "two"),
        event(3, ev.APPROVED, "ben", version=1),
        event(4, ev.REJECTED, "ben", version=2, reason="no"),
        event(5, ev.PROMOTED, "ben", version=1, stage="dev"),
        created(6, 3, "three"),
        event(7, ev.PROMOTED, "ben", version=3, from_version=1, stage="dev"),
        event(8, ev.ROLLED_BACK, "ben", version=1, from_version=3, stage="dev"),
    ]


def test_fold_derives_versions_stages_rollbacks_and_live_spans() -> None:
    state = ev.fold("p", history())
    assert {n: v.status for n, v in state.versions.items()} == {1: "approved", 2: "rejected", 3: "draft"}
    assert state.versions[2].decided_by == "ben" and state.versions[2].reason == "no"
    assert state.stages == {"dev": 1} and state.rollbacks == {"dev": 1}
    spans = [(s.version, s.since[-9:-7], s.until and s.until[-9:-7]) for s in state.live]
    assert spans == [(1, "05", "07"), (3, "07", "08"), (1, "08", None)]
    assert ev.fold("p", history()) == state  # pure: same events, same state


def chain(events: list[ev.Event]) -> list[ev.Event]:
    out: list[ev.Event] = []
    for e in events:
        out.append(dataclasses.replace(e, prev_hash=out[-1].hash if out else "").sealed())
    return out


def test_verify_names_the_broken_entry() -> None:
    good = chain(history())
    assert ev.verify(good) == []
    edited = [*good[:3], dataclasses.replace(good[3], reason="yes"), *good[4:]]
    assert next((p.position, p.message) for p in ev.verify(edited)) == (
        4,
        "content does not match its hash: edited",
    )
    removed = good[:2] + good[3:]
    assert ev.verify(removed)[0].position == 3
    swapped = [good[0], good[2], good[1], *good[3:]]
    assert ev.verify(swapped)[0].position == 2


def test_stage_config_last_stage_always_requires_approval() -> None:
    assert Stages.parse("", "").approval == {"prod"}
    assert Stages.parse("test, live", "test").approval == {"test", "live"}
    with pytest.raises(PromptInvalid, match="not among the stages"):
        Stages.parse("dev,prod", "qa")
