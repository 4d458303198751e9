"""The ASGI app: OTLP receivers, the JSON API and the dashboard on one port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from tokentrail.ingest.pipeline import Enricher, Pipeline, pricing_enricher
from tokentrail.ingest.workers import ProcessPipeline
from tokentrail.pricing import load_prices
from tokentrail.retention import Enforcer, Policy, resolve
from tokentrail.samples import policy as sampling
from tokentrail.server import (
    api,
    budgets_api,
    dashboard,
    dashboard_api,
    dashboard_experiments,
    experiments_api,
    otlp,
    samples_api,
)
from tokentrail.settings import Settings
from tokentrail.store import Store
from tokentrail.store.backlog import Backlog


def make_pipeline(settings: Settings, enrich: Enricher | None) -> Pipeline:
    """Raises `PolicyError` for a sampling policy file that cannot be used."""
    policy = sampling.load(settings.sampling) if settings.sampling is not None else sampling.Policy()
    limit = settings.max_spans_per_request
    if settings.ingest_workers > 0 and enrich is None:
        return ProcessPipeline(settings.ingest_workers, settings.prices_file, limit, policy)
    return Pipeline(enrich or pricing_enricher(load_prices(settings.prices_file)), limit, policy)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    enforcer = Enforcer(app.state.store, app.state.retention) if app.state.retention.configured else None
    if enforcer is not None:
        enforcer.start()
    yield
    if enforcer is not None:
        enforcer.stop()
    app.state.pipeline.close()
    if app.state.owns_store:  # `serve`: close (and checkpoint) before uvicorn re-raises SIGTERM and exits
        app.state.store.close()


def create_app(
    store: Store,
    settings: Settings | None = None,
    enrich: Enricher | None = None,
    owns_store: bool = False,
    retention: Policy | None = None,
) -> FastAPI:
    """The app over `store`; with owns_store, the app closes the store when the server shuts down.

    Retention (default: from the settings) runs in a background thread while the app's lifespan lasts."""
    app = FastAPI(title="tokentrail", version="0.1.0", lifespan=lifespan)
    app.state.store = store
    app.state.owns_store = owns_store
    settings = settings or Settings()
    app.state.settings = settings
    app.state.retention = retention or resolve(settings)
    app.state.pipeline = make_pipeline(settings, enrich)
    app.state.decode_backlog = Backlog()  # request bytes waiting for (or in) decoding
    app.include_router(otlp.router)
    app.include_router(api.router)
    app.include_router(budgets_api.router)
    app.include_router(samples_api.router)
    app.include_router(dashboard_api.router)
    app.include_router(experiments_api.router)
    app.include_router(dashboard.router)
    app.include_router(dashboard_experiments.router)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """200 when ingest works; 503 while the decoding workers are being replaced."""
        body: dict[str, Any] = {"status": "ok", "store": store.dialect}
        if not app.state.pipeline.ready():
            body["status"] = "decoding workers restarting"
            return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
        return JSONResponse(body)

    return app
