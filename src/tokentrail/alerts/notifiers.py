"""Delivering alert notifications: a signed JSON webhook, a Slack-compatible webhook, SMTP e-mail, the log.

The webhook body is JSON; with a ``secret`` the header ``X-Tokentrail-Signature: sha256=<hex>`` carries the
HMAC-SHA256 of the raw body under the secret. Each delivery is tried `ATTEMPTS` times with exponential
backoff (``backoff_s``, doubled each time, with jitter); every delivery, ok or not, is kept in
``alert_deliveries``. Only the URLs and SMTP servers named in the rule file are contacted.
"""

from __future__ import annotations

import datetime as dt
import email.message
import hashlib
import hmac
import json
import logging
import random
import smtplib
import time
from collections.abc import Callable
from typing import Any

import httpx

from tokentrail.alerts.rules import Notifier
from tokentrail.exceptions import ExternalError
from tokentrail.store import Store

log = logging.getLogger("tokentrail.alerts")

ATTEMPTS = 3
SIGNATURE_HEADER = "X-Tokentrail-Signature"


class DeliveryError(ExternalError):
    """One attempt failed; the message says how (status code, connection error)."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> None:
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    if response.status_code >= 300:
        raise DeliveryError(f"HTTP {response.status_code}")


def send_webhook(options: dict[str, Any], message: dict[str, Any]) -> None:
    body = json.dumps(message, sort_keys=True).encode()
    headers = {"content-type": "application/json"}
    if options.get("secret"):
        headers[SIGNATURE_HEADER] = sign(str(options["secret"]), body)
    _post(str(options["url"]), body, headers, float(options.get("timeout_s", 10)))


def summary(message: dict[str, Any]) -> str:
    state = "RESOLVED" if message["event"] == "resolved" else message["severity"].upper()
    group = ", ".join(f"{k}={v}" for k, v in message["group"].items())
    where = f" [{group}]" if group else ""
    return " ".join(f"[{state}] {message['rule']}{where}: {message['explanation']}".split())  # one line


def slack_text(text: str) -> str:
    """Slack reads <, > and & as markup (links, mentions): label values must arrive as plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send_slack(options: dict[str, Any], message: dict[str, Any]) -> None:
    body = json.dumps({"text": slack_text(summary(message))}).encode()
    _post(
        str(options["url"]), body, {"content-type": "application/json"}, float(options.get("timeout_s", 10))
    )


def send_email(options: dict[str, Any], message: dict[str, Any]) -> None:
    mail = email.message.EmailMessage()
    to = options["to"] if isinstance(options["to"], list) else [options["to"]]
    mail["From"], mail["To"], mail["Subject"] = options["sender"], ", ".join(to), summary(message)[:200]
    mail.set_content(json.dumps(message, indent=2, sort_keys=True))
    try:
        with smtplib.SMTP(str(options["host"]), int(options.get("port", 25)), timeout=10) as smtp:
            if options.get("starttls"):
                smtp.starttls()
            if options.get("username"):
                smtp.login(str(options["username"]), str(options.get("password", "")))
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None


def send_log(options: dict[str, Any], message: dict[str, Any]) -> None:
    log.warning("alert %s", summary(message))


SENDERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "webhook": send_webhook,
    "slack": send_slack,
    "email": send_email,
    "log": send_log,
}


def deliver(store: Store, notifier: Notifier, message: dict[str, Any], backoff_s: float = 0.5) -> bool:
    """Send with retries; record the outcome. True when it went through."""
    error = ""
    attempt = 0
    for attempt in range(1, ATTEMPTS + 1):
        try:
            SENDERS[notifier.kind](notifier.options, message)
            error = ""
            break
        except DeliveryError as exc:
            error = str(exc)
            if attempt < ATTEMPTS:
                time.sleep(backoff_s * 2 ** (attempt - 1) * (1 + random.random() / 2))
    record_delivery(store, notifier.name, message, attempt, error)
    if error:
        log.warning("could not deliver alert %s to %s: %s", message["rule"], notifier.name, error)
    return not error


def record_delivery(store: Store, notifier: str, message: dict[str, Any], attempts: int, error: str) -> None:
    sent = dt.datetime.fromisoformat(message["at"].rstrip("Z"))
    values = [sent, message["rule"], json.dumps(message["group"], sort_keys=True), notifier, message["event"]]
    store.execute(
        "INSERT INTO alert_deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [*values, attempts, not error, error]
    )


def deliveries(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    return store.query(f"SELECT * FROM alert_deliveries ORDER BY sent_at DESC LIMIT {int(limit)}").dicts()
