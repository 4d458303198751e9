"""`tokentrail simulate`: the provider simulator (OpenAI, Anthropic and Bedrock wire protocols) on its own."""

from __future__ import annotations

from typing import Annotated

import typer

from tokentrail.cli.common import fail


def simulate(
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8787,
    profile: Annotated[str | None, typer.Option(help="Profile TOML file, or 'default' or 'flaky'")] = None,
    seed: Annotated[int, typer.Option(help="Seed; the same seed and request give the same response")] = 0,
) -> None:
    """Serve a fake LLM provider that the official openai, anthropic and boto3 clients talk to."""
    from tokentrail.simulator import ProfileError, run

    try:
        run(host, port, profile, seed)
    except (ProfileError, OSError) as exc:  # the simulator's errors are outside the tree (exceptions.py)
        fail(str(exc))
