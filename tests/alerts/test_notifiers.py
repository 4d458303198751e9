"""Notifiers: e-mail through a local aiosmtpd server, retries with backoff and delivery history, silences."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from support import free_port, webhook_receiver
from tokentrail.alerts import engine, notifiers
from tokentrail.alerts.rules import Notifier, parse_rules
from tokentrail.model import Call
from tokentrail.store.duckdb import DuckDBStore

AT = dt.datetime(2026, 11, 2, 11, 0)
MESSAGE = {
    "rule": "r",
    "group": {"feature": "a"},
    "event": "firing",
    "severity": "critical",
    "explanation": "x",
    "at": AT.isoformat() + "Z",
    "value": 1.0,
}


class Keep(Sink):
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def test_email_reaches_a_local_smtp_server(tmp_path: Path) -> None:
    handler = Keep()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        options = {
            "host": "127.0.0.1",
            "port": port,
            "sender": "tt@example.test",
            "to": ["ops@example.test"],
        }
        with DuckDBStore(tmp_path / "n.duckdb") as store:
            assert notifiers.deliver(store, Notifier("mail", "email", options), MESSAGE)
            assert [d["ok"] for d in notifiers.deliveries(store)] == [True]
    finally:
        controller.stop()
    [envelope] = handler.messages
    assert envelope.rcpt_tos == ["ops@example.test"]
    text = envelope.content.decode()
    assert "[CRITICAL] r [feature=a]: x" in text and '"rule": "r"' in text


def test_webhook_retries_then_records_the_delivery(tmp_path: Path) -> None:
    with webhook_receiver() as hook, DuckDBStore(tmp_path / "n.duckdb") as store:
        hook.fail_next = 2
        target = Notifier("hook", "webhook", {"url": hook.url})
        assert notifiers.deliver(store, target, MESSAGE, backoff_s=0.001)
        assert len(hook.requests) == 1 and json.loads(hook.requests[0][1])["rule"] == "r"
        hook.fail_next = 5
        assert not notifiers.deliver(store, target, MESSAGE, backoff_s=0.001)
        rows = notifiers.deliveries(store)
    assert sorted((r["ok"], r["attempts"]) for r in rows) == [(False, 3), (True, 3)]
    assert any("HTTP 503" in r["error"] for r in rows)


def test_a_silence_mutes_notifications_but_not_states(tmp_path: Path) -> None:
    with webhook_receiver() as hook, DuckDBStore(tmp_path / "n.duckdb") as store:
        rules = parse_rules(
            {
                "rule": [
                    {"name": "any", "metric": "calls", "window": "1h", "condition": "< 1", "notify": ["h"]}
                ],
                "notifier": {"h": {"kind": "webhook", "url": hook.url}},
            },
            "test",
        )
        engine.add_silence(store, "any", {}, AT - dt.timedelta(hours=1), AT + dt.timedelta(hours=1))
        changes = engine.evaluate(store, rules, AT)
        assert [(c["to"], c["delivered"]) for c in changes] == [("firing", [])]
        assert hook.requests == []
        assert [d["notifier"] for d in notifiers.deliveries(store)] == ["(silenced)"]


def test_slack_gets_a_plain_text_message_on_firing_and_resolving(tmp_path: Path) -> None:
    feature = "<!channel> & co"  # Slack would read <...> as a mention and & as an entity
    spend = [
        Call(
            trace_id=f"{i + 1:032x}",
            span_id=f"{i + 1:016x}",
            kind="llm",
            start_time=AT - dt.timedelta(minutes=30 - i),
            cost_usd=0.5,
            feature=feature,
        )
        for i in range(4)
    ]
    with webhook_receiver() as slack, DuckDBStore(tmp_path / "n.duckdb") as store:
        store.write(spend)
        rule = {"name": "spend", "metric": "cost_usd", "window": "1h", "condition": "> 1", "by": ["feature"]}
        rules = parse_rules(
            {
                "rule": [{**rule, "severity": "critical", "notify": ["chat"]}],
                "notifier": {"chat": {"kind": "slack", "url": slack.url}},
            },
            "test",
        )
        fired = engine.evaluate(store, rules, AT)
        resolved = engine.evaluate(store, rules, AT + dt.timedelta(hours=1))
    assert [c["delivered"] for c in fired + resolved] == [["chat"], ["chat"]]
    (headers, first), (_, second) = slack.requests
    assert headers["content-type"] == "application/json" and "x-tokentrail-signature" not in headers
    group = "feature=&lt;!channel&gt; &amp; co"
    assert json.loads(first) == {"text": f"[CRITICAL] spend [{group}]: cost_usd = 2 (&gt; 1)"}
    assert json.loads(second) == {"text": f"[RESOLVED] spend [{group}]: no data"}
