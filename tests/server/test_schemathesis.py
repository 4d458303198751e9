"""schemathesis against the app's own OpenAPI schema, in-process over ASGI: no generated request gets 5xx.

A store holding a few calls sits behind the app, so read paths run real queries. Bounded: a few examples
per operation, no deadline, no example database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from support import T0
from tokentrail.model import Call
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store.duckdb import DuckDBStore


@pytest.fixture
def api_schema(tmp_path: Path) -> Iterator[Any]:
    with DuckDBStore(tmp_path / "s.duckdb") as store:
        store.write([sample_call(i) for i in range(6)])
        app = create_app(store, Settings())
        loaded = schemathesis.openapi.from_dict(with_parameters(app.openapi()))
        loaded.app = app
        yield loaded


# The handlers read their parameters from the request themselves, so the generated schema declares none;
# these are the ones they read, declared here so schemathesis generates values for them.
QUERY_PARAMS = ["since", "start", "end", "by", "dims", "limit", "offset", "sort", "order", "q", "period"]
QUERY_PARAMS += ["feature", "tenant", "model", "provider", "status", "compare", "bucket"]
BODIES = {
    ("post", "/api/query"): {"query": {"type": "string"}, "start": {}, "end": {}, "since": {}},
    ("put", "/api/budgets"): {"scope": {}, "value": {}, "period": {}, "amount_usd": {}},
}


def with_parameters(doc: dict[str, Any]) -> dict[str, Any]:
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            if method == "get" and path.startswith("/api/"):
                declared = {p["name"] for p in operation.get("parameters", [])}
                operation.setdefault("parameters", []).extend(
                    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                    for name in QUERY_PARAMS
                    if name not in declared
                )
            if (method, path) in BODIES:
                body = {"type": "object", "properties": BODIES[(method, path)]}
                operation["requestBody"] = {"content": {"application/json": {"schema": body}}}
    return doc


def sample_call(i: int) -> Call:
    return Call(
        trace_id=f"{i + 1:032x}",
        span_id=f"{i + 1:016x}",
        kind="llm",
        start_time=T0,
        provider="openai",
        request_model="gpt-4o-mini",
        feature=("search", "chat")[i % 2],
        tenant="acme",
        input_tokens=100,
        output_tokens=10,
        cost_usd=0.001,
        status="error" if i == 3 else "ok",
        error_class="throttled" if i == 3 else None,
    )


def test_no_generated_request_gets_a_server_error(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 10
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            response = case.call()
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query}: {response.text[:200]}")

        check()
    assert failures == []
