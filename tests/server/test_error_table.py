"""server/errors.py: every entry of the status table, answered by a real app with the API's JSON shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from tokentrail.exceptions import ExternalError, InputError, NotFoundError, TokentrailError, Unavailable
from tokentrail.ingest.otlp import PayloadTooLarge, UnsupportedMediaType
from tokentrail.prompts.registry import PromptConflict, PromptError, PromptForbidden, PromptNotFound
from tokentrail.server import errors
from tokentrail.server.app import create_app
from tokentrail.server.auth import Forbidden, Unauthenticated
from tokentrail.server.querypool import PoolFull
from tokentrail.server.state import state_of
from tokentrail.store import QueryFailed, QueryTimeout, StoreBusy
from tokentrail.store.duckdb import DuckDBStore

# written out here, not read from the table: the test fails when the table changes a status
EXPECTED: dict[type[TokentrailError], tuple[int, dict[str, str]]] = {
    TokentrailError: (500, {}),
    InputError: (400, {}),
    PayloadTooLarge: (413, {}),
    UnsupportedMediaType: (415, {}),
    NotFoundError: (404, {}),
    PromptError: (400, {}),
    PromptNotFound: (404, {}),
    PromptForbidden: (403, {}),
    PromptConflict: (409, {}),
    Unauthenticated: (401, {"www-authenticate": 'Bearer realm="tokentrail"'}),
    Forbidden: (403, {}),
    StoreBusy: (429, {"retry-after": "1"}),
    QueryTimeout: (504, {}),
    QueryFailed: (400, {}),
    Unavailable: (503, {"retry-after": "1"}),
    PoolFull: (429, {"retry-after": "2"}),
    ExternalError: (502, {}),
}
BY_NAME = {cls.__name__: cls for cls in EXPECTED}
MESSAGE = "bad <value> [red]as given[/red]"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = DuckDBStore(str(Path(tmp_path_factory.mktemp("errors")) / "t.duckdb"))
    app = create_app(store)
    raiser = APIRouter()

    @raiser.get("/api/raise/{name}")
    async def raise_it(name: str) -> None:
        raise BY_NAME[name](MESSAGE)

    app.include_router(raiser)
    yield TestClient(app)
    state_of(app).pipeline.close()
    state_of(app).query_pool.close()
    store.close()


def test_the_test_covers_every_entry_of_the_table() -> None:
    assert set(EXPECTED) == set(errors.STATUS)


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda c: c.__name__)
def test_each_class_answers_its_status_as_json(client: TestClient, cls: type[TokentrailError]) -> None:
    status, headers = EXPECTED[cls]
    r = client.get(f"/api/raise/{cls.__name__}", headers={"accept": "application/json"})
    assert r.status_code == status
    assert r.json() == {"error": MESSAGE}
    for name, value in headers.items():
        assert r.headers[name] == value
    if status not in (401, 429, 503):
        assert "retry-after" not in r.headers and "www-authenticate" not in r.headers


def test_a_subclass_takes_the_status_of_its_nearest_listed_class(client: TestClient) -> None:
    r = client.post("/api/query", json={"query": "fields @timestamp | sort by"})
    body = r.json()
    assert r.status_code == 400  # QueryError is an InputError
    assert body["error"] and "line" in body and "column" in body  # its position, beside the message
