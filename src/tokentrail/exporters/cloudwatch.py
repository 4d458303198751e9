"""Publishing the store's metrics to CloudWatch with PutMetricData (boto3, its usual configuration).

Per window (one minute by default) and dimension combination: Calls, Errors, Retries, InputTokens,
OutputTokens, CostUSD as values; ErrorsByClass with an ``ErrorClass`` dimension; TTFT and Latency
(milliseconds) as statistic sets (count, sum, min, max). Requests hold at most `MAX_DATA` metrics and stay
under `MAX_BYTES`; a metric has at most `MAX_DIMENSIONS` dimensions. Only complete windows are sent, and
the end of the last one published is kept in the store (``export_marks``), so no window is sent twice,
whether by the CLI or by the publisher in ``serve``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from tokentrail.exporters.windows import COUNTS, Window, windows
from tokentrail.store import Store

MAX_DATA = 1000
MAX_BYTES = 1_000_000
MAX_DIMENSIONS = 30
_BYTES_BUDGET = MAX_BYTES // 2  # the query-string encoding of a datum is larger than its JSON
# `serve` publishes a window this long after it ends, so calls exported late (SDK batches) still count in it.
SETTLE = dt.timedelta(minutes=2)


def check_dimensions(namespace: str, dimensions: list[str]) -> None:
    if not 0 < len(namespace) <= 255 or namespace.startswith("AWS/"):
        raise ValueError(f"namespace must be 1-255 characters and not start with AWS/, not {namespace!r}")
    if len(dimensions) + 1 > MAX_DIMENSIONS:  # ErrorClass is added to the error counts
        raise ValueError(f"at most {MAX_DIMENSIONS - 1} dimensions, not {len(dimensions)}")


def _dims(window: Window, extra: dict[str, str] | None = None) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in {**window.dimensions, **(extra or {})}.items()]


def metric_data(window: Window) -> list[dict[str, Any]]:
    base = {"Timestamp": window.start, "StorageResolution": 60}
    data = [
        {**base, "MetricName": name, "Dimensions": _dims(window), "Value": value, "Unit": COUNTS[name][1]}
        for name, value in window.counts.items()
    ]
    for error_class, value in window.errors.items():
        dims = _dims(window, {"ErrorClass": error_class})
        data.append(
            {**base, "MetricName": "ErrorsByClass", "Dimensions": dims, "Value": value, "Unit": "Count"}
        )
    for name, s in window.stats.items():
        stats = {"SampleCount": s.count, "Sum": s.total, "Minimum": s.low, "Maximum": s.high}
        data.append(
            {
                **base,
                "MetricName": name,
                "Dimensions": _dims(window),
                "StatisticValues": stats,
                "Unit": "Milliseconds",
            }
        )
    return data


def batches(data: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Chunks of at most MAX_DATA metrics and about half of MAX_BYTES of JSON."""
    batch: list[dict[str, Any]] = []
    size = 0
    for datum in data:
        datum_size = len(json.dumps(datum, default=str))
        if batch and (len(batch) >= MAX_DATA or size + datum_size > _BYTES_BUDGET):
            yield batch
            batch, size = [], 0
        batch.append(datum)
        size += datum_size
    if batch:
        yield batch


def _mark_key(namespace: str, dimensions: list[str]) -> str:
    return f"{namespace}|{','.join(dimensions)}"


def last_end(store: Store, namespace: str, dimensions: list[str]) -> dt.datetime | None:
    sql = "SELECT max(last_end) FROM export_marks WHERE exporter = 'cloudwatch' AND target = ?"
    value = store.query(sql, [_mark_key(namespace, dimensions)]).rows[0][0]
    return value if isinstance(value, dt.datetime) else None


def set_last_end(store: Store, namespace: str, dimensions: list[str], end: dt.datetime) -> None:
    key = _mark_key(namespace, dimensions)
    store.execute("DELETE FROM export_marks WHERE exporter = 'cloudwatch' AND target = ?", [key])
    store.execute("INSERT INTO export_marks VALUES ('cloudwatch', ?, ?)", [key, end])


def publish(
    store: Store,
    client: Any,
    namespace: str,
    dimensions: list[str],
    since: dt.datetime,
    now: dt.datetime,
    period: dt.timedelta = dt.timedelta(minutes=1),
) -> tuple[int, int]:
    """Send the complete windows after the last one sent (not before `since`); (windows, metrics) sent."""
    check_dimensions(namespace, dimensions)
    epoch = dt.datetime(1970, 1, 1)
    end = epoch + (now - epoch) // period * period
    start = max(since, last_end(store, namespace, dimensions) or since)
    start = epoch + (start - epoch) // period * period if start == since else start
    if start >= end:
        return 0, 0
    found = windows(store, dimensions, start, end, period)
    data = [datum for window in found for datum in metric_data(window)]
    for batch in batches(data):
        client.put_metric_data(Namespace=namespace, MetricData=batch)
    set_last_end(store, namespace, dimensions, end)
    return len(found), len(data)
