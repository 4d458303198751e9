"""Helpers shared by CLI commands: clear errors, opening the store, output formats."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from tokentrail.cli.options import Format
from tokentrail.exceptions import TokentrailError
from tokentrail.pricing import Prices, PricingConfigError, load_prices
from tokentrail.settings import DEFAULT_DB, DEMO_DB, Settings
from tokentrail.store import QueryResult, Store, open_store


class Terminal(Console):
    """A console that measures the terminal each time it prints (COLUMNS, else the tty's size); rich's own
    keeps the COLUMNS it saw when it was made, here at import. Text is never wrapped (soft wrap): a path, a
    hash or a message stays on one line to copy; tables still fit the width."""

    def __init__(self, *, stderr: bool = False) -> None:
        super().__init__(stderr=stderr, soft_wrap=True)
        self._width = None  # None: rich's `size` measures again on every call


console = Terminal()
err_console = Terminal(stderr=True)


def group(help: str) -> typer.Typer:
    """A command group. Help is plain text: Rich markup would eat the `[env TOKENTRAIL_…]` hints."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def say(message: str, style: str = "") -> None:
    """Print text as it is (never read as Rich markup), in one style."""
    console.print(Text(message, style=style))


def resolve_db(db: str | None, *, read_only: bool) -> str:
    """--db, else TOKENTRAIL_DB, else ./tokentrail.duckdb; a command that only reads uses the demo's file
    when that is the only store here (so `tokentrail report` after `make demo` reads the demo's calls)."""
    chosen = db or Settings().db
    if read_only and chosen == DEFAULT_DB and not Path(DEFAULT_DB).exists() and Path(DEMO_DB).exists():
        note = (
            f"reading {DEMO_DB}, the demo's store (no {DEFAULT_DB} here; --db or TOKENTRAIL_DB pick another)"
        )
        err_console.print(Text(note, style="dim"))
        return DEMO_DB
    if "://" not in chosen:
        check_local(Path(chosen), read_only=read_only)
    return chosen


def check_local(path: Path, *, read_only: bool) -> None:
    """A DuckDB file that can be opened: it exists (to read) or its folder does (to write)."""
    folder = path.parent
    if read_only and not path.exists():
        found = ", ".join(sorted(p.name for p in folder.glob("*.duckdb"))) if folder.is_dir() else ""
        there = f"DuckDB files in {folder}: {found}" if found else "no DuckDB file there"
        fail(
            f"no store at {path} ({there}); "
            "choose one with --db PATH or TOKENTRAIL_DB=PATH, or create one with `tokentrail demo` or "
            "`tokentrail serve`"
        )
    if not folder.is_dir():
        fail(
            f"cannot create store {path}: the folder {folder} does not exist; create it or pick another --db"
        )


@contextmanager
def opened_store(db: str | None, *, read_only: bool = False) -> Iterator[Store]:
    """The store a command asked for (`resolve_db`), closed when the block ends; errors end the command."""
    db = resolve_db(db, read_only=read_only)
    try:
        store = open_store(db, read_only=read_only)
    except TokentrailError:  # ours: the table (cli/errors.py) says it; the clause below is for the backend's
        raise
    except Exception as exc:  # the backend's own error (locked file, bad path): say it plainly
        hint = ""
        if "lock" in str(exc).lower():
            hint = (
                " (another process, such as a running `tokentrail serve`, has the file open: stop it, or ask "
                "the running server over HTTP, e.g. GET /api/summary or POST /api/query)"
            )
        fail(f"cannot open store {db!r}: {exc}{hint}")
    try:
        yield store
    finally:
        store.close()


def load_prices_or_fail(path: Path | None) -> Prices:
    """Price data with overrides (argument, else TOKENTRAIL_PRICES_FILE); a bad file is a clear error."""
    try:
        return load_prices(path or Settings().prices_file)
    except (PricingConfigError, OSError) as exc:  # OSError is outside the tree; both get the prefix
        fail(f"cannot load price overrides: {exc}")


def plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def emit(result: QueryResult, fmt: Format) -> str:
    """JSON or CSV text of a query result."""
    if fmt == Format.JSON:
        rows = [{c: plain(v) for c, v in zip(result.columns, row, strict=True)} for row in result.rows]
        return json.dumps(rows, indent=2, default=str)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(result.columns)
    writer.writerows([[plain(v) for v in row] for row in result.rows])
    return out.getvalue()
