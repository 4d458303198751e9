"""`tokentrail simulate`: the provider simulator (OpenAI, Anthropic and Bedrock wire protocols) on its own."""

from __future__ import annotations

import typer

from tokentrail.cli.common import fail


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        host: str = typer.Option("127.0.0.1", help="Bind address"),
        port: int = typer.Option(8787, help="Port"),
        profile: str = typer.Option(None, help="Profile TOML file, or 'default' or 'flaky'"),
        seed: int = typer.Option(0, help="Seed; the same seed and request give the same response"),
    ) -> None:
        """Serve a fake LLM provider that the official openai, anthropic and boto3 clients talk to."""
        from tokentrail.simulator import ProfileError, run

        try:
            run(host, port, profile, seed)
        except (ProfileError, OSError) as exc:
            fail(str(exc))
