"""Alert state per rule and group, kept in the store so it survives a restart of `serve`.

normal → pending (the condition holds, for less than the rule's ``for``) → firing → resolved (the condition
has not held for ``keep_firing_for``) → pending again when it holds anew. A notification goes out when a
group starts firing, again every ``repeat_interval`` while it keeps firing, and once when it resolves; a
repeated evaluation at the same time changes nothing (deduplication). Every state change is kept in
``alert_events``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from tokentrail.alerts.judge import Verdict
from tokentrail.alerts.rules import Rule
from tokentrail.store import Store

_NO_DATA = {"ok": False, "alert": True, "keep": None}


@dataclasses.dataclass(slots=True)
class AlertState:
    rule: str
    group: dict[str, str | None]
    state: str = "normal"
    since: dt.datetime | None = None
    last_true: dt.datetime | None = None
    last_notified: dt.datetime | None = None
    value: float | None = None
    expected_low: float | None = None
    expected_high: float | None = None
    explanation: str = ""

    @property
    def key(self) -> str:
        return group_key(self.group)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for name in ("since", "last_true", "last_notified"):
            out[name] = None if out[name] is None else out[name].isoformat() + "Z"
        return out


def group_key(group: dict[str, str | None]) -> str:
    return json.dumps(group, sort_keys=True)


def _holding(state: AlertState, verdict: Verdict, rule: Rule, at: dt.datetime) -> str | None:
    state.last_true = at
    if state.state in ("normal", "resolved"):
        state.state, state.since = "pending", at
    if state.state == "pending" and state.since is not None and at - state.since >= rule.for_:
        state.state, state.since, state.last_notified = "firing", at, at
        return "firing"
    if state.state == "firing" and state.last_notified and at - state.last_notified >= rule.repeat_interval:
        state.last_notified = at
        return "repeat"
    return None


def _not_holding(state: AlertState, rule: Rule, at: dt.datetime) -> str | None:
    if state.state == "pending":
        state.state, state.since = "normal", at
    elif state.state == "firing" and (
        state.last_true is None or at - state.last_true >= rule.keep_firing_for
    ):
        state.state, state.since = "resolved", at
        return "resolved"
    return None


def step(state: AlertState, verdict: Verdict, rule: Rule, at: dt.datetime) -> str | None:
    """Move one group's state to time `at`; returns what to notify: firing, repeat, resolved or None."""
    holds = verdict.holds if verdict.holds is not None else _NO_DATA[rule.no_data]
    if holds is None:
        return None
    if verdict.value is not None or not holds or state.state != "firing":  # no data held as firing: keep why
        state.value, state.explanation = verdict.value, verdict.explanation
        state.expected_low, state.expected_high = verdict.expected_low, verdict.expected_high
    return _holding(state, verdict, rule, at) if holds else _not_holding(state, rule, at)


_STATE_COLUMNS = (
    "rule, group_key, state, since, last_true, last_notified, value, expected_low, expected_high, explanation"
)


def load_states(store: Store, rule: str) -> dict[str, AlertState]:
    rows = store.query(f"SELECT {_STATE_COLUMNS} FROM alert_states WHERE rule = ?", [rule]).rows
    out = {}
    for row in rows:
        state = AlertState(row[0], json.loads(row[1]), row[2], row[3], row[4], row[5])
        state.value, state.expected_low, state.expected_high = row[6], row[7], row[8]
        state.explanation = row[9] or ""
        out[state.key] = state
    return out


def save_state(store: Store, state: AlertState, at: dt.datetime) -> None:
    store.execute("DELETE FROM alert_states WHERE rule = ? AND group_key = ?", [state.rule, state.key])
    values: list[Any] = [
        state.rule,
        state.key,
        state.state,
        state.since,
        state.last_true,
        state.last_notified,
    ]
    values += [state.value, state.expected_low, state.expected_high, state.explanation, at]
    store.execute(f"INSERT INTO alert_states VALUES ({', '.join('?' * len(values))})", values)


def record_event(store: Store, state: AlertState, before: str, at: dt.datetime, severity: str) -> None:
    values: list[Any] = [at, state.rule, state.key, before, state.state, state.value, state.expected_low]
    values += [state.expected_high, state.explanation, severity]
    store.execute(f"INSERT INTO alert_events VALUES ({', '.join('?' * len(values))})", values)


def all_states(store: Store) -> list[AlertState]:
    rules = store.query("SELECT DISTINCT rule FROM alert_states ORDER BY rule").rows
    return [s for (rule,) in rules for s in load_states(store, str(rule)).values()]


def events(store: Store, rule: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    where, params = ("WHERE rule = ?", [rule]) if rule else ("", [])
    sql = f"SELECT * FROM alert_events {where} ORDER BY occurred_at DESC LIMIT {int(limit)}"
    return store.query(sql, params).dicts()
