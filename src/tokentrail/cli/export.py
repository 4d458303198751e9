"""`tokentrail export cloudwatch|emf`: the store's metrics out to CloudWatch, or as EMF log lines."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer

from tokentrail.cli.common import fail, group, opened_store, say
from tokentrail.cli.options import Db, From
from tokentrail.exporters import cloudwatch, emf
from tokentrail.exporters.windows import dimension_label, windows
from tokentrail.times import parse_duration, parse_time, utcnow

app = group("Send the store's metrics to CloudWatch or write EMF lines.")

Dimensions = Annotated[
    str, typer.Option(help="Comma-separated: Model, Provider, App, Feature, Tenant, Team, ...")
]
Period = Annotated[str, typer.Option(help="Window length (CloudWatch keeps 1-minute resolution)")]


def _options(dimensions: str, since: str, period: str) -> tuple[list[str], dt.datetime, dt.timedelta]:
    names = [d.strip() for d in dimensions.split(",") if d.strip()]
    try:
        length = parse_duration(period, "--period")
        start = parse_time(since, utcnow())
        for name in names:
            dimension_label(name)
    except ValueError as exc:  # dimension_label's plain ValueError: outside the tree
        fail(str(exc))
    return names, start, length


@app.command("cloudwatch")
def to_cloudwatch(
    namespace: str = "LLM/Performance",
    dimensions: Dimensions = "Model",
    since: From = "1h",
    period: Period = "1m",
    db: Db = None,
) -> None:
    """PutMetricData for every complete window not sent before (boto3's usual configuration)."""
    import boto3

    names, start, length = _options(dimensions, since, period)
    try:
        cloudwatch.check_dimensions(namespace, names)
    except ValueError as exc:  # a plain ValueError, outside the tree
        fail(str(exc))
    client = boto3.client("cloudwatch")
    with opened_store(db) as store:
        try:
            sent = cloudwatch.publish(store, client, namespace, names, start, utcnow(), length)
        except Exception as exc:  # botocore's errors: credentials, endpoint, throttling
            fail(f"CloudWatch refused or could not be reached: {exc}")
    say(f"published {sent[1]} metrics over {sent[0]} windows to {namespace}")


@app.command("emf")
def to_emf(
    namespace: str = "LLM/Performance",
    dimensions: Dimensions = "Model",
    since: From = "1h",
    period: Period = "1m",
    output: Annotated[Path | None, typer.Option(help="File to write (default: stdout)")] = None,
    db: Db = None,
) -> None:
    """Embedded Metric Format lines, one per window and dimension combination."""
    names, start, length = _options(dimensions, since, period)
    with opened_store(db, read_only=True) as store:
        found = windows(store, names, start, utcnow(), length)
    text = "".join(line + "\n" for line in emf.lines(found, namespace))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
