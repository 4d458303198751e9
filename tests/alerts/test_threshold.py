"""A threshold rule over calls sent over OTLP: fires once, notifies a signed webhook, resolves once."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from support import webhook_receiver
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store.duckdb import DuckDBStore

from .helpers import call_span, send_otlp

H = dt.datetime(2026, 11, 2, 10, 0)
SECRET = "s3cret-for-tests"


def rules_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(
        f"""
[[rule]]
name = "hourly-tokens"
metric = "tokens"
window = "1h"
where = 'feature = "summarize"'
condition = "> 10000"
notify = ["ops"]

[notifier.ops]
kind = "webhook"
url = "{url}"
secret = "{SECRET}"
"""
    )
    return path


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient, object]]:
    with webhook_receiver() as hook, DuckDBStore(tmp_path / "t.duckdb") as store:
        app = create_app(store, Settings(alerts=rules_file(tmp_path, hook.url)))
        with TestClient(app) as client:
            yield client, hook


def evaluate(client: httpx.Client | TestClient, at: dt.datetime) -> list[dict[str, object]]:
    response = client.post("/api/alerts/eval", params={"at": at.isoformat()})
    assert response.status_code == 200, response.text
    changes: list[dict[str, object]] = response.json()["changes"]
    return changes


def test_threshold_fires_once_signed_and_resolves_once(setup: tuple[TestClient, object]) -> None:
    client, hook = setup
    spans = [
        call_span(
            i + 1,
            H + dt.timedelta(minutes=15 * i),
            **{
                "tokentrail.feature": "summarize",
                "gen_ai.usage.input_tokens": 2500,
                "gen_ai.usage.output_tokens": 500,
            },
        )
        for i in range(4)
    ]  # 12,000 tokens in 10:00-11:00
    spans.append(call_span(99, H, **{"tokentrail.feature": "chat", "gen_ai.usage.input_tokens": 50_000}))
    send_otlp(client, spans)

    assert evaluate(client, H + dt.timedelta(minutes=30)) == []  # 6,000 tokens so far
    fired = evaluate(client, H + dt.timedelta(hours=1))
    assert [(c["to"], c["event"], c["delivered"]) for c in fired] == [("firing", "firing", ["ops"])]
    assert evaluate(client, H + dt.timedelta(hours=1)) == []  # the same time again: nothing new
    resolved = evaluate(client, H + dt.timedelta(hours=2))
    assert [(c["to"], c["event"]) for c in resolved] == [("resolved", "resolved")]
    assert evaluate(client, H + dt.timedelta(hours=3)) == []

    assert len(hook.requests) == 2  # type: ignore[attr-defined]
    bodies = []
    for headers, body in hook.requests:  # type: ignore[attr-defined]
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-tokentrail-signature"], expected)
        bodies.append(json.loads(body))
    assert [(b["event"], b["rule"], b["value"]) for b in bodies] == [
        ("firing", "hourly-tokens", 12000.0),
        ("resolved", "hourly-tokens", 0.0),
    ]
    history = client.get("/api/alerts/history").json()
    assert [e["to_state"] for e in reversed(history["events"])] == ["firing", "resolved"]
    assert [d["event"] for d in history["deliveries"] if d["ok"]] == ["resolved", "firing"]
