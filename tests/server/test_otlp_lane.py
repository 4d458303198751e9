"""The OTLP paths answered before FastAPI's routing (server/otlp_lane.py): the key's scope, the Host check,
the errors' OTLP answers and the methods hold as they did for the routes, and the paths are no route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from google.rpc import status_pb2

from support import make_request, make_span
from tokentrail import keys
from tokentrail.server.app import create_app
from tokentrail.server.otlp_lane import PATHS
from tokentrail.settings import Settings
from tokentrail.store import Store

PROTOBUF = {"content-type": "application/x-protobuf"}


def body() -> bytes:
    return bytes(make_request([make_span({"gen_ai.provider.name": "openai"})]).SerializeToString())


@pytest.fixture
async def client(store: Store) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    tokens = {scope: keys.create_key(store, f"key-{scope}", [scope])[1] for scope in ("ingest", "read")}
    app = create_app(store, Settings(port=4318), check_host=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4318") as http:
        yield http, tokens


def bearer(token: str) -> dict[str, str]:
    return {**PROTOBUF, "authorization": f"Bearer {token}"}


def status(response: httpx.Response) -> Any:
    message = status_pb2.Status()
    message.ParseFromString(response.content)
    return message


@pytest.mark.parametrize("path", sorted(PATHS))
async def test_each_path_needs_a_key_with_the_ingest_scope(
    client: tuple[httpx.AsyncClient, dict[str, str]], path: str
) -> None:
    http, tokens = client
    anonymous = await http.post(path, content=body(), headers=PROTOBUF)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert status(anonymous).code == 401 and "key is required" in status(anonymous).message
    reader = await http.post(path, content=body(), headers=bearer(tokens["read"]))
    assert reader.status_code == 403 and "lacks the scope ingest" in status(reader).message
    assert (await http.post(path, content=b"", headers=bearer(tokens["ingest"]))).status_code == 200


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/traces/"])
async def test_spans_sent_with_an_ingest_key_are_committed(
    client: tuple[httpx.AsyncClient, dict[str, str]], store: Store, path: str
) -> None:
    http, tokens = client
    answer = await http.post(path, content=body(), headers=bearer(tokens["ingest"]))
    assert answer.status_code == 200 and answer.headers["content-type"] == PROTOBUF["content-type"]
    assert store.query("SELECT count(*) FROM spans").rows[0][0] == 1


async def test_errors_are_otlp_status_answers_in_the_requests_encoding(
    client: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    http, tokens = client
    broken = await http.post("/v1/traces", content=b"\xff\xff", headers=bearer(tokens["ingest"]))
    assert broken.status_code == 400 and status(broken).code == 400
    as_json = {"content-type": "application/json", "authorization": f"Bearer {tokens['ingest']}"}
    not_json = await http.post("/v1/traces", content=b"{", headers=as_json)
    assert not_json.status_code == 400 and not_json.json()["code"] == 400
    gzipped = {**bearer(tokens["ingest"]), "content-encoding": "br"}
    assert (await http.post("/v1/traces", content=body(), headers=gzipped)).status_code == 415


async def test_the_host_check_still_guards_the_otlp_paths(
    client: tuple[httpx.AsyncClient, dict[str, str]], store: Store
) -> None:
    http, tokens = client
    headers = {**bearer(tokens["ingest"]), "host": "evil.example:4318"}
    assert (await http.post("/v1/traces", content=body(), headers=headers)).status_code == 421
    assert store.query("SELECT count(*) FROM spans").rows[0][0] == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_other_methods_get_405_with_allow(
    client: tuple[httpx.AsyncClient, dict[str, str]], method: str
) -> None:
    http, tokens = client
    answer = await http.request(method, "/v1/traces", headers=bearer(tokens["ingest"]))
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"


def test_the_otlp_paths_are_no_route_of_the_app(store: Store) -> None:
    """One way to each path: the lane answers them, so no FastAPI route (nor its schema) names them."""
    app = create_app(store)
    assert not {getattr(route, "path", None) for route in app.routes} & set(PATHS)
    assert not set(app.openapi()["paths"]) & set(PATHS)
