"""Two comparisons: an email-summarisation bake-off of Amazon Nova Lite, Nova Pro and Claude Sonnet on
Bedrock (Converse and InvokeModel with native bodies, streamed and not), and a provider A/B test of the
help centre's answers (OpenAI against Bedrock)."""

from __future__ import annotations

import functools
import random

from tokentrail.demo import bedrock_calls, calls, text
from tokentrail.demo.ledger import labelled
from tokentrail.demo.providers import Providers
from tokentrail.demo.scenarios.base import OWN_TENANT, PlanContext, Scenario, Session, prompt

MAIL = {
    "app": "mail-insights",
    "team": "data-science",
    "cost_center": "cc-6100-research",
    "environment": "staging",
    "tenant": OWN_TENANT,  # research on the organisation's own mail
}
HELP = {
    "app": "help-center",
    "team": "customer-success",
    "cost_center": "cc-4100-support",
    "environment": "prod",
}
NOVA_LITE = "amazon.nova-lite-v1:0"
NOVA_PRO = "amazon.nova-pro-v1:0"
CLAUDE_SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
ANSWER = prompt("help-answer", "v2")
SUMMARY_PROMPT = "Summarise this email thread in three bullet points and list any action items."


def bakeoff_session(p: Providers, rng: random.Random) -> None:
    """One email thread, summarised by each candidate; APIs and streaming vary as they would in practice."""
    thread = text.filler(rng, "email", rng.randint(1_500, 6_000))
    stream = rng.random() < 0.5
    with labelled(variant="nova-lite"):
        bedrock_calls.converse(p, NOVA_LITE, thread, system=SUMMARY_PROMPT, stream=stream, max_tokens=400)
    with labelled(variant="nova-pro"):
        bedrock_calls.invoke(p, NOVA_PRO, thread, system=SUMMARY_PROMPT, stream=not stream, max_tokens=400)
    with labelled(variant="claude-sonnet"):
        if rng.random() < 0.5:
            bedrock_calls.invoke(
                p, CLAUDE_SONNET, thread, system=SUMMARY_PROMPT, stream=stream, max_tokens=400
            )
        else:
            bedrock_calls.converse(
                p, CLAUDE_SONNET, thread, system=SUMMARY_PROMPT, stream=True, max_tokens=400
            )


def provider_session(p: Providers, rng: random.Random, variant: str) -> None:
    question = text.filler(rng, "docs", rng.randint(1_200, 4_000))
    if variant == "openai":
        calls.chat(p, "gpt-4o-mini", [{"role": "user", "content": question}], stream=True, max_tokens=400)
    else:
        bedrock_calls.converse(p, NOVA_LITE, question, stream=True, max_tokens=400)


def plan(ctx: PlanContext) -> list[Scenario]:
    rng, cal = ctx.rng, ctx.calendar
    bakeoff_labels = {
        "feature": "email-summary",
        "experiment": "email-summary-bakeoff",
        **prompt("email-summary", "v1"),
    }  # the variant is the candidate model, set per call
    bakeoff = [
        Session(t, bakeoff_session, bakeoff_labels, slow=True)
        for t in cal.spread(rng, ctx.count(65), weekend=0.1)
    ]
    ab = []
    for t in cal.spread(rng, ctx.count(120), weekend=0.6):
        variant = rng.choice(("openai", "bedrock"))
        labels = {
            "feature": "answer",
            "experiment": "provider-ab",
            "variant": variant,
            "tenant": "public",
            **ANSWER,
        }
        ab.append(Session(t, functools.partial(provider_session, variant=variant), labels))
    return [
        Scenario("bakeoff", "Bedrock bake-off: Nova Lite/Pro, Claude", MAIL, bakeoff),
        Scenario("provider-ab", "Provider A/B: OpenAI vs Bedrock", HELP, ab),
    ]
