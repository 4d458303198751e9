"""The command line: `tokentrail serve | report | ...`. One module per resource."""

from __future__ import annotations

from collections.abc import Callable

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
from tokentrail.cli.errors import Commands

app = typer.Typer(
    name="tokentrail",
    help="Observability for LLM workloads: latency, tokens, cost and labels of every call.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help text, as in `common.group`
    cls=Commands,  # the one place errors of the tree become a message and an exit code (cli/errors.py)
)
# The commands in the order `tokentrail --help` lists them: a function is a command, a Typer app a group.
COMMANDS: tuple[tuple[str, Callable[..., None] | typer.Typer], ...] = (
    ("demo", demo.demo),
    ("serve", serve.serve),
    ("report", report.report),
    ("query", query.query),
    ("sql", query.sql),
    ("import", importer.import_),
    ("chargeback", chargeback.chargeback),
    ("prices", prices.app),
    ("reprice", prices.reprice),
    ("budget", budget.app),
    ("experiments", experiments.app),
    ("keys", keys.app),
    ("prompts", prompts.app),
    ("retention", retention.app),
    ("alerts", alerts.app),
    ("export", export.app),
    ("clickhouse", clickhouse.app),
    ("simulate", simulate.simulate),
    ("archive", archive.archive),
    ("replay", replay.replay),
)
for name, command in COMMANDS:
    if isinstance(command, typer.Typer):
        app.add_typer(command, name=name)
    else:
        app.command(name)(command)


def main() -> None:
    app()
