"""`tokentrail alerts rules|add|rm|eval|backtest|states|history|silence`: alert rules over the stored calls.

Every command takes ``--rules FILE`` (else TOKENTRAIL_ALERTS). ``eval`` and ``backtest`` go through a
running server's API with ``--server URL``, or by themselves when `serve` holds the store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from tokentrail.alerts import engine, state
from tokentrail.alerts.backtest import UnknownRule, backtest_named
from tokentrail.alerts.durations import DurationError, format_duration, parse_duration, parse_time, utcnow
from tokentrail.alerts.rules import RuleError, RuleSet, load_rules
from tokentrail.cli.common import WIDE, Format, console, fail, opened_store, say
from tokentrail.cli.remote import call, store_or_server
from tokentrail.cli.tables import Column, Grid, print_grid
from tokentrail.settings import Settings

DB = typer.Option(None, help="Store URL or DuckDB file [env TOKENTRAIL_DB]")
RULES = typer.Option(None, "--rules", help="TOML file of rules and notifiers [env TOKENTRAIL_ALERTS]")
SERVER = typer.Option(None, help="Ask this running server (http://host:port) instead of opening the store")


def ruleset(path: Path | None) -> RuleSet:
    chosen = path or Settings().alerts
    try:
        return load_rules(chosen) if chosen else RuleSet()
    except RuleError as exc:
        fail(str(exc))


def when(text: str) -> Any:
    try:
        return parse_time(text, utcnow())
    except DurationError as exc:
        fail(str(exc))


def print_changes(changes: list[dict[str, Any]], at: str) -> None:
    if not changes:
        say(f"evaluated at {at}: no state changed")
    for c in changes:
        group = ", ".join(f"{k}={v}" for k, v in c["group"].items()) or "-"
        sent = f"; notified {', '.join(c['delivered'])}" if c["delivered"] else ""
        say(f"{c['rule']} [{group}]: {c['from']} -> {c['to']}{sent}")


def print_backtest(found: list[dict[str, Any]], fmt: Format, wide: bool) -> None:
    if fmt == Format.JSON:
        print(json.dumps(found, indent=2))
        return
    grid = Grid(
        (
            Column("rule"),
            Column("group"),
            Column("fired at"),
            Column("resolved at"),
            Column("value", numeric=True),
            Column("expected", numeric=True),
        ),
        "Backtest",
    )
    for row in found:
        group = ", ".join(f"{k}={v}" for k, v in row["group"].items()) or "-"
        low, high = row["expected_low"], row["expected_high"]
        expected = "-" if low is None and high is None else f"{low if low is not None else ''}..{high or ''}"
        grid.add(
            row["rule"],
            group,
            row["fired_at"],
            row["resolved_at"] or "firing",
            f"{row['value']:.6g}" if row["value"] is not None else "-",
            expected,
        )
    print_grid(console, grid, wide)
    say(f"{len(found)} firings")


def _eval(at: str, rules_file: Path | None, db: str | None, server: str | None) -> None:
    with store_or_server(db, server) as target:
        if isinstance(target, str):
            answer = call("POST", f"{target}/api/alerts/eval", params={"at": when(at).isoformat()})
            print_changes(answer["changes"], answer["at"])
            return
        moment = when(at)
        try:
            changes = engine.evaluate(target, ruleset(rules_file), moment)
        except RuleError as exc:
            fail(str(exc))
        print_changes(changes, moment.isoformat() + "Z")


def _backtest(
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
        try:
            return backtest_named(rules, target, name, when(since), when(until) if until else None)
        except UnknownRule as exc:
            fail(str(exc.args[0]))


def register(app: typer.Typer) -> None:
    alerts_app = typer.Typer(help="Alert rules: thresholds, changes and anomalies.", no_args_is_help=True)
    app.add_typer(alerts_app, name="alerts")

    @alerts_app.command("eval")
    def eval_(
        at: str = typer.Option("now", help="ISO 8601 time (UTC when naive), 'now' or a duration ago"),
        rules: Path = RULES,
        db: str = DB,
        server: str = SERVER,
    ) -> None:
        """Evaluate every rule once at a time and deliver what changed state."""
        _eval(at, rules, db, server)

    @alerts_app.command("backtest")
    def backtest_(
        rule: str = typer.Argument(..., help="Rule name"),
        since: str = typer.Option("30d", help="Start: a duration ago (30d) or an ISO 8601 time"),
        until: str = typer.Option(None, help="End (default: now, rounded down to the rule's window)"),
        fmt: Format = typer.Option(Format.TABLE, "--format", help="table or json"),
        rules: Path = RULES,
        db: str = DB,
        server: str = SERVER,
        wide: bool = WIDE,
    ) -> None:
        """When a rule would have fired and resolved over the stored history."""
        print_backtest(_backtest(rule, since, until, rules, db, server), fmt, wide)

    @alerts_app.command("rules")
    def rules_(rules: Path = RULES, db: str = DB) -> None:
        """The rules of the file and those stored (added with `alerts add` or the API)."""
        found = ruleset(rules)
        with opened_store(db) as store:
            stored = engine.stored_rules(store)
        for rule, source in [*((r, "file") for r in found.rules), *((r, "stored") for r in stored)]:
            say(
                f"{rule.name} ({source}): {rule.metric} over {format_duration(rule.window)} "
                f"{rule.condition.text()}"
            )
        if not found.rules and not stored:
            say("no rules; write a rule file (docs/alerts.md) and pass --rules or set TOKENTRAIL_ALERTS")

    @alerts_app.command("add")
    def add(
        path: Path = typer.Argument(..., help="TOML file of [[rule]] tables to store"),
        rules: Path = RULES,
        db: str = DB,
    ) -> None:
        """Store the rules of a file (they then apply without --rules, like rules added through the API)."""
        found, known = ruleset(path), ruleset(rules)
        merged = RuleSet(known.rules, {**found.notifiers, **known.notifiers})
        with opened_store(db) as store:
            try:
                for rule in found.rules:
                    engine.save_rule(store, merged, rule, utcnow())
            except RuleError as exc:
                fail(str(exc))
        say(f"stored {len(found.rules)} rules from {path}")

    @alerts_app.command("rm")
    def rm(name: str = typer.Argument(...), rules: Path = RULES, db: str = DB) -> None:
        """Delete a stored rule (a rule of the file is changed in the file)."""
        if any(r.name == name for r in ruleset(rules).rules):
            fail(f"rule {name!r} is defined in the rule file; remove it there")
        with opened_store(db) as store:
            if not engine.delete_rule(store, name):
                fail(f"no stored rule {name!r}")
        say(f"deleted rule {name}")

    _register_views(alerts_app)


def _register_views(alerts_app: typer.Typer) -> None:
    @alerts_app.command("states")
    def states(rules: Path = RULES, db: str = DB) -> None:
        """Every group's current state; rules no group of which has left normal say so."""
        with opened_store(db, read_only=True) as store:
            found = state.all_states(store)
            names = [r.name for r in engine.all_rules(store, ruleset(rules))]
        for s in found:
            group = ", ".join(f"{k}={v}" for k, v in s.group.items()) or "-"
            say(f"{s.rule} [{group}]: {s.state} since {s.since}; {s.explanation}")
        for name in sorted(set(names) - {s.rule for s in found}):
            say(f"{name}: normal (no group has left it)")
        if not found and not names:
            say("no rules and no alert states yet")

    @alerts_app.command("history")
    def history(rule: str = typer.Option(None), db: str = DB) -> None:
        """State changes, newest first."""
        with opened_store(db, read_only=True) as store:
            for e in state.events(store, rule):
                say(f"{e['occurred_at']} {e['rule']} {e['group_key']}: {e['from_state']} -> {e['to_state']}")

    @alerts_app.command("silence")
    def silence(
        duration: str = typer.Option(..., "--for", help="How long, e.g. 2h"),
        rule: str = typer.Option(None, help="Rule name (default: every rule)"),
        match: list[str] = typer.Option([], help="label=value the group must have (repeatable)"),
        comment: str = typer.Option(""),
        rules: Path = RULES,
        db: str = DB,
    ) -> None:
        """Mute notifications for a while (states still change and are kept)."""
        try:
            length = parse_duration(duration, "--for")
        except DurationError as exc:
            fail(str(exc))
        if any("=" not in m for m in match):
            fail("--match takes label=value")
        matchers = dict(m.split("=", 1) for m in match)
        now = utcnow()
        with opened_store(db) as store:
            known = [r.name for r in engine.all_rules(store, ruleset(rules))]
            if rule is not None and rule not in known:
                fail(f"no rule {rule!r}; rules: {', '.join(known) or 'none'}")
            silence_id = engine.add_silence(store, rule, matchers, now, now + length, comment)
        say(f"silence {silence_id} until {(now + length).isoformat()}Z")
