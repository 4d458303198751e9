"""Retention: how long calls, samples, metric points and the daily cost rollup are kept, and a disk cap.

- `policy`: the settings (days per kind of data, the cap, the interval) and the registry of retained tables.
- `apply`: one run, on either store: roll up and delete expired days, then drop the oldest days over the cap.
- `on_duckdb`, `on_clickhouse`: what a run does on each backend (DELETE + CHECKPOINT; TTL + mutations).
- `enforcer`: the background thread of `tokentrail serve`.
"""

from __future__ import annotations

from tokentrail.retention.apply import Report, apply_retention, describe, oldest_kept
from tokentrail.retention.enforcer import Enforcer
from tokentrail.retention.policy import Policy, RetentionError, parse_size, resolve

__all__ = [
    "Enforcer",
    "Policy",
    "Report",
    "RetentionError",
    "apply_retention",
    "describe",
    "oldest_kept",
    "parse_size",
    "resolve",
]
