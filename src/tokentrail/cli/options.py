"""The options several commands take, each defined once: `db: Db = None` in a command's signature gives it
`--db` with the shared help text. A command's own options stay in its signature."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer


class Format(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


# The store: --db, else TOKENTRAIL_DB, else ./tokentrail.duckdb (cli/common.py::resolve_db).
Db = Annotated[str | None, typer.Option(help="Store URL or DuckDB file [env TOKENTRAIL_DB]")]

# The time range of the calls a command reads (analytics.ranges.TimeRange.resolve): a look-back, or a start
# (which overrides it) and an end.
Since = Annotated[str, typer.Option(help="Look back this far (e.g. 1h, 24h, 7d)")]
SinceOrAll = Annotated[
    str | None, typer.Option("--since", help="Only calls this recent (e.g. 7d); default: all")
]
Start = Annotated[str | None, typer.Option(help="Start time (ISO-8601 or epoch ms); overrides --since")]
End = Annotated[str | None, typer.Option(help="End time (default now)")]

# Where alerts and exports begin (times.parse_time), and which archived samples to take.
From = Annotated[str, typer.Option("--since", help="Start: a duration ago or an ISO 8601 time")]
SamplesSince = Annotated[
    str | None, typer.Option("--since", help="Only samples this recent (e.g. 7d) [default: all]")
]

# How results are printed.
Output = Annotated[Format, typer.Option("--format", help="table, json or csv")]
TableOrJson = Annotated[Format, typer.Option("--format", help="table or json")]
Wide = Annotated[bool, typer.Option("--wide", help="Show every column at full width, however wide the table")]

# Files of configuration that override the environment.
PricesFile = Annotated[
    Path | None, typer.Option("--prices", help="Override TOML [env TOKENTRAIL_PRICES_FILE]")
]
Rules = Annotated[
    Path | None,
    typer.Option("--rules", help="TOML file of alert rules and notifiers [env TOKENTRAIL_ALERTS]"),
]
