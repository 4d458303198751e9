"""`tokentrail alerts rules|add|rm|eval|backtest|states|history|silence`: alert rules over the stored calls.

Every command takes ``--rules FILE`` (else TOKENTRAIL_ALERTS). ``eval`` and ``backtest`` go through a
running server's API with ``--server URL``, or by themselves when `serve` holds the store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tokentrail.alerts import engine, state
from tokentrail.alerts.backtest import backtest_named
from tokentrail.alerts.rules import RuleSet, load_rules
from tokentrail.cli.common import console, fail, group, opened_store, say
from tokentrail.cli.options import Db, Format, From, Rules, TableOrJson, Wide
from tokentrail.cli.remote import call, store_or_server
from tokentrail.render.tables import Column, Grid, print_grid
from tokentrail.settings import Settings
from tokentrail.times import format_duration, parse_duration, parse_time, utcnow

app = group("Alert rules: thresholds, changes and anomalies.")

Server = Annotated[
    str | None, typer.Option(help="Ask this running server (http://host:port) instead of opening the store")
]
BACKTEST_COLUMNS = (
    Column("rule"),
    Column("group"),
    Column("fired at"),
    Column("resolved at"),
    Column("value", numeric=True),
    Column("expected", numeric=True),
)


def ruleset(path: Path | None) -> RuleSet:
    chosen = path or Settings().alerts
    return load_rules(chosen) if chosen else RuleSet()


def when(text: str) -> Any:
    return parse_time(text, utcnow())


def group_text(group: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in group.items()) or "-"


@app.command("eval")
def eval_(
    at: Annotated[str, typer.Option(help="ISO 8601 time (UTC when naive), 'now' or a duration ago")] = "now",
    rules: Rules = None,
    db: Db = None,
    server: Server = None,
) -> None:
    """Evaluate every rule once at a time and deliver what changed state."""
    with store_or_server(db, server) as target:
        if isinstance(target, str):
            answer = call("POST", f"{target}/api/alerts/eval", params={"at": when(at).isoformat()})
            print_changes(answer["changes"], answer["at"])
            return
        moment = when(at)
        changes = engine.evaluate(target, ruleset(rules), moment)
        print_changes(changes, moment.isoformat() + "Z")


def print_changes(changes: list[dict[str, Any]], at: str) -> None:
    if not changes:
        say(f"evaluated at {at}: no state changed")
    for c in changes:
        sent = f"; notified {', '.join(c['delivered'])}" if c["delivered"] else ""
        say(f"{c['rule']} [{group_text(c['group'])}]: {c['from']} -> {c['to']}{sent}")


@app.command("backtest")
def backtest_(
    rule: Annotated[str, typer.Argument(help="Rule name")],
    since: From = "30d",
    until: Annotated[
        str | None, typer.Option(help="End (default: now, rounded down to the rule's window)")
    ] = None,
    fmt: TableOrJson = Format.TABLE,
    rules: Rules = None,
    db: Db = None,
    server: Server = None,
    wide: Wide = False,
) -> None:
    """When a rule would have fired and resolved over the stored history."""
    print_backtest(backtest(rule, since, until, rules, db, server), fmt, wide)


def backtest(
    name: str, since: str, until: str | None, rules_file: Path | None, db: str | None, server: str | None
) -> list[dict[str, Any]]:
    with store_or_server(db, server) as target:
        if isinstance(target, str):
            params = {
                "since": when(since).isoformat(),
                **({"until": when(until).isoformat()} if until else {}),
            }
            found: list[dict[str, Any]] = call("GET", f"{target}/api/alerts/backtest/{name}", params=params)
            return found
        rules = engine.all_rules(target, ruleset(rules_file))
        return backtest_named(rules, target, name, when(since), when(until) if until else None)


def print_backtest(found: list[dict[str, Any]], fmt: Format, wide: bool) -> None:
    if fmt == Format.JSON:
        print(json.dumps(found, indent=2))
        return
    grid = Grid(BACKTEST_COLUMNS, "Backtest")
    for row in found:
        low, high = row["expected_low"], row["expected_high"]
        expected = "-" if low is None and high is None else f"{low if low is not None else ''}..{high or ''}"
        grid.add(
            row["rule"],
            group_text(row["group"]),
            row["fired_at"],
            row["resolved_at"] or "firing",
            f"{row['value']:.6g}" if row["value"] is not None else "-",
            expected,
        )
    print_grid(console, grid, wide)
    say(f"{len(found)} firings")


@app.command("rules")
def rules_(rules: Rules = None, db: Db = None) -> None:
    """The rules of the file and those stored (added with `alerts add` or the API)."""
    found = ruleset(rules)
    with opened_store(db) as store:
        stored = engine.stored_rules(store)
    for rule, source in [*((r, "file") for r in found.rules), *((r, "stored") for r in stored)]:
        over = f"{rule.metric} over {format_duration(rule.window)}"
        say(f"{rule.name} ({source}): {over} {rule.condition.text()}")
    if not found.rules and not stored:
        say("no rules; write a rule file (docs/alerts.md) and pass --rules or set TOKENTRAIL_ALERTS")


@app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="TOML file of [[rule]] tables to store")],
    rules: Rules = None,
    db: Db = None,
) -> None:
    """Store the rules of a file (they then apply without --rules, like rules added through the API)."""
    found, known = ruleset(path), ruleset(rules)
    merged = RuleSet(known.rules, {**found.notifiers, **known.notifiers})
    with opened_store(db) as store:
        for rule in found.rules:
            engine.save_rule(store, merged, rule, utcnow())
    say(f"stored {len(found.rules)} rules from {path}")


@app.command("rm")
def rm(name: str, rules: Rules = None, db: Db = None) -> None:
    """Delete a stored rule (a rule of the file is changed in the file)."""
    if any(r.name == name for r in ruleset(rules).rules):
        fail(f"rule {name!r} is defined in the rule file; remove it there")
    with opened_store(db) as store:
        if not engine.delete_rule(store, name):
            fail(f"no stored rule {name!r}")
    say(f"deleted rule {name}")


@app.command("states")
def states(rules: Rules = None, db: Db = None) -> None:
    """Every group's current state; rules no group of which has left normal say so."""
    with opened_store(db, read_only=True) as store:
        found = state.all_states(store)
        names = [r.name for r in engine.all_rules(store, ruleset(rules))]
    for s in found:
        say(f"{s.rule} [{group_text(s.group)}]: {s.state} since {s.since}; {s.explanation}")
    for name in sorted(set(names) - {s.rule for s in found}):
        say(f"{name}: normal (no group has left it)")
    if not found and not names:
        say("no rules and no alert states yet")


@app.command("history")
def history(rule: str | None = None, db: Db = None) -> None:
    """State changes, newest first."""
    with opened_store(db, read_only=True) as store:
        for e in state.events(store, rule):
            say(f"{e['occurred_at']} {e['rule']} {e['group_key']}: {e['from_state']} -> {e['to_state']}")


@app.command("silence")
def silence(
    duration: Annotated[str, typer.Option("--for", help="How long, e.g. 2h")],
    rule: Annotated[str | None, typer.Option(help="Rule name (default: every rule)")] = None,
    match: Annotated[
        list[str] | None, typer.Option(help="label=value the group must have (repeatable)")
    ] = None,
    comment: str = "",
    rules: Rules = None,
    db: Db = None,
) -> None:
    """Mute notifications for a while (states still change and are kept)."""
    length = parse_duration(duration, "--for")
    if any("=" not in m for m in match or []):
        fail("--match takes label=value")
    matchers = dict(m.split("=", 1) for m in match or [])
    now = utcnow()
    with opened_store(db) as store:
        known = [r.name for r in engine.all_rules(store, ruleset(rules))]
        if rule is not None and rule not in known:
            fail(f"no rule {rule!r}; rules: {', '.join(known) or 'none'}")
        silence_id = engine.add_silence(store, rule, matchers, now, now + length, comment)
    say(f"silence {silence_id} until {(now + length).isoformat()}Z")
