"""Firings as intervals: each time a group fired (``fired_at``) until it resolved (``resolved_at``, None while
it still fires), read from the state changes in ``alert_events``, with the deliveries sent meanwhile.

The dashboard's Alerts page lists them and the overview marks them on its time series.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tokentrail.alerts.notifiers import deliveries
from tokentrail.store import Store

_EVENTS = (
    "SELECT occurred_at, rule, group_key, to_state, value, explanation, severity FROM alert_events "
    "WHERE to_state = 'firing' OR from_state = 'firing' ORDER BY rule, group_key, occurred_at"
)


def _intervals(store: Store) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    open_: dict[tuple[str, str], dict[str, Any]] = {}
    for at, rule, key, to_state, value, explanation, severity in store.query(_EVENTS).rows:
        if to_state == "firing":
            open_[rule, key] = {
                "rule": rule,
                "group": json.loads(key),
                "group_key": key,
                "severity": severity,
                "fired_at": at,
                "resolved_at": None,
                "value": value,
                "explanation": explanation or "",
            }
            out.append(open_[rule, key])
        elif (rule, key) in open_:
            open_.pop((rule, key))["resolved_at"] = at
    return out


def _overlaps(firing: dict[str, Any], start: dt.datetime | None, end: dt.datetime | None) -> bool:
    resolved = firing["resolved_at"]
    began = end is None or firing["fired_at"] < end
    return began and (start is None or resolved is None or resolved > start)


def firings(
    store: Store, start: dt.datetime | None = None, end: dt.datetime | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Firings overlapping [start, end), newest first, each with its ``deliveries`` (oldest first)."""
    found = [f for f in _intervals(store) if _overlaps(f, start, end)]
    found = sorted(found, key=lambda f: f["fired_at"], reverse=True)[:limit]
    sent = sorted(deliveries(store, limit=10 * limit), key=lambda d: d["sent_at"])
    for firing in found:
        firing["deliveries"] = [d for d in sent if _during(d, firing)]
    return found


def _during(delivery: dict[str, Any], firing: dict[str, Any]) -> bool:
    resolved = firing["resolved_at"]
    return (
        delivery["rule"] == firing["rule"]
        and delivery["group_key"] == firing["group_key"]
        and firing["fired_at"] <= delivery["sent_at"]
        and (resolved is None or delivery["sent_at"] <= resolved)
    )


def bands(found: list[dict[str, Any]], start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Firings clipped to [start, end], as the overview's charts shade them (``to`` is `end` while firing)."""
    return [
        {
            "rule": f["rule"],
            "group": f["group"],
            "severity": f["severity"],
            "from": max(f["fired_at"], start),
            "to": min(f["resolved_at"] or end, end),
        }
        for f in found
    ]
