"""`tokentrail serve`: the collector, API and dashboard on one port, and OTLP/gRPC on another."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from tokentrail.alerts.rules import load_rules
from tokentrail.archive.target import open_target
from tokentrail.cli.common import fail, opened_store, say
from tokentrail.cli.options import Db, Rules
from tokentrail.retention import resolve
from tokentrail.samples.policy import load
from tokentrail.settings import Settings
from tokentrail.store import Store

OPEN_REFUSED = (
    "refusing to serve {host} with no key configured: anyone who can reach it could read every call. "
    "Create a key (tokentrail keys create NAME --scopes admin), set TOKENTRAIL_INGEST_KEY, bind 127.0.0.1, "
    "or pass --insecure if the network is yours alone."
)


def check_exposure(store: Store, settings: Settings, insecure: bool) -> None:
    """No key configured and a non-loopback address: refuse unless told --insecure."""
    from tokentrail.server.auth import KeyRing
    from tokentrail.server.hosts import is_loopback

    if is_loopback(settings.host) or insecure or KeyRing(store, settings.ingest_key).configured():
        return
    fail(OPEN_REFUSED.format(host=settings.host))


def exit_on_sigterm() -> None:
    """SIGTERM ends the process as a clean exit (status 0, as a supervisor such as systemd expects of a
    requested stop), its exit handlers run, whether it comes while the collector starts or while it serves
    (uvicorn, once it has shut the app down, raises the signal again for the handler it found). With
    Python's default handler the process died before multiprocessing's exit handler stopped the decoding
    workers' fork server and removed its socket's directory from TMPDIR."""

    def stop(_signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


async def serve_both(app: Any, settings: Settings, db: str) -> None:
    """uvicorn and the gRPC server on one event loop; shutting the app down stops gRPC before the store."""
    import uvicorn

    from tokentrail.server import otlp_grpc

    if settings.grpc_port:
        try:
            app.state.grpc_server = await otlp_grpc.start(app.state, settings.host, settings.grpc_port)
        except otlp_grpc.BindFailed:
            app.state.pipeline.close()  # not closed otherwise; the table reports the error
            raise
    grpc = f", OTLP/gRPC on {settings.host}:{settings.grpc_port}" if settings.grpc_port else ""
    say(
        f"tokentrail collector on http://{settings.host}:{settings.port}"
        f"  (OTLP /v1/traces, /v1/metrics, /v1/logs{grpc}; store {db})"
    )
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning")
    await uvicorn.Server(config).serve()


def run_server(db: str, settings: Settings, insecure: bool = False) -> None:
    from tokentrail.server.app import create_app
    from tokentrail.server.hosts import is_loopback
    from tokentrail.store.pandas_free import settle_pyarrow_without_pandas

    settle_pyarrow_without_pandas()  # before the first commit would import pandas on the writer thread
    exit_on_sigterm()  # from here: the store and the decoding workers' fork server are being made
    retention = resolve(settings)
    with opened_store(db) as store:
        check_exposure(store, settings, insecure)
        app = create_app(
            store, settings, owns_store=True, retention=retention, check_host=is_loopback(settings.host)
        )
        asyncio.run(serve_both(app, settings, db))


Host = Annotated[str | None, typer.Option(help="Bind address of both ports [default 127.0.0.1]")]
Port = Annotated[int | None, typer.Option(help="OTLP/HTTP, API and dashboard port [default 4318]")]
GrpcPort = Annotated[int | None, typer.Option(help="OTLP/gRPC port; 0 turns gRPC off [default 4317]")]
Workers = Annotated[
    int | None, typer.Option(help="Processes decoding OTLP [default: one per core; 0 = threads]")
]
Sampling = Annotated[
    Path | None, typer.Option(help="TOML policy for sampling captured content [env TOKENTRAIL_SAMPLING]")
]
KEEP_LOGS_HELP = (
    "Keep OTLP log records that are not GenAI events, redacted, in log_records "
    "[env TOKENTRAIL_KEEP_LOGS; default: counted and dropped]"
)
INSECURE_HELP = "Allow a non-loopback bind with no key configured (open to all)"


def serve(
    db: Db = None,
    host: Host = None,
    port: Port = None,
    grpc_port: GrpcPort = None,
    workers: Workers = None,
    rules: Rules = None,
    sampling: Sampling = None,
    keep_logs: Annotated[bool, typer.Option("--keep-logs", help=KEEP_LOGS_HELP)] = False,
    insecure: Annotated[bool, typer.Option("--insecure", help=INSECURE_HELP)] = False,
) -> None:
    """Run the collector: OTLP/HTTP and OTLP/gRPC ingest, the JSON API and the dashboard."""
    chosen: dict[str, object] = {"db": db, "host": host, "port": port, "grpc_port": grpc_port}
    chosen |= {"ingest_workers": workers, "sampling": sampling, "alerts": rules}
    chosen["keep_logs"] = keep_logs or None  # the flag only turns keeping on; the environment may too
    settings = Settings().model_copy(update={k: v for k, v in chosen.items() if v is not None})
    if workers is None and "TOKENTRAIL_INGEST_WORKERS" not in os.environ:
        cores = os.cpu_count() or 1
        settings.ingest_workers = cores if cores > 1 else 0
    check_files(settings)
    run_server(settings.db, settings, insecure)


def check_files(settings: Settings) -> None:
    """The alert rules, archive target and sampling policy the settings name can be loaded."""
    if settings.alerts:
        load_rules(settings.alerts)
    if settings.archive_to:
        open_target(settings.archive_to)
    if settings.sampling is not None:
        load(settings.sampling)
