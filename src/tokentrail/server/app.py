"""The ASGI app: OTLP receivers, the JSON API and the dashboard on one port."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from tokentrail.alerts import engine
from tokentrail.alerts.durations import utcnow
from tokentrail.alerts.rules import RuleSet, load_rules
from tokentrail.exporters import cloudwatch
from tokentrail.exporters.aggregate import check_labels
from tokentrail.exporters.prometheus import IngestHealth, registry_for
from tokentrail.ingest.pipeline import Enricher, Pipeline, pricing_enricher
from tokentrail.ingest.workers import ProcessPipeline
from tokentrail.pricing import load_prices
from tokentrail.retention import Enforcer, Policy, resolve
from tokentrail.server import (
    alerts_api,
    api,
    budgets_api,
    dashboard,
    dashboard_api,
    dashboard_experiments,
    experiments_api,
    metrics_api,
    otlp,
)
from tokentrail.settings import Settings
from tokentrail.store import Store
from tokentrail.store.backlog import Backlog


def make_pipeline(settings: Settings, enrich: Enricher | None) -> Pipeline:
    limit = settings.max_spans_per_request
    if settings.ingest_workers > 0 and enrich is None:
        return ProcessPipeline(settings.ingest_workers, settings.prices_file, limit)
    return Pipeline(enrich or pricing_enricher(load_prices(settings.prices_file)), limit)


log = logging.getLogger(__name__)


async def every(interval_s: float, job: Callable[[], object], name: str) -> None:
    """Run `job` in a thread every `interval_s` seconds until cancelled; a failure is logged, not fatal."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(job)
        except Exception:
            log.exception("%s failed", name)


def background_jobs(app: FastAPI) -> list[asyncio.Task[None]]:
    """What `serve` runs besides answering requests: alert evaluation and the CloudWatch publisher."""
    settings: Settings = app.state.settings
    store, rules = app.state.store, app.state.alert_rules
    jobs = []
    if settings.alerts_interval_s > 0:
        evaluate = lambda: engine.evaluate(store, rules, utcnow())  # noqa: E731
        jobs.append(asyncio.create_task(every(settings.alerts_interval_s, evaluate, "alert evaluation")))
    if settings.cloudwatch_namespace:
        publish = cloudwatch_job(store, settings)
        jobs.append(
            asyncio.create_task(every(settings.cloudwatch_interval_s, publish, "CloudWatch publisher"))
        )
    return jobs


def cloudwatch_job(store: Store, settings: Settings) -> Callable[[], object]:
    """Publish the windows completed since the last run (the first run goes back at most an hour)."""
    import boto3

    client = boto3.client("cloudwatch")
    names = [d.strip() for d in settings.cloudwatch_dimensions.split(",") if d.strip()]
    period = dt.timedelta(seconds=max(settings.cloudwatch_interval_s, 60))
    namespace = str(settings.cloudwatch_namespace)
    cloudwatch.check_dimensions(namespace, names)

    def job() -> object:
        now = utcnow()
        return cloudwatch.publish(store, client, namespace, names, now - dt.timedelta(hours=1), now, period)

    return job


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    enforcer = Enforcer(app.state.store, app.state.retention) if app.state.retention.configured else None
    if enforcer is not None:
        enforcer.start()
    jobs = background_jobs(app) if app.state.owns_store else []
    yield
    for job in jobs:
        job.cancel()
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
    app.state.alert_rules = load_rules(settings.alerts) if settings.alerts else RuleSet()
    app.state.ingest_health = IngestHealth()
    labels = tuple(label.strip() for label in settings.metrics_labels.split(",") if label.strip())
    check_labels(labels)
    depth = getattr(store, "queue_depth", lambda: 0)
    app.state.metrics_registry = registry_for(
        store, labels, settings.metrics_max_series, app.state.ingest_health, depth
    )
    app.include_router(otlp.router)
    app.include_router(api.router)
    app.include_router(budgets_api.router)
    app.include_router(alerts_api.router)
    app.include_router(metrics_api.router)
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
