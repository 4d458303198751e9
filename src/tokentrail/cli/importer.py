"""`tokentrail import KIND PATH...`: load the LLM logs people already have, with a progress bar."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from tokentrail.cli.common import console, fail, load_prices_or_fail, opened_store, say
from tokentrail.cli.options import Db
from tokentrail.ingest.importers import KINDS, ImportSummary, import_files
from tokentrail.model import Call
from tokentrail.pricing import Prices, price_call
from tokentrail.store import Store


class PricedWriter:
    """Prices each batch, as the collector does at ingest, then stores it."""

    def __init__(self, store: Store, prices: Prices) -> None:
        self.store = store
        self.prices = prices

    def write(self, calls: Sequence[Call]) -> int:
        for call in calls:
            if call.price_source != "imported":
                price_call(call, self.prices)
        return self.store.write(calls)


def run_import(kind: str, paths: list[Path], store: Store, prices: Prices) -> ImportSummary:
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(escape(f"import {kind}"), total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return import_files(kind, paths, PricedWriter(store, prices), progress=update)


def print_summary(summary: ImportSummary) -> None:
    say(
        f"read {summary.read:,} records from {summary.files} files: {summary.stored:,} stored, "
        f"{summary.duplicates:,} already present, {summary.problem_count:,} bad records"
    )
    for problem in summary.problems[:20]:
        console.print(
            f"  [yellow]{escape(str(problem.path))}:{problem.line_no}[/]: {escape(problem.message)}",
            highlight=False,
        )
    if summary.problem_count > 20:
        say(f"  ... and {summary.problem_count - 20:,} more")


def import_(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(KINDS)}")],
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (searched recursively)")],
    db: Db = None,
) -> None:
    """Import Bedrock invocation logs, METRIC| log lines or per-call JSONL. Re-imports add nothing."""
    if kind not in KINDS:
        fail(f"unknown kind {kind!r}; choose one of: {', '.join(KINDS)}")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or directory: {', '.join(missing)}")
    with opened_store(db) as store:
        summary = run_import(kind, paths, store, load_prices_or_fail(None))
    print_summary(summary)
    if summary.read == 0 and summary.problem_count:
        raise typer.Exit(1)
