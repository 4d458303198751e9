"""Alert rules and notifier definitions: a TOML file, the API, or the CLI.

A rule file::

    [[rule]]
    name = "hourly-tokens"
    metric = "tokens"                 # see metrics.METRICS
    window = "1h"
    where = 'feature = "summarize"'   # optional, the query language's filter syntax
    by = ["feature"]                  # optional: each group is its own alert
    condition = "> 10000"             # "< 0.5", "change > 50%", "anomaly", "anomaly above"
    for = "0m"
    notify = ["ops"]

    [notifier.ops]
    kind = "webhook"                  # webhook, slack, email, log
    url = "http://127.0.0.1:9000/hook"
    secret = "..."

Errors: `RuleError` (a ValueError) names the rule and the field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any

from tokentrail.alerts.metrics import GROUP_LABELS, METRICS
from tokentrail.exceptions import InputError
from tokentrail.query import QueryError, compile_filter
from tokentrail.times import DurationError, format_duration, parse_duration

SEVERITIES = ("info", "warning", "critical")
NO_DATA = ("ok", "keep", "alert")
COMPARES = ("previous", "last_week")
NOTIFIER_KINDS = ("webhook", "slack", "email", "log")
_CONDITION = re.compile(
    r"^\s*(?:(?P<change>change)\s*)?(?P<op>[<>])\s*(?P<value>-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*(?P<pct>%)?\s*$"
)
_ANOMALY = re.compile(r"^\s*anomaly(?:\s+(?P<side>above|below))?\s*$")


class RuleError(InputError):
    """A rule or notifier definition is invalid."""


@dataclasses.dataclass(frozen=True, slots=True)
class Condition:
    kind: str  # threshold, change or anomaly
    op: str = ">"  # > or <; for anomaly: "both", "above" or "below"
    value: float = 0.0  # the threshold, or the change in percent

    @classmethod
    def parse(cls, text: str) -> Condition:
        anomaly = _ANOMALY.match(text)
        if anomaly:
            return cls("anomaly", anomaly.group("side") or "both")
        found = _CONDITION.match(text)
        if not found or bool(found.group("change")) != bool(found.group("pct")):
            raise RuleError(
                f"condition must be like '> 10000', '< 0.5', 'change > 50%' or 'anomaly', not {text!r}"
            )
        kind = "change" if found.group("change") else "threshold"
        return cls(kind, found.group("op"), float(found.group("value")))

    def text(self) -> str:
        if self.kind == "anomaly":
            return "anomaly" if self.op == "both" else f"anomaly {self.op}"
        suffix = "%" if self.kind == "change" else ""
        prefix = "change " if self.kind == "change" else ""
        return f"{prefix}{self.op} {self.value:g}{suffix}"


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    name: str
    metric: str
    window: dt.timedelta
    condition: Condition
    where: str | None = None
    by: tuple[str, ...] = ()
    for_: dt.timedelta = dt.timedelta(0)
    keep_firing_for: dt.timedelta = dt.timedelta(0)
    severity: str = "warning"
    min_calls: int = 0
    no_data: str = "ok"
    notify: tuple[str, ...] = ()
    repeat_interval: dt.timedelta = dt.timedelta(hours=4)
    compare: str = "previous"
    sensitivity: float = 4.0
    min_history: dt.timedelta = dt.timedelta(days=1)

    def as_mapping(self) -> dict[str, Any]:
        """The rule as its TOML/JSON form (durations as text)."""
        out: dict[str, Any] = {
            "name": self.name,
            "metric": self.metric,
            "window": format_duration(self.window),
        }
        out["condition"] = self.condition.text()
        out.update(where=self.where, by=list(self.by), severity=self.severity, min_calls=self.min_calls)
        out.update(no_data=self.no_data, notify=list(self.notify), compare=self.compare)
        out.update(sensitivity=self.sensitivity)
        for key, attr in _DURATIONS.items():
            out[key] = format_duration(getattr(self, attr))
        return out


_DURATIONS = {
    "for": "for_",
    "keep_firing_for": "keep_firing_for",
    "repeat_interval": "repeat_interval",
    "min_history": "min_history",
}
_REQUIRED = ("name", "metric", "window", "condition")
_KEYS = {*_REQUIRED, *_DURATIONS, "where", "by", "severity", "min_calls", "no_data", "notify", "compare"}
_KEYS.add("sensitivity")


def _choice(data: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = data.get(key, default)
    if value not in allowed:
        raise RuleError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _strings(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{key} must be a list of strings")
    return tuple(value)


def _check_fields(data: dict[str, Any]) -> None:
    if not isinstance(data.get("name"), str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", data["name"]):
        raise RuleError("name must be 1-100 letters, digits, '.', '_' or '-'")
    if data["metric"] not in METRICS:
        raise RuleError(f"unknown metric {data['metric']!r}; one of: {', '.join(METRICS)}")
    where = data.get("where")
    if where is not None:
        if not isinstance(where, str):
            raise RuleError("where must be a string in the query language's filter syntax")
        try:
            compile_filter(where)
        except QueryError as exc:
            raise RuleError(f"where: {exc}") from None
    wrong = [b for b in _strings(data, "by") if b not in (*GROUP_LABELS, "model")]
    if wrong:
        raise RuleError(f"cannot group by {', '.join(wrong)}; use: model, {', '.join(GROUP_LABELS)}")


def _numbers(data: dict[str, Any]) -> tuple[int, float]:
    min_calls, sensitivity = data.get("min_calls", 0), data.get("sensitivity", 4.0)
    if isinstance(min_calls, bool) or not isinstance(min_calls, int) or min_calls < 0:
        raise RuleError(f"min_calls must be a whole number >= 0, not {min_calls!r}")
    if (
        isinstance(sensitivity, bool)
        or not isinstance(sensitivity, int | float)
        or not 0 < sensitivity <= 100
    ):
        raise RuleError(f"sensitivity must be a number in (0, 100], not {sensitivity!r}")
    return min_calls, float(sensitivity)


def _build(data: dict[str, Any]) -> Rule:
    _check_fields(data)
    times = {attr: parse_duration(data[key], key) for key, attr in _DURATIONS.items() if key in data}
    window = parse_duration(data["window"], "window")
    if window < dt.timedelta(minutes=1):
        raise RuleError("window must be at least 1m")
    min_calls, sensitivity = _numbers(data)
    return Rule(
        name=data["name"],
        metric=data["metric"],
        window=window,
        condition=Condition.parse(str(data["condition"])),
        where=data.get("where") or None,
        by=_strings(data, "by"),
        severity=_choice(data, "severity", SEVERITIES, "warning"),
        min_calls=min_calls,
        no_data=_choice(data, "no_data", NO_DATA, "ok"),
        notify=_strings(data, "notify"),
        compare=_choice(data, "compare", COMPARES, "previous"),
        sensitivity=sensitivity,
        **times,
    )


def rule_from_mapping(data: Any, where: str = "rule") -> Rule:
    """A rule from its TOML table or JSON object; RuleError says what is wrong."""
    if not isinstance(data, dict):
        raise RuleError(f"{where}: must be a table with {', '.join(_REQUIRED)}")
    missing = [k for k in _REQUIRED if k not in data]
    unknown = sorted(set(data) - _KEYS)
    try:
        if missing:
            raise RuleError(f"missing {', '.join(missing)}")
        if unknown:
            raise RuleError(f"unknown keys {', '.join(unknown)}")
        return _build(data)
    except (RuleError, DurationError) as exc:
        raise RuleError(f"{where}: {exc}") from None


@dataclasses.dataclass(frozen=True, slots=True)
class Notifier:
    """Where firings go: kind plus its settings (url, secret; or host, port, sender, to)."""

    name: str
    kind: str
    options: dict[str, Any]


_NOTIFIER_NEEDS = {"webhook": ("url",), "slack": ("url",), "email": ("host", "sender", "to"), "log": ()}


def notifier_from_mapping(name: str, data: Any) -> Notifier:
    if not isinstance(data, dict) or data.get("kind") not in NOTIFIER_KINDS:
        raise RuleError(f"notifier {name!r}: kind must be one of {', '.join(NOTIFIER_KINDS)}")
    missing = [k for k in _NOTIFIER_NEEDS[data["kind"]] if not data.get(k)]
    if missing:
        raise RuleError(f"notifier {name!r}: missing {', '.join(missing)}")
    return Notifier(name, str(data["kind"]), {k: v for k, v in data.items() if k != "kind"})


@dataclasses.dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    notifiers: dict[str, Notifier] = dataclasses.field(default_factory=dict)


def parse_rules(data: dict[str, Any], origin: str) -> RuleSet:
    unknown = set(data) - {"rule", "notifier"}
    if unknown:
        raise RuleError(f"{origin}: expected only [[rule]] and [notifier.NAME] tables, not {sorted(unknown)}")
    items, notifiers = data.get("rule", []), data.get("notifier", {})
    if not isinstance(items, list) or not isinstance(notifiers, dict):
        raise RuleError(f"{origin}: rules are [[rule]] tables, notifiers [notifier.NAME] tables")
    rules = tuple(rule_from_mapping(item, f"{origin}: rule[{i + 1}]") for i, item in enumerate(items))
    found = {name: notifier_from_mapping(name, value) for name, value in notifiers.items()}
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise RuleError(f"{origin}: rule names must be unique")
    for rule in rules:
        if unknown_targets := [n for n in rule.notify if n not in found]:
            raise RuleError(f"{origin}: rule {rule.name!r} notifies unknown {', '.join(unknown_targets)}")
    return RuleSet(rules, found)


def load_rules(path: Path) -> RuleSet:
    """The rules and notifiers of a TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{path}: not valid TOML: {exc}") from None
    return parse_rules(data, str(path))
