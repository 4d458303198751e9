"""`tokentrail serve`: the collector, API and dashboard on one port."""

from __future__ import annotations

import typer

from tokentrail.cli.common import console, opened_store
from tokentrail.settings import Settings


def run_server(db: str, host: str, port: int, settings: Settings) -> None:
    import uvicorn

    from tokentrail.server.app import create_app

    with opened_store(db) as store:
        app = create_app(store, settings)
        console.print(
            f"tokentrail collector on http://{host}:{port}  (OTLP /v1/traces, /v1/metrics; store {db})"
        )
        uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        db: str = typer.Option(None, help="Store URL or DuckDB file [env TOKENTRAIL_DB]"),
        host: str = typer.Option(None, help="Bind address [default 127.0.0.1]"),
        port: int = typer.Option(None, help="Port [default 4318]"),
    ) -> None:
        """Run the collector: OTLP/HTTP ingest, the JSON API and the dashboard."""
        overrides = {k: v for k, v in {"db": db, "host": host, "port": port}.items() if v is not None}
        settings = Settings().model_copy(update=overrides)
        run_server(settings.db, settings.host, settings.port, settings)
