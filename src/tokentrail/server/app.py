"""The ASGI app: OTLP receivers, the JSON API and the dashboard on one port."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tokentrail.ingest.pipeline import Enricher, Pipeline, pricing_enricher
from tokentrail.pricing import load_prices
from tokentrail.server import api, otlp
from tokentrail.settings import Settings
from tokentrail.store import Store


def create_app(store: Store, settings: Settings | None = None, enrich: Enricher | None = None) -> FastAPI:
    app = FastAPI(title="tokentrail", version="0.1.0")
    app.state.store = store
    settings = settings or Settings()
    app.state.settings = settings
    if enrich is None:
        app.state.prices = load_prices(settings.prices_file)
        enrich = pricing_enricher(app.state.prices)
    app.state.pipeline = Pipeline(enrich)
    app.include_router(otlp.router)
    app.include_router(api.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "store": store.dialect}

    return app
