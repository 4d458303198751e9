"""CloudWatch Embedded Metric Format: one JSON log line per window and dimension combination.

Each line is an EMF document (the ``_aws`` metadata with ``Timestamp`` in epoch milliseconds and one
metric directive: ``Namespace``, ``Dimensions``, ``Metrics``) whose root holds the dimension values and the
metric values: the counts of `windows.COUNTS`, ``Errors_<class>`` per error class, and for TTFT and
latency the count and sum (``TTFTCount``, ``TTFTSum``, ...; milliseconds), which add up across lines.
CloudWatch Logs turns such lines into metrics when they reach a log group (e.g. from a Lambda or the agent).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from tokentrail.exporters.windows import COUNTS, Window

EPOCH = dt.datetime(1970, 1, 1)


def document(window: Window, namespace: str) -> dict[str, Any]:
    values: dict[str, float] = dict(window.counts)
    units = {name: unit for name, (_, unit) in COUNTS.items()}
    for error_class, value in window.errors.items():
        values[f"Errors_{error_class}"], units[f"Errors_{error_class}"] = value, "Count"
    for name, s in window.stats.items():
        values[f"{name}Count"], units[f"{name}Count"] = s.count, "Count"
        values[f"{name}Sum"], units[f"{name}Sum"] = s.total, "Milliseconds"
    directive = {
        "Namespace": namespace,
        "Dimensions": [list(window.dimensions)],
        "Metrics": [{"Name": name, "Unit": units[name]} for name in values],
    }
    timestamp = int((window.start - EPOCH).total_seconds() * 1000)
    meta = {"Timestamp": timestamp, "CloudWatchMetrics": [directive]}
    return {"_aws": meta, **window.dimensions, **values}


def lines(found: list[Window], namespace: str) -> Iterator[str]:
    for window in found:
        yield json.dumps(document(window, namespace), separators=(",", ":"))
