"""A multi-tenant SaaS product (docs-copilot) with tenants of very different sizes (Zipf-like), and the story
the demo's question uncovers.

The story: yesterday at 09:30 UTC the team deployed prompt v3 of ``summarize`` for its biggest tenant,
globex. v3 sends the whole document thread (~24 k tokens instead of ~1.5 k) to gpt-4o instead of
gpt-4o-mini, so the feature's spend jumps yesterday, driven by one model, one tenant and one prompt version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import random

from tokentrail.demo import calls, text
from tokentrail.demo.providers import Providers
from tokentrail.demo.scenarios.base import (
    TENANTS,
    PlanContext,
    Scenario,
    Session,
    baseline,
    pick_tenant,
    prompt,
)

APP = {"app": "docs-copilot", "team": "product-ai", "cost_center": "cc-5100-product", "environment": "prod"}
STORY_FEATURE = "summarize"
STORY_TENANT = TENANTS[0]
DEPLOYED_AFTER = dt.timedelta(hours=9, minutes=30)  # after midnight yesterday (UTC)
STORY_SHARE = 0.3  # of summarize sessions, from the big tenant
ROLLOUT = (
    "summarize-rollout"  # summarize's prompt deploys are rolled out per tenant; the variant is the version
)
QA = {"feature": "qa", **prompt("qa", "v4"), **baseline("qa")}
TRANSLATE = {"feature": "translate", **prompt("translate", "v1"), **baseline("translate")}


@dataclasses.dataclass(frozen=True, slots=True)
class Prompt:
    version: str
    model: str
    context_chars: tuple[int, int]
    max_tokens: int


V2 = Prompt("v2", "gpt-4o-mini", (4_000, 8_000), 350)
V3 = Prompt("v3", "gpt-4o", (88_000, 104_000), 900)


def summarize_session(p: Providers, rng: random.Random, prompt: Prompt) -> None:
    document = text.filler(rng, "docs", rng.randint(*prompt.context_chars))
    messages = [
        {"role": "system", "content": "Summarise the document thread for a busy reader."},
        {"role": "user", "content": document},
    ]
    calls.chat(p, prompt.model, messages, max_tokens=prompt.max_tokens)


def qa_session(p: Providers, rng: random.Random) -> None:
    context = text.filler(rng, "docs", rng.randint(3_000, 9_000))
    messages = [{"role": "user", "content": f"{context}\n\nQuestion: {text.one(rng, 'docs')}"}]
    calls.chat(p, "gpt-4o-mini", messages, stream=True, max_tokens=500)


def translate_session(p: Providers, rng: random.Random) -> None:
    page = text.filler(rng, "docs", rng.randint(600, 2_500))
    system = f"Translate into {rng.choice(['German', 'French', 'Japanese', 'Spanish'])}."
    calls.claude(p, "claude-haiku-4-5", system, [{"role": "user", "content": page}], max_tokens=800)


def plan(ctx: PlanContext) -> list[Scenario]:
    rng, cal = ctx.rng, ctx.calendar
    sessions = summarize_sessions(ctx)
    sessions += [
        Session(t, qa_session, {**QA, "tenant": pick_tenant(rng)})
        for t in cal.spread(rng, ctx.count(200), weekend=0.5)
    ]
    sessions += [
        Session(t, translate_session, {**TRANSLATE, "tenant": pick_tenant(rng)})
        for t in cal.spread(rng, ctx.count(90), weekend=0.5)
    ]
    return [Scenario("saas", "Multi-tenant SaaS, 30 tenants", APP, sessions)]


def summarize_sessions(ctx: PlanContext) -> list[Session]:
    """Most tenants on v2 all week; the big tenant on v3 since the deploy, at least a few times yesterday."""
    rng, cal = ctx.rng, ctx.calendar
    total = ctx.count(230)
    deployed = cal.day(1) + DEPLOYED_AFTER
    others = [(t, pick_tenant(rng, TENANTS[1:])) for t in cal.spread(rng, round(total * (1 - STORY_SHARE)))]
    big = [(t, STORY_TENANT) for t in cal.spread(rng, round(total * STORY_SHARE))]
    start, end = deployed, cal.today
    after = sum(1 for t, _ in big if start <= t < end)
    for _ in range(ctx.count(10, minimum=4) - after):  # yesterday's traffic of the big tenant, at least
        big.append(
            (start + dt.timedelta(seconds=rng.uniform(0, (end - start).total_seconds())), STORY_TENANT)
        )
    sessions = []
    for when, tenant in others + big:
        version = V3 if tenant == STORY_TENANT and when >= deployed else V2
        labels = {
            "feature": STORY_FEATURE,
            "tenant": tenant,
            **prompt("summarize", version.version),
            "experiment": ROLLOUT,
            "variant": version.version,
        }
        sessions.append(Session(when, functools.partial(summarize_session, prompt=version), labels))
    return sessions
