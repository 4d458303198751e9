"""The groups and calls of one query, shared by its follow-up scans (errors by class, percentiles)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from tokentrail.analytics.metrics import ERROR_CLASSES, aliased, positions
from tokentrail.store import Store


@dataclasses.dataclass(frozen=True, slots=True)
class Scan:
    """The groups and calls one aggregate query reads; its follow-up scans read the same."""

    store: Store
    groups: Sequence[tuple[str, str]]  # (alias, SQL expression), from a fixed table
    clause: str
    params: list[Any]
    timeout_s: float | None
    group_params: Sequence[Any] = ()  # values bound by the group expressions, in order

    @property
    def by(self) -> list[str]:
        return [alias for alias, _ in self.groups]

    def select(self) -> list[str]:
        return aliased(self.groups)

    def query(self, sql: str, args: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        args = [*self.group_params, *self.params] if args is None else args
        return self.store.query(sql, args, timeout_s=self.timeout_s).dicts()


def add_errors(scan: Scan, rows: list[dict[str, Any]]) -> None:
    """Errors by class, errors, error_rate and unpriced_calls (ok calls with no cost), from error rows."""
    sql = (
        f"SELECT {', '.join([*scan.select(), 'error_class'])}, count(*) AS n, count(cost_usd) AS priced "
        f"FROM calls WHERE {scan.clause} AND status = 'error' GROUP BY {positions(len(scan.by) + 1)}"
    )
    counts = _error_counts(scan, sql)
    empty = {"errors": 0, "priced": 0}
    for row in rows:
        group = counts.get(tuple(row[name] for name in scan.by), empty)
        for cls in ERROR_CLASSES:
            row[f"errors_{cls}"] = group.get(cls, 0)
        calls, errors = int(row["calls"]), group["errors"]
        row["errors"], row["error_rate"] = errors, errors / calls if calls else None
        row["unpriced_calls"] = calls - errors - (int(row.pop("priced_calls")) - group["priced"])


def _error_counts(scan: Scan, sql: str) -> dict[tuple[Any, ...], dict[str, int]]:
    """Per group: errors by class, all errors, and priced error calls."""
    counts: dict[tuple[Any, ...], dict[str, int]] = {}
    for r in scan.query(sql):
        group = counts.setdefault(tuple(r[name] for name in scan.by), {"errors": 0, "priced": 0})
        cls = r["error_class"] or "other"
        group[cls] = group.get(cls, 0) + int(r["n"])
        group["errors"] += int(r["n"])  # every error row, whatever its class
        group["priced"] += int(r["priced"])
    return counts
