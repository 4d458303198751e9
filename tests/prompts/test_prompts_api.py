"""The prompt registry over the API with two named keys, on both stores: four eyes (403), approval before
prod (409), refusals change nothing, rollback history, scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tokentrail import keys
from tokentrail.server.app import create_app
from tokentrail.store import Store

PROMPTS = ["prompts:write", "prompts:approve"]


@pytest.fixture
async def api(store: Store) -> AsyncIterator[dict[str, Any]]:
    tokens = {name: keys.create_key(store, name, PROMPTS)[1] for name in ("alice", "bob")}
    tokens["reader"] = keys.create_key(store, "reader", ["prompts:read"])[1]
    tokens["writer"] = keys.create_key(store, "writer", ["prompts:write"])[1]
    app = create_app(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        yield {"client": client, "tokens": tokens, "store": store}


async def call(api: dict[str, Any], who: str, method: str, path: str, body: Any = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {api['tokens'][who]}"}
    return await api["client"].request(method, path, json=body, headers=headers)


async def snapshot(api: dict[str, Any]) -> tuple[Any, Any]:
    state = (await call(api, "reader", "GET", "/api/prompts/triage")).json()
    audit = (await call(api, "reader", "GET", "/api/prompts/triage/audit")).json()
    return state, audit


async def create(api: dict[str, Any], who: str, template: str) -> httpx.Response:
    body = {"name": "triage", "template": template, "model": "gpt-4o", "message": "m"}
    return await call(api, who, "POST", "/api/prompts", body)


async def test_four_eyes_and_approval_before_prod(api: dict[str, Any]) -> None:
    made = await create(api, "alice", "Triage: {ticket}")
    assert made.status_code == 201 and made.json()["version"] == 1 and made.json()["author"] == "alice"
    before = await snapshot(api)
    own = await call(api, "alice", "POST", "/api/prompts/triage/versions/1/approve")
    assert own.status_code == 403 and "four eyes" in own.json()["error"]
    early = await call(api, "bob", "POST", "/api/prompts/triage/stages/prod", {"version": 1})
    assert early.status_code == 409 and "requires an approved version" in early.json()["error"]
    assert await snapshot(api) == before  # neither refusal changed state or audit
    ok = await call(api, "bob", "POST", "/api/prompts/triage/versions/1/approve")
    assert ok.status_code == 200 and ok.json()["status"] == "approved" and ok.json()["decided_by"] == "bob"
    moved = await call(api, "bob", "POST", "/api/prompts/triage/stages/prod", {"version": 1})
    assert moved.status_code == 200 and moved.json()["stages"]["prod"] == 1
    audit = (await call(api, "reader", "GET", "/api/prompts/triage/audit")).json()
    assert [e["kind"] for e in audit["entries"]] == ["created", "approved", "promoted"]
    assert [e["actor"] for e in audit["entries"]] == ["alice", "bob", "bob"]
    assert all(e["authenticated"] for e in audit["entries"]) and audit["verified"]


async def test_same_content_is_the_same_version(api: dict[str, Any]) -> None:
    first = (await create(api, "alice", "Hello {name}")).json()
    again = await create(api, "bob", "Hello {name}")
    assert again.status_code == 200 and again.json()["version"] == 1 and not again.json()["created"]
    assert again.json()["content_id"] == first["content_id"] and len(first["short_id"]) == 12
    second = await create(api, "bob", "Hello, {name}!")
    assert second.status_code == 201 and second.json()["version"] == 2


async def test_rejected_versions_cannot_be_promoted_anywhere(api: dict[str, Any]) -> None:
    await create(api, "alice", "v1")
    rejected = await call(
        api, "bob", "POST", "/api/prompts/triage/versions/1/reject", {"reason": "too vague"}
    )
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "too vague"
    before = await snapshot(api)
    for stage in ("dev", "prod"):
        refused = await call(api, "alice", "POST", f"/api/prompts/triage/stages/{stage}", {"version": 1})
        assert refused.status_code == 409 and "rejected" in refused.json()["error"]
    assert await snapshot(api) == before


async def test_rollback_goes_back_and_counts(api: dict[str, Any]) -> None:
    for text in ("one", "two"):
        await create(api, "alice", text)
    none = await call(api, "bob", "POST", "/api/prompts/triage/stages/dev/rollback")
    assert none.status_code == 409 and "no earlier version" in none.json()["error"]
    for n in (1, 2):  # dev needs no approval by default
        assert (
            await call(api, "alice", "POST", "/api/prompts/triage/stages/dev", {"version": n})
        ).status_code == 200
    back = await call(api, "bob", "POST", "/api/prompts/triage/stages/dev/rollback")
    assert back.status_code == 200
    state = back.json()
    assert state["stages"]["dev"] == 1 and state["rollbacks"] == {"dev": 1, "staging": 0, "prod": 0}
    live = [(span["stage"], span["version"], span["until"] is None) for span in state["live"]]
    assert live == [("dev", 1, False), ("dev", 2, False), ("dev", 1, True)]
    again = await call(api, "bob", "POST", "/api/prompts/triage/stages/dev/rollback")
    assert again.status_code == 409


async def test_scopes_and_bad_input(api: dict[str, Any]) -> None:
    await create(api, "alice", "x")
    assert (
        await call(api, "reader", "POST", "/api/prompts", {"name": "a", "template": "t"})
    ).status_code == 403
    denied = await call(api, "writer", "POST", "/api/prompts/triage/versions/1/approve")
    assert denied.status_code == 403 and "prompts:approve" in denied.json()["error"]
    assert (await call(api, "reader", "GET", "/api/prompts")).json()["prompts"][0]["name"] == "triage"
    bad = await call(api, "alice", "POST", "/api/prompts", {"name": "a b", "template": "t"})
    assert bad.status_code == 400 and "bad prompt name" in bad.json()["error"]
    both = await call(api, "alice", "POST", "/api/prompts", {"name": "a", "template": "t", "messages": []})
    assert both.status_code == 400
    stage = await call(api, "bob", "POST", "/api/prompts/triage/stages/qa", {"version": 1})
    assert stage.status_code == 400 and "unknown stage" in stage.json()["error"]
    missing = await call(api, "bob", "POST", "/api/prompts/triage/versions/9/approve")
    assert missing.status_code == 404
    assert (await call(api, "reader", "GET", "/api/prompts/nope")).status_code == 404
