"""Calls counted in another experiment's variant by reference (a replay's baseline), on both stores: the
experiments list and analysis see them; spend views do not count them twice; bad input and keys refused."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from tokentrail.keys import create_key
from tokentrail.model import Call
from tokentrail.server.app import create_app
from tokentrail.store import Store

from .gen import experiment_calls

N = 40


def archived_and_replayed() -> tuple[list[Call], list[Call]]:
    """N original calls with no experiment, and N replayed ones (experiment replay-x, variant candidate)."""
    originals = [
        dataclasses.replace(c, experiment=None, variant=None)
        for c in experiment_calls("orig", N, share_b=0.0, seed=7)
    ]
    replayed = experiment_calls("replay-x", N, variants=("candidate", "candidate"), slower=1.3, seed=8)
    return originals, replayed


@pytest.fixture
async def api(store: Store) -> AsyncIterator[tuple[httpx.AsyncClient, list[Call]]]:
    originals, replayed = archived_and_replayed()
    store.write(originals + replayed)
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client, originals


def pairs(calls: list[Call]) -> list[list[str]]:
    return [[c.trace_id, c.span_id] for c in calls]


async def totals(client: httpx.AsyncClient) -> list[object]:
    r = await client.get(
        "/api/summary", params={"start": "2000-01-01T00:00:00", "end": "2100-01-01T00:00:00"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    (row,) = body["rows"]
    return [row["calls"], row["cost_usd"]]


async def test_members_form_a_variant_without_counting_twice(
    api: tuple[httpx.AsyncClient, list[Call]],
) -> None:
    client, originals = api
    before = await totals(client)
    unknown = ["f" * 32, "e" * 16]
    body = {"variant": "baseline", "calls": [*pairs(originals), unknown]}
    r = await client.post("/api/experiments/replay-x/members", json=body)
    assert r.status_code == 200 and r.json()["added"] == N, r.text
    again = await client.post("/api/experiments/replay-x/members", json=body)
    assert again.json()["added"] == 0  # a resumed replay adds nothing
    listed = (await client.get("/api/experiments")).json()["experiments"]
    (item,) = [e for e in listed if e["experiment"] == "replay-x"]
    assert item["variants"] == [{"variant": "baseline", "calls": N}, {"variant": "candidate", "calls": N}]
    answer = (await client.get("/api/experiments/replay-x", params={"metric": "cost_usd"})).json()
    assert answer["control"] == "baseline"
    baseline = next(v for v in answer["variants"] if v["variant"] == "baseline")
    assert baseline["n"] == N
    assert baseline["estimate"] == pytest.approx(sum(c.cost_usd or 0 for c in originals) / N)
    assert await totals(client) == before  # spend views read calls alone


@pytest.mark.parametrize(
    "body",
    [
        {"calls": [["a" * 32, "b" * 16]]},
        {"variant": "baseline", "calls": []},
        {"variant": "baseline", "calls": [["a" * 32]]},
        {"variant": "baseline", "calls": [["not hex", "b" * 16]]},
        {"variant": "baseline", "calls": "all"},
        ["baseline"],
    ],
)
async def test_bad_members_bodies_get_a_400(
    api: tuple[httpx.AsyncClient, list[Call]], body: object, store: Store
) -> None:
    client, _ = api
    r = await client.post("/api/experiments/replay-x/members", json=body)
    assert r.status_code == 400 and "error" in r.json()
    assert store.query("SELECT count(*) FROM experiment_members").rows == [(0,)]


async def test_adding_members_needs_the_ingest_scope(
    api: tuple[httpx.AsyncClient, list[Call]], store: Store
) -> None:
    client, originals = api
    _, reader = create_key(store, "reader", ["read"])
    _, ingest = create_key(store, "replayer", ["ingest"])
    body = {"variant": "baseline", "calls": pairs(originals[:3])}
    url = "/api/experiments/replay-x/members"
    refused = await client.post(url, json=body, headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403
    allowed = await client.post(url, json=body, headers={"Authorization": f"Bearer {ingest}"})
    assert allowed.status_code == 200 and allowed.json()["added"] == 3
