"""Replaying a rule over stored history: when it would have fired and resolved.

The windows end at ``until``, ``until - window``, ... back to ``since``; the state machine runs over them
oldest first, with no notifications. One row per firing: ``{"rule", "group", "fired_at", "resolved_at",
"value", "expected_low", "expected_high"}`` (``resolved_at`` is None while it still fires at ``until``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tokentrail.alerts.judge import judge, windows_needed
from tokentrail.alerts.metrics import METRICS, Series, series
from tokentrail.alerts.rules import Rule
from tokentrail.alerts.state import AlertState, step
from tokentrail.exceptions import NotFoundError
from tokentrail.store import Store
from tokentrail.times import iso, utcnow


def align(at: dt.datetime, window: dt.timedelta) -> dt.datetime:
    """`at` rounded down to a whole number of windows since the Unix epoch."""
    epoch = dt.datetime(1970, 1, 1)
    return epoch + (at - epoch) // window * window


def _replay(
    rule: Rule, key: tuple[str | None, ...], s: Series, ends: list[dt.datetime]
) -> list[dict[str, Any]]:
    state = AlertState(rule.name, dict(zip(rule.by, key, strict=True)))
    out: list[dict[str, Any]] = []
    for index in range(len(ends) - 1, -1, -1):
        event = step(state, judge(rule, s, ends[index], index), rule, ends[index])
        if event == "firing":
            out.append(
                {
                    "rule": rule.name,
                    "group": state.group,
                    "fired_at": iso(ends[index]),
                    "resolved_at": None,
                    "value": state.value,
                    "expected_low": state.expected_low,
                    "expected_high": state.expected_high,
                }
            )
        elif event == "resolved" and out:
            out[-1]["resolved_at"] = iso(ends[index])
    return out


def backtest(store: Store, rule: Rule, since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    """Every firing of `rule` over the windows ending in (since, until], oldest first."""
    steps = max(int((until - since) / rule.window), 1)
    ends = [until - rule.window * i for i in range(steps)]
    count = steps + windows_needed(rule) - 1
    found = series(store, METRICS[rule.metric], rule.where, rule.by, until, rule.window, count)
    rows = [row for key, s in found.items() for row in _replay(rule, key, s, ends)]
    return sorted(rows, key=lambda row: (row["fired_at"], str(row["group"])))


class UnknownRule(NotFoundError):
    """No rule of that name in the rule file or the store; the message lists the rules there are."""


def find_rule(rules: list[Rule], name: str) -> Rule:
    for rule in rules:
        if rule.name == name:
            return rule
    raise UnknownRule(f"no rule {name!r}; rules: {', '.join(sorted(r.name for r in rules)) or 'none'}")


def backtest_named(
    rules: list[Rule], calls: Store, name: str, since: dt.datetime, until: dt.datetime | None
) -> list[dict[str, Any]]:
    """What the API, the CLI and the Alerts page answer: the named rule's backtest over `calls` from `since`
    to `until` (default: now, rounded down to the rule's window)."""
    rule = find_rule(rules, name)
    return backtest(calls, rule, since, until or align(utcnow(), rule.window))
