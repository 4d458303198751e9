"""Plausible prompt text for each scenario, from a few sentences per domain (no model, no network).

Only the length matters to the simulator (input tokens = characters / 4); the words make prompts and
ledgers readable."""

from __future__ import annotations

import random
from typing import Final

SENTENCES: Final[dict[str, tuple[str, ...]]] = {
    "policy": (
        "Refunds are issued to the original payment method within five business days of approval.",
        "Orders can be cancelled free of charge until they leave the warehouse.",
        "Never promise a delivery date that the carrier has not confirmed.",
        "Escalate to a human agent when the customer mentions a legal claim or a safety issue.",
        "Loyalty members get free return shipping on every order.",
        "Always confirm the order number and the email address before changing an order.",
        "Damaged items are replaced without asking the customer to return them when under 50 EUR.",
    ),
    "ticket": (
        "My order arrived with a cracked screen and the box was wet.",
        "I was charged twice for the same subscription this month.",
        "The tracking link has not updated for six days.",
        "Can I change the delivery address of an order placed this morning?",
        "The discount code from your newsletter does not work at checkout.",
        "I returned the jacket two weeks ago and still have no refund.",
    ),
    "crm": (
        "Account has 240 seats on the business plan and renews in March.",
        "Champion is the VP of operations; procurement asked for a security review.",
        "Last call covered SSO, audit logs and the data residency add-on.",
        "Competitor pilot ended without a decision because of onboarding effort.",
        "Usage grew 35 percent quarter over quarter in the analytics module.",
    ),
    "email": (
        "Following up on yesterday's meeting, please find the revised timeline attached.",
        "The vendor confirmed the shipment will be delayed by two weeks due to customs.",
        "Can we move the quarterly review to Thursday afternoon?",
        "Finance needs the signed purchase order before the end of the month.",
        "The incident last night affected checkout for about twenty minutes in two regions.",
        "Thanks for the quick turnaround on the contract redlines.",
    ),
    "code": (
        "-    retries = 3\n+    retries = config.get('retries', 3)",
        "+def parse_window(text: str) -> timedelta:\n+    return timedelta(seconds=int(text))",
        "-    for row in rows: total += row.cost\n+    total = sum(row.cost for row in rows)",
        "+    if not user.is_active:\n+        raise PermissionDenied('inactive user')",
        "@@ -120,7 +120,9 @@ class BillingClient:",
    ),
    "docs": (
        "The export job writes one Parquet file per day into the configured bucket.",
        "Workspace admins can rotate API keys from the security settings page.",
        "Dashboards refresh every five minutes unless a custom interval is configured.",
        "Webhooks are retried with exponential backoff for up to 24 hours.",
        "The SAML integration supports Okta, Azure AD and Google Workspace.",
        "Rate limits apply per workspace and reset at the start of each minute.",
    ),
}


def filler(rng: random.Random, domain: str, chars: int) -> str:
    """Sentences of `domain` joined until about `chars` characters."""
    pool = SENTENCES[domain]
    parts: list[str] = []
    size = 0
    while size < chars:
        sentence = rng.choice(pool)
        parts.append(sentence)
        size += len(sentence) + 1
    return " ".join(parts)


def one(rng: random.Random, domain: str) -> str:
    return rng.choice(SENTENCES[domain])
