"""Done-when, end to end on both stores: a real `tokentrail serve`, two named keys, the real SDK fetching
over HTTP, the real openai client against the simulator; a rollback reaches the app; the disk copy and the
fallback keep an app starting while the collector is down."""

from __future__ import annotations

import contextvars
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from support import collector_process
from tokentrail import Tokentrail, keys
from tokentrail.sdk.prompts import PromptUnavailable
from tokentrail.simulator import Profile, SimulatorServer
from tokentrail.store import open_store

TTL_S = 0.5


def make_keys(db: str) -> dict[str, str]:
    store = open_store(db)
    try:
        made = {
            n: keys.create_key(store, n, ["prompts:write", "prompts:approve"])[1] for n in ("alice", "bob")
        }
        made["app"] = keys.create_key(store, "app", ["ingest", "prompts:read"])[1]
        made["ops"] = keys.create_key(store, "ops", ["read"])[1]
        return made
    finally:
        store.close()


class Api:
    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url, self.tokens = url, tokens

    def __call__(self, who: str, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.tokens[who]}"}
        return httpx.request(method, self.url + path, json=body, headers=headers, timeout=30)

    def snapshot(self) -> tuple[Any, Any]:
        return self("ops", "GET", "/api/prompts/triage").json(), self(
            "ops", "GET", "/api/prompts/triage/audit"
        ).json()


def govern(api: Api) -> None:
    """v1 through four eyes into prod, then v2 likewise; the refusals change nothing."""
    body = {"name": "triage", "template": "Triage v1: {ticket}", "model": "gpt-4o-mini", "message": "first"}
    assert api("alice", "POST", "/api/prompts", body).status_code == 201
    before = api.snapshot()
    assert api("alice", "POST", "/api/prompts/triage/versions/1/approve").status_code == 403
    assert api("bob", "POST", "/api/prompts/triage/stages/prod", {"version": 1}).status_code == 409
    assert api.snapshot() == before
    assert api("bob", "POST", "/api/prompts/triage/versions/1/approve").status_code == 200
    assert api("bob", "POST", "/api/prompts/triage/stages/prod", {"version": 1}).status_code == 200
    body = {
        "name": "triage",
        "messages": [{"role": "user", "content": "Triage v2: {ticket}"}],
        "model": "gpt-4o-mini",
    }
    assert api("bob", "POST", "/api/prompts", body).json()["version"] == 2
    assert api("alice", "POST", "/api/prompts/triage/versions/2/approve").status_code == 200
    assert api("alice", "POST", "/api/prompts/triage/stages/prod", {"version": 2}).status_code == 200


def ask(client: openai.OpenAI, prompt: Any) -> None:
    with prompt:
        messages = (
            prompt.format(ticket="printer on fire")
            if prompt.messages
            else [{"role": "user", "content": prompt.format(ticket="printer on fire")}]
        )
        client.chat.completions.create(model=prompt.model, messages=messages)


def bind_and_ask(client: openai.OpenAI, prompt: Any) -> None:
    prompt.bind()
    client.chat.completions.create(model=prompt.model, messages=[{"role": "user", "content": "bound"}])


def wait_for(check: Any, deadline_s: float = 30.0) -> Any:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("not reached before the deadline")


def by_version(api: Api) -> dict[str, int]:
    rows = api("ops", "GET", "/api/summary?since=1h&by=prompt_name,prompt_version,prompt_content_id").json()[
        "rows"
    ]
    return {
        f"{r['prompt_name']}:{r['prompt_version']}:{r['prompt_content_id'][:12]}": r["calls"] for r in rows
    }


def test_governed_prompt_reaches_the_app_and_its_calls(db: str, tmp_path: Path) -> None:
    tokens = make_keys(db)
    cache = tmp_path / "cache"
    with (
        collector_process(Path(db) if "://" not in db else db, "--workers", "0") as url,
        SimulatorServer(profile=Profile.default().scaled(0.02), seed=3) as sim,
    ):  # type: ignore[arg-type]
        api = Api(url, tokens)
        govern(api)
        tt = Tokentrail(endpoint=url, ingest_key=tokens["app"], cache_dir=cache, use_global_provider=False)
        client = openai.OpenAI(base_url=sim.url + "/v1", api_key="test")
        tt.instrument_openai(client)
        try:
            p = tt.prompt("triage", stage="prod", cache_ttl_s=TTL_S)
            assert p.version == 2 and p.messages == [{"role": "user", "content": "Triage v2: {ticket}"}]
            v2_id = p.content_id
            ask(client, p)
            back = api("bob", "POST", "/api/prompts/triage/stages/prod/rollback")
            assert back.status_code == 200 and back.json()["rollbacks"]["prod"] == 1
            wait_for(lambda: p.version == 1)  # within one TTL of a read, by the background refresh
            assert p.text == "Triage v1: {ticket}" and p.content_id != v2_id
            ask(client, p)
            pinned = tt.prompt("triage", version=2, cache_ttl_s=TTL_S)  # a version, whatever the stages hold
            assert pinned.version == 2 and pinned.content_id == v2_id
            contextvars.copy_context().run(
                bind_and_ask, client, pinned
            )  # bind() labels the rest of a context
            assert tt.force_flush(10)
            seen = wait_for(lambda: (found := by_version(api)) and sum(found.values()) == 3 and found)
            assert seen == {f"triage:2:{v2_id[:12]}": 2, f"triage:1:{p.content_id[:12]}": 1}
        finally:
            tt.shutdown()
            client.close()
    # the collector is gone: a new app starts from the disk copy, a first start from the fallback
    offline = Tokentrail(endpoint=url, ingest_key=tokens["app"], cache_dir=cache, send_to_collector=False)
    assert offline.prompt("triage", stage="prod").version == 1
    fresh = Tokentrail(endpoint=url, cache_dir=tmp_path / "empty", send_to_collector=False)
    assert fresh.prompt("triage", stage="prod", fallback="Hi {ticket}").format(ticket="x") == "Hi x"
    with pytest.raises(PromptUnavailable, match="no copy or fallback"):
        fresh.prompt("other", stage="prod")
