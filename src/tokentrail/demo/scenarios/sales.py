"""A sales assistant: lead research on gpt-4.1-mini over CRM notes, and email drafts on Claude Sonnet with a
prompt A/B test (a detailed prompt v4 against a concise v5)."""

from __future__ import annotations

import functools
import random

from tokentrail.demo import calls, text
from tokentrail.demo.providers import Providers
from tokentrail.demo.scenarios.base import OWN_TENANT, PlanContext, Scenario, Session, baseline, prompt

APP = {
    "app": "sales-assistant",
    "team": "sales-ops",
    "cost_center": "cc-2200-sales",
    "environment": "prod",
    "tenant": OWN_TENANT,  # the sales team itself uses it
}
RESEARCH_MODEL = "gpt-4.1-mini"
DRAFT_MODEL = "claude-sonnet-4-6"
REPS = tuple(f"rep-{i:02d}" for i in range(1, 19))
# variant -> (prompt_version, instructions, max_tokens)
DRAFT_VARIANTS = {
    "A": ("v4", "Write a warm, detailed follow-up email covering every point of the notes. " * 6, 700),
    "B": ("v5-concise", "Write a short follow-up email: three sentences, one call to action.", 220),
}


RESEARCH = {**prompt("lead-research", "v2"), **baseline("lead-research")}


def research_session(p: Providers, rng: random.Random) -> None:
    notes = text.filler(rng, "crm", rng.randint(4_000, 12_000))
    messages = [
        {"role": "system", "content": "Summarise the account and suggest next steps."},
        {"role": "user", "content": notes},
    ]
    calls.chat(p, RESEARCH_MODEL, messages, max_tokens=500)


def draft_session(p: Providers, rng: random.Random, variant: str) -> None:
    _, instructions, max_tokens = DRAFT_VARIANTS[variant]
    messages = [{"role": "user", "content": text.filler(rng, "crm", rng.randint(800, 2_000))}]
    calls.claude(p, DRAFT_MODEL, instructions, messages, stream=True, max_tokens=max_tokens)


def plan(ctx: PlanContext) -> list[Scenario]:
    rng, cal = ctx.rng, ctx.calendar
    research = [
        Session(t, research_session, {"feature": "lead-research", "user_id": rng.choice(REPS), **RESEARCH})
        for t in cal.spread(rng, ctx.count(70), weekend=0.15)
    ]
    drafts = []
    for t in cal.spread(rng, ctx.count(80), weekend=0.15):
        variant = rng.choice(("A", "B"))
        labels = {
            "feature": "email-draft",
            "experiment": "email-draft-prompt",
            "variant": variant,
            "prompt_name": "email-draft",
            "prompt_version": DRAFT_VARIANTS[variant][0],
            "user_id": rng.choice(REPS),
        }
        drafts.append(Session(t, functools.partial(draft_session, variant=variant), labels))
    return [
        Scenario("sales", "Sales assistant", APP, research),
        Scenario("prompt-ab", "Prompt A/B: email drafts v4 vs v5", APP, drafts),
    ]
