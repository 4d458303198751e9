"""What the server holds while it runs: one typed `AppState`, reached by routes as a FastAPI dependency.

`create_app` (server/app.py) builds it once and makes it the app's ``state``, so a route asks for it by
type::

    @router.get("/api/x")
    async def get_x(state: StateDep) -> Any:
        return summarize(state.store)

Code below the routes that has only the request (page handlers, helpers) calls `get_state(request)`.
server/auth.py, which this module builds on, reads its two fields (``keyring``, ``route_requirements``)
from ``request.app.state`` directly.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from prometheus_client import CollectorRegistry

from tokentrail.alerts.rules import RuleSet
from tokentrail.exporters.prometheus import IngestHealth
from tokentrail.ingest.pipeline import Pipeline
from tokentrail.prompts.registry import Registry
from tokentrail.retention import Policy
from tokentrail.samples.join import Waiting
from tokentrail.server.auth import KeyRing, RequestStore, Requirement
from tokentrail.server.querypool import QueryPool
from tokentrail.settings import Settings
from tokentrail.store import Store
from tokentrail.store.backlog import Backlog


@dataclasses.dataclass(slots=True)
class AppState:
    """The server's services and counters; one per app."""

    store: RequestStore  # what routes read: every read runs as the request's principal
    raw_store: Store  # the app's own work (retention, keys, alerts), never a request's reads
    owns_store: bool  # the app closes the store when the server shuts down (`serve`)
    settings: Settings
    retention: Policy
    keyring: KeyRing
    pipeline: Pipeline
    alert_rules: RuleSet
    ingest_health: IngestHealth
    metrics_registry: CollectorRegistry
    waiting: Waiting  # GenAI content from the logs signal waiting for its span (server/content.py)
    query_pool: QueryPool
    prompts: Registry
    decode_backlog: Backlog  # request bytes in decoding: the store's `upstream`
    log_counts: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    route_requirements: dict[int, Requirement | None] = dataclasses.field(default_factory=dict)
    grpc_server: Any = None  # `serve`'s OTLP/gRPC server, stopped before the store closes


class App(FastAPI):
    """The server's app: its ``state`` is the typed `AppState`, not Starlette's open attribute bag."""

    state: AppState  # type: ignore[assignment]  # Starlette declares State; nothing in it reads app.state


def state_of(app: FastAPI) -> AppState:
    state = app.state
    assert isinstance(state, AppState), "the app was not built by create_app"
    return state


def get_state(request: Request) -> AppState:
    """The state of the request's app."""
    return state_of(request.app)


async def _state_dependency(request: Request) -> AppState:
    """`get_state` as a dependency: FastAPI runs a plain function dependency on its thread pool, a hand-over
    that cost a one-span OTLP request about a tenth of its time in the server; a coroutine runs in place."""
    return state_of(request.app)


StateDep = Annotated[AppState, Depends(_state_dependency)]
