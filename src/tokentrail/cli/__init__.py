"""The command line: `tokentrail serve | report | ...`. One module per resource."""

from __future__ import annotations

import typer

from tokentrail.cli import (
    alerts,
    archive,
    budget,
    chargeback,
    clickhouse,
    demo,
    experiments,
    export,
    importer,
    keys,
    prices,
    prompts,
    query,
    replay,
    report,
    retention,
    serve,
    simulate,
)

app = typer.Typer(
    name="tokentrail",
    help="Observability for LLM workloads: latency, tokens, cost and labels of every call.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for module in (
    demo,
    serve,
    report,
    query,
    importer,
    chargeback,
    prices,
    budget,
    experiments,
    keys,
    prompts,
    retention,
    alerts,
    export,
    clickhouse,
    simulate,
    archive,
    replay,
):
    module.register(app)


def main() -> None:
    app()
