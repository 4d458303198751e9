"""OTLP metrics → one row per data point (model.METRIC_COLUMNS), for gauges, sums, histograms,
exponential histograms and summaries alike."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tokentrail import semconv as sc
from tokentrail.ingest.normalize import attributes_dict, ns_to_datetime

TEMPORALITY = {0: None, 1: "delta", 2: "cumulative"}


def _time(ns: int) -> dt.datetime | None:
    return ns_to_datetime(ns) if ns else None


def _number(point: Any) -> float | None:
    kind = point.WhichOneof("value")
    return float(getattr(point, kind)) if kind else None


def _row(
    metric: Any, kind: str, point: Any, service: str | None, received: dt.datetime, **values: Any
) -> tuple[Any, ...]:
    return (
        metric.name,
        metric.unit or None,
        kind,
        _time(point.time_unix_nano),
        _time(point.start_time_unix_nano),
        values.get("value"),
        values.get("count"),
        values.get("min"),
        values.get("max"),
        values.get("bucket_counts"),
        values.get("explicit_bounds"),
        values.get("temporality"),
        service,
        attributes_dict(point.attributes),
        received,
    )


def metric_rows(metric: Any, service: str | None, received: dt.datetime) -> list[tuple[Any, ...]]:
    kind = metric.WhichOneof("data")
    if kind is None:
        return []
    data = getattr(metric, kind)
    temporality = TEMPORALITY.get(getattr(data, "aggregation_temporality", 0))
    rows = []
    for p in data.data_points:
        if kind in ("gauge", "sum"):
            rows.append(_row(metric, kind, p, service, received, value=_number(p), temporality=temporality))
        elif kind == "histogram":
            rows.append(
                _row(
                    metric,
                    kind,
                    p,
                    service,
                    received,
                    value=p.sum if p.HasField("sum") else None,
                    count=p.count,
                    min=p.min if p.HasField("min") else None,
                    max=p.max if p.HasField("max") else None,
                    bucket_counts=list(p.bucket_counts),
                    explicit_bounds=list(p.explicit_bounds),
                    temporality=temporality,
                )
            )
        elif kind == "exponential_histogram":
            rows.append(
                _row(metric, kind, p, service, received, value=p.sum, count=p.count, temporality=temporality)
            )
        else:  # summary
            rows.append(_row(metric, kind, p, service, received, value=p.sum, count=p.count))
    return rows


def count_points(request: Any) -> int:
    return sum(
        len(getattr(metric, kind).data_points)
        for resource_metrics in request.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if (kind := metric.WhichOneof("data"))
    )


def request_to_rows(request: Any, received: dt.datetime) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for resource_metrics in request.resource_metrics:
        service = attributes_dict(resource_metrics.resource.attributes).get(sc.SERVICE_NAME)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                rows.extend(metric_rows(metric, service, received))
    return rows
