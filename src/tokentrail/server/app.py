"""The ASGI app: OTLP receivers, the JSON API and the dashboard on one port."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CollectorRegistry

from tokentrail.alerts import engine
from tokentrail.alerts.rules import RuleSet, load_rules
from tokentrail.archive.scheduler import Archiver
from tokentrail.exporters import cloudwatch
from tokentrail.exporters.aggregate import check_labels
from tokentrail.exporters.prometheus import IngestHealth, registry_for
from tokentrail.ingest.pipeline import Enricher, Pipeline, pricing_enricher
from tokentrail.ingest.workers import ProcessPipeline
from tokentrail.pricing import load_prices
from tokentrail.prompts.registry import Registry, Stages
from tokentrail.retention import Enforcer, Policy, resolve
from tokentrail.samples import policy as sampling
from tokentrail.samples.join import Waiting
from tokentrail.server import (
    alerts_api,
    alerts_pages,  # noqa: F401 - registers the Alerts page on the dashboard router
    api,
    budgets_api,
    content,
    dashboard,
    dashboard_api,
    dashboard_experiments,
    dashboard_static,
    errors,
    experiments_api,
    keys_api,
    login,
    metrics_api,
    otlp_grpc,
    prompts_api,
    prompts_pages,  # noqa: F401 - registers the Prompts pages on the dashboard router
    samples_api,
)
from tokentrail.server.auth import PUBLIC, KeyRing, RequestStore, enforce, requires
from tokentrail.server.hosts import HostCheck, allowed_hosts
from tokentrail.server.otlp_lane import OtlpLane
from tokentrail.server.querypool import QueryPool
from tokentrail.server.state import App, AppState, StateDep, state_of
from tokentrail.settings import Settings
from tokentrail.store import Store
from tokentrail.times import utcnow

# FastAPI traces and meters every request once an OpenTelemetry SDK provider is set in the process
# (`opentelemetry-instrument`, FASTAPI_OTEL_AUTO_CONFIGURE), and logs unhandled exceptions with their
# messages. Not in the collector: an exporter pointed at it would feed on its own ingest (three spans per
# OTLP request), a message may quote a request's content, and the checks cost ~3 % of the server's time
# on one-span requests.
NO_SELF_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


def make_pipeline(settings: Settings, enrich: Enricher | None) -> Pipeline:
    """Raises `PolicyError` for a sampling policy file that cannot be used."""
    policy = sampling.load(settings.sampling) if settings.sampling is not None else sampling.Policy()
    limit = settings.max_spans_per_request
    if settings.ingest_workers > 0 and enrich is None:
        return ProcessPipeline(settings.ingest_workers, settings.prices_file, limit, policy)
    return Pipeline(enrich or pricing_enricher(load_prices(settings.prices_file)), limit, policy)


log = logging.getLogger(__name__)


async def every(interval_s: float, job: Callable[[], object], name: str) -> None:
    """Run `job` in a thread every `interval_s` seconds until cancelled; a failure is logged, not fatal."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(job)
        except Exception:
            log.exception("%s failed", name)


def background_jobs(state: AppState) -> list[asyncio.Task[None]]:
    """What `serve` runs besides answering requests: alert evaluation and the CloudWatch publisher."""
    settings = state.settings
    store, rules = state.raw_store, state.alert_rules  # the server's own reads
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
    """Publish the windows settled (cloudwatch.SETTLE) since the last run; the first goes back 1 h."""
    import boto3

    client = boto3.client("cloudwatch")
    names = [d.strip() for d in settings.cloudwatch_dimensions.split(",") if d.strip()]
    period = dt.timedelta(seconds=max(settings.cloudwatch_interval_s, 60))
    namespace = str(settings.cloudwatch_namespace)
    cloudwatch.check_dimensions(namespace, names)

    def job() -> object:
        now = utcnow() - cloudwatch.SETTLE
        return cloudwatch.publish(store, client, namespace, names, now - dt.timedelta(hours=1), now, period)

    return job


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = state_of(app)
    retention, settings = state.retention, state.settings
    enforcer = Enforcer(state.raw_store, retention) if retention.configured else None
    if enforcer is not None:
        enforcer.start()
    jobs = background_jobs(state) if state.owns_store else []
    archiver = None
    if settings.archive_to:  # TOKENTRAIL_ARCHIVE_TO: archive the samples on a schedule
        archiver = Archiver(state.raw_store, settings.archive_to, settings.archive_interval_s)
        archiver.start()
    yield
    for job in jobs:
        job.cancel()
    await shut_down(state, archiver, enforcer)


async def shut_down(state: AppState, archiver: Archiver | None, enforcer: Enforcer | None) -> None:
    if state.grpc_server is not None:  # `serve`: finish the gRPC calls in flight before the store closes
        await state.grpc_server.stop(otlp_grpc.STOP_GRACE_S)
    if archiver is not None:
        archiver.stop()
    if enforcer is not None:
        enforcer.stop()
    state.pipeline.close()
    state.query_pool.close()
    if state.owns_store:  # `serve`: close (and checkpoint) before uvicorn re-raises SIGTERM and exits
        state.raw_store.close()


def build_state(
    store: Store, settings: Settings, enrich: Enricher | None, owns_store: bool, retention: Policy | None
) -> AppState:
    """The services of an app over `store`, built in this order (a bad setting fails before the rest)."""
    pipeline = make_pipeline(settings, enrich)
    rules = load_rules(settings.alerts) if settings.alerts else RuleSet()
    health = IngestHealth()
    return AppState(
        store=RequestStore(store),
        raw_store=store,
        owns_store=owns_store,
        settings=settings,
        retention=retention or resolve(settings),
        keyring=KeyRing(store, settings.ingest_key),
        pipeline=pipeline,
        alert_rules=rules,
        ingest_health=health,
        metrics_registry=metrics_registry(store, settings, health),
        waiting=Waiting(settings.content_wait_s, settings.content_wait_max_bytes),
        query_pool=QueryPool(settings.query_concurrency),
        prompts=Registry(store, Stages.parse(settings.prompt_stages, settings.prompt_approval_stages)),
        decode_backlog=store.upstream,  # the writer waits briefly for these requests (store/writer.py)
    )


def metrics_registry(store: Store, settings: Settings, health: IngestHealth) -> CollectorRegistry:
    """The /metrics registry, with the label set configured (checked here)."""
    labels = tuple(label.strip() for label in settings.metrics_labels.split(",") if label.strip())
    check_labels(labels)
    depth = getattr(store, "queue_depth", lambda: 0)
    return registry_for(store, labels, settings.metrics_max_series, health, depth)


def create_app(
    store: Store,
    settings: Settings | None = None,
    enrich: Enricher | None = None,
    owns_store: bool = False,
    retention: Policy | None = None,
    check_host: bool = False,
) -> App:
    """The app over `store`; with owns_store, the app closes the store when the server shuts down.

    Every route needs a key with its scope once any key is configured (server/auth.py). With check_host
    (`serve` on a loopback address) requests naming another Host are refused (server/hosts.py). Retention
    (default: from the settings) runs in a background thread while the app's lifespan lasts.
    """
    settings = settings or Settings()
    app = App(
        title="tokentrail",
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(enforce)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=NO_SELF_TELEMETRY,
    )
    app.state = build_state(store, settings, enrich, owns_store, retention)
    errors.install(app)
    app.add_middleware(OtlpLane)  # inside the host check (middleware added later runs first)
    if check_host:
        app.add_middleware(HostCheck, allowed=allowed_hosts(settings))
    include_routers(app)
    add_own_routes(app)
    return app


def include_routers(app: FastAPI) -> None:
    """Every router, each with the scope its routes need (server/auth.py)."""
    for router in (api.router, budgets_api.status_router, budgets_api.router):
        app.include_router(router)
    for router in (budgets_api.admin_router, keys_api.router, dashboard_api.router, login.router):
        app.include_router(router)
    for router in prompts_api.ROUTERS:
        app.include_router(router)
    app.include_router(dashboard_static.router, dependencies=[Depends(PUBLIC)])
    app.include_router(alerts_api.router)
    app.include_router(alerts_api.admin_router)
    app.include_router(metrics_api.router)
    app.include_router(dashboard.router)  # with the Prompts pages, registered on it by prompts_pages
    read = [Depends(requires("read"))]
    app.include_router(experiments_api.router, dependencies=read)
    app.include_router(experiments_api.members_router, dependencies=[Depends(requires("ingest"))])
    app.include_router(samples_api.router, dependencies=read)
    app.include_router(samples_api.admin_router, dependencies=[Depends(requires("admin"))])
    app.include_router(dashboard_experiments.router, dependencies=read)


def add_own_routes(app: FastAPI) -> None:
    """/healthz (public) and /openapi.json (read)."""

    @app.get("/healthz", dependencies=[Depends(PUBLIC)])
    async def healthz(state: StateDep) -> JSONResponse:
        """200 when ingest works; 503 while the decoding workers are being replaced."""
        body = {"status": "ok", "store": state.raw_store.dialect, "logs": content.stats(state)}
        if not state.pipeline.ready():
            body["status"] = "decoding workers restarting"
            return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
        return JSONResponse(body)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(requires("read"))])
    async def openapi() -> dict[str, Any]:
        return app.openapi()
