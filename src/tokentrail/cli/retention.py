"""`tokentrail retention apply`: delete what the retention settings no longer keep, now."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tokentrail.cli.common import console, group, opened_store, say
from tokentrail.cli.options import Db
from tokentrail.retention import Policy, Report, apply_retention, resolve
from tokentrail.settings import Settings

DAYS_HELP = "Days of {} to keep (whole UTC days; older days are deleted) [env TOKENTRAIL_RETENTION_{}]"


def report_table(report: Report) -> Table:
    table = Table(title="Retention", title_justify="left")
    for header in ("table", "days dropped", "oldest dropped", "newest dropped", "rows deleted"):
        table.add_column(header, justify="left" if header == "table" else "right")
    for name, days in report.days.items():
        table.add_row(name, f"{len(days):,}", str(min(days)), str(max(days)), f"{report.rows[name]:,}")
    return table


def print_report(report: Report, policy: Policy) -> None:
    if report.days:
        console.print(report_table(report))
    else:
        say("Nothing to delete: every stored day is within the retention settings.")
    for statement in report.ttl:
        say(f"ClickHouse: {statement}")
    if report.cap_days:
        say(f"Disk cap: dropped {len(report.cap_days)} oldest day(s) up to {max(report.cap_days)}.")
    cap = f" (cap {policy.max_disk:,} bytes)" if policy.max_disk is not None else ""
    say(f"Store size: {report.size_before:,} → {report.size_after:,} bytes{cap}.")
    for note in report.notes:
        say(f"note: {note}", style="yellow")


app = group("How long data is kept, and a disk cap.")

Calls = Annotated[str | None, typer.Option(help=DAYS_HELP.format("calls and their traces", "CALLS"))]
Samples = Annotated[
    str | None, typer.Option(help=DAYS_HELP.format("sampled prompts and responses", "SAMPLES"))
]
MetricPoints = Annotated[str | None, typer.Option(help=DAYS_HELP.format("metric points", "METRIC_POINTS"))]
Rollups = Annotated[str | None, typer.Option(help=DAYS_HELP.format("the daily cost rollup", "ROLLUPS"))]
MaxDisk = Annotated[str | None, typer.Option(help="Size cap, e.g. 500MB or 2GiB [env TOKENTRAIL_MAX_DISK]")]
NOTHING_SET = (
    "No retention is set (--calls, --samples, --metric-points, --rollups, --max-disk or their "
    "TOKENTRAIL_RETENTION_* and TOKENTRAIL_MAX_DISK variables): everything is kept."
)


@app.command("apply")
def apply(
    db: Db = None,
    calls: Calls = None,
    samples: Samples = None,
    metric_points: MetricPoints = None,
    rollups: Rollups = None,
    max_disk: MaxDisk = None,
) -> None:
    """Delete expired days now (calls are rolled up for chargeback first), then enforce the disk cap."""
    chosen = {"calls": calls, "samples": samples, "metric_points": metric_points, "rollups": rollups}
    policy = resolve(Settings(), {**chosen, "max_disk": max_disk})
    if not policy.configured:
        say(NOTHING_SET)
    with opened_store(db) as store:
        print_report(apply_retention(store, policy), policy)
