"""The fixed tables of identifiers a read query may name, and the WHERE clause of a range and filters.

A name from a request (a group-by dimension, a filter field, a sort column) is looked up here; one that is not
in its table raises `BadRequest` before any SQL is built, so no user text becomes an identifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tokentrail.analytics.ranges import TimeRange
from tokentrail.exceptions import BadRequest
from tokentrail.model import COLUMN_NAMES, LABELS

MODEL_SQL = "coalesce(response_model, request_model)"

# Dimensions a report or summary may group by: name -> SQL expression.
DIMENSIONS: dict[str, str] = {
    **{label: label for label in LABELS},
    "provider": "provider",
    "model": MODEL_SQL,
    "request_model": "request_model",
    "response_model": "response_model",
    "operation": "operation",
    "service": "service",
    "status": "status",
    "error_class": "error_class",
    "stop_reason": "stop_reason",
    "kind": "kind",
    "source": "source",
    "degraded": "degraded",
    "prompt": "prompt_name || ' v' || prompt_version",  # a prompt version, e.g. "support-triage v3"
    "day": "date_trunc('day', start_time)",
    "hour": "date_trunc('hour', start_time)",
}

# Fields a filter may test for equality: name -> SQL expression.
FILTERS: dict[str, str] = {
    **{name: expr for name, expr in DIMENSIONS.items() if name not in ("day", "hour")},
    **{name: name for name in ("trace_id", "span_id", "parent_span_id", "name")},
}
FILTERABLE = frozenset(FILTERS)

# Columns a call list may be sorted by: name -> column.
_UNSORTABLE = ("attributes", "metadata", "tool_names", "source_record")
SORTS: dict[str, str] = {name: name for name in COLUMN_NAMES if name not in _UNSORTABLE}
SORTABLE = frozenset(SORTS)


def dimension(name: str) -> str:
    """The SQL expression of a group-by dimension."""
    if name not in DIMENSIONS:
        raise BadRequest(f"cannot group by {name!r}; choose one of: {', '.join(DIMENSIONS)}")
    return DIMENSIONS[name]


def groups(names: Sequence[str]) -> list[tuple[str, str]]:
    """(alias, SQL expression) of each group-by dimension, checked against `DIMENSIONS`."""
    return [(name, dimension(name)) for name in names]


def sort_column(name: str) -> str:
    """The column a call list is sorted by."""
    if name not in SORTS:
        raise BadRequest(f"cannot sort by {name!r}; sortable columns: {', '.join(sorted(SORTABLE))}")
    return SORTS[name]


def where(time_range: TimeRange, filters: Mapping[str, str] | None) -> tuple[str, list[Any]]:
    """The clause selecting the calls in the range that match every filter, and its bound values."""
    clauses = ["start_time >= ?", "start_time < ?"]
    params: list[Any] = [time_range.start, time_range.end]
    for key, value in (filters or {}).items():
        if key not in FILTERS:
            raise BadRequest(f"cannot filter on {key!r}; filterable fields: {', '.join(sorted(FILTERABLE))}")
        clauses.append(f"{FILTERS[key]} = ?")
        params.append(value)
    return " AND ".join(clauses), params
