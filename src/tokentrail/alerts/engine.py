"""Evaluating every rule at one time: read the series, judge each group, step its state, notify.

`evaluate` is what ``tokentrail alerts eval --at TIME``, ``POST /api/alerts/eval`` and the minute loop of
``serve`` run. Rules come from the rule file and from the store (rules added through the API or the CLI).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from tokentrail.alerts import notifiers
from tokentrail.alerts.judge import Verdict, judge, windows_needed
from tokentrail.alerts.metrics import METRICS, Series, series
from tokentrail.alerts.rules import Rule, RuleError, RuleSet, rule_from_mapping
from tokentrail.alerts.state import AlertState, load_states, record_event, save_state, step
from tokentrail.store import Store
from tokentrail.times import iso


def stored_rules(store: Store) -> list[Rule]:
    rows = store.query("SELECT name, definition FROM alert_rules ORDER BY name").rows
    return [rule_from_mapping(json.loads(definition), f"stored rule {name}") for name, definition in rows]


def all_rules(store: Store, ruleset: RuleSet) -> list[Rule]:
    """The file's rules, then the stored ones."""
    return [*ruleset.rules, *stored_rules(store)]


def save_rule(store: Store, ruleset: RuleSet, rule: Rule, at: dt.datetime) -> None:
    if any(r.name == rule.name for r in ruleset.rules):
        raise RuleError(f"rule {rule.name!r} is defined in the rule file; change it there")
    if missing := [n for n in rule.notify if n not in ruleset.notifiers]:
        raise RuleError(f"rule {rule.name!r} notifies unknown {', '.join(missing)} (define them in the file)")
    delete_rule(store, rule.name)
    store.execute("INSERT INTO alert_rules VALUES (?, ?, ?)", [rule.name, json.dumps(rule.as_mapping()), at])


def delete_rule(store: Store, name: str) -> bool:
    existed = bool(store.query("SELECT count(*) FROM alert_rules WHERE name = ?", [name]).rows[0][0])
    store.execute("DELETE FROM alert_rules WHERE name = ?", [name])
    return existed


def add_silence(
    store: Store,
    rule: str | None,
    matchers: dict[str, str],
    start: dt.datetime,
    end: dt.datetime,
    comment: str = "",
) -> str:
    """Mute notifications of `rule` (None: every rule) for groups with these labels, start <= t < end."""
    silence_id = uuid.uuid4().hex[:12]
    values = [silence_id, rule, json.dumps(matchers, sort_keys=True), start, end, comment, start]
    store.execute("INSERT INTO alert_silences VALUES (?, ?, ?, ?, ?, ?, ?)", values)
    return silence_id


def silences(store: Store) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM alert_silences ORDER BY starts_at DESC").dicts()


def silenced(store: Store, state: AlertState, at: dt.datetime) -> bool:
    sql = "SELECT rule, matchers FROM alert_silences WHERE starts_at <= ? AND ends_at > ?"
    for rule, matchers in store.query(sql, [at, at]).rows:
        wanted: dict[str, Any] = json.loads(matchers)
        if rule in (None, state.rule) and all(state.group.get(k) == v for k, v in wanted.items()):
            return True
    return False


def message(rule: Rule, state: AlertState, event: str, at: dt.datetime) -> dict[str, Any]:
    """What notifiers send (the webhook's JSON body)."""
    return {
        "rule": rule.name,
        "group": state.group,
        "event": event,
        "state": state.state,
        "severity": rule.severity,
        "metric": rule.metric,
        "condition": rule.condition.text(),
        "value": state.value,
        "expected_low": state.expected_low,
        "expected_high": state.expected_high,
        "explanation": state.explanation,
        "at": iso(at),
    }


def _groups(
    rule: Rule, found: dict[tuple[str | None, ...], Series], known: dict[str, AlertState]
) -> list[AlertState]:
    states = dict(known)
    for key in found:
        group = dict(zip(rule.by, key, strict=True))
        state = AlertState(rule.name, group)
        states.setdefault(state.key, state)
    return list(states.values())


def evaluate_rule(
    store: Store, ruleset: RuleSet, rule: Rule, at: dt.datetime, backoff_s: float
) -> list[dict[str, Any]]:
    found = series(store, METRICS[rule.metric], rule.where, rule.by, at, rule.window, windows_needed(rule))
    changes = []
    for state in _groups(rule, found, load_states(store, rule.name)):
        key = tuple(state.group.get(b) for b in rule.by)
        verdict = judge(rule, found[key], at) if key in found else Verdict(None, None, explanation="no data")
        before = state.state
        event = step(state, verdict, rule, at)
        if state.state != before:
            record_event(store, state, before, at, rule.severity)
        if state.state != before or event:
            save_state(store, state, at)
            changes.append(
                {
                    "rule": rule.name,
                    "group": state.group,
                    "from": before,
                    "to": state.state,
                    "event": event,
                    "delivered": _notify(store, ruleset, rule, state, event, at, backoff_s),
                }
            )
    return changes


def _notify(
    store: Store,
    ruleset: RuleSet,
    rule: Rule,
    state: AlertState,
    event: str | None,
    at: dt.datetime,
    backoff_s: float,
) -> list[str]:
    if event is None:
        return []
    body = message(rule, state, event, at)
    if silenced(store, state, at):
        notifiers.record_delivery(store, "(silenced)", body, 0, "silenced")
        return []
    targets = [ruleset.notifiers[n] for n in rule.notify if n in ruleset.notifiers]
    return [t.name for t in targets if notifiers.deliver(store, t, body, backoff_s)]


def evaluate(store: Store, ruleset: RuleSet, at: dt.datetime, backoff_s: float = 0.5) -> list[dict[str, Any]]:
    """Evaluate every rule at `at` (windows end there); returns the state changes and what was delivered."""
    out = []
    for rule in all_rules(store, ruleset):
        out.extend(evaluate_rule(store, ruleset, rule, at, backoff_s))
    return out
