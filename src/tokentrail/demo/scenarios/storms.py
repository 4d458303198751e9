"""Throttling storms: two busy hours in the week when providers answer 429 (and a few 5xx). The `fail`
directive makes the first attempts fail, so each SDK's own retries kick in; when they run out, the
application falls back to a cheaper model inside ``tokentrail.degraded("fallback_model")``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import random
from collections.abc import Callable

from tokentrail.demo import bedrock_calls, calls, text
from tokentrail.demo.ledger import degraded
from tokentrail.demo.providers import Directive, Providers
from tokentrail.demo.scenarios.base import (
    OWN_TENANT,
    PlanContext,
    Scenario,
    Session,
    baseline,
    pick_tenant,
    prompt,
)

FALLBACK_REASON = "fallback_model"
STORM_HOURS = {2: 14, 4: 10}  # days ago -> UTC hour the storm begins
STORM_LENGTH = dt.timedelta(minutes=75)

Ask = Callable[[Providers, str, str, "Directive | None"], object]


def _ask_claude(p: Providers, model: str, prompt: str, directive: Directive | None) -> object:
    messages = [{"role": "user", "content": prompt}]
    return calls.claude(
        p, model, "Draft a reply.", messages, stream=True, max_tokens=400, directive=directive
    )


def _ask_openai(p: Providers, model: str, prompt: str, directive: Directive | None) -> object:
    return calls.chat(p, model, [{"role": "user", "content": prompt}], max_tokens=400, directive=directive)


def _ask_bedrock(p: Providers, model: str, prompt: str, directive: Directive | None) -> object:
    return bedrock_calls.converse(p, model, prompt, max_tokens=300, directive=directive)


@dataclasses.dataclass(frozen=True, slots=True)
class Flow:
    """One application's path: its labels, primary and fallback models, and the 5xx its provider sends."""

    labels: dict[str, str]
    ask: Ask
    primary: str
    fallback: str
    overloaded: int
    domain: str


def _labels(app: str, feature: str, team: str, cost_center: str, version: str) -> dict[str, str]:
    """An application's labels in a storm (the tenant is set per session); no A/B test runs on these paths."""
    return {
        "app": app, "feature": feature, "team": team, "cost_center": cost_center, "environment": "prod",
        **prompt(feature, version), **baseline(feature),
    }  # fmt: skip


FLOWS = (
    Flow(
        _labels("sales-assistant", "email-draft", "sales-ops", "cc-2200-sales", "v4"),
        _ask_claude, "claude-sonnet-4-6", "claude-haiku-4-5", 529, "crm",
    ),
    Flow(
        _labels("docs-copilot", "qa", "product-ai", "cc-5100-product", "v4"),
        _ask_openai, "gpt-4o", "gpt-4o-mini", 503, "docs",
    ),
    Flow(
        _labels("mail-insights", "email-triage", "data-science", "cc-6100-research", "v1"),
        _ask_bedrock, "anthropic.claude-3-5-sonnet-20240620-v1:0", "amazon.nova-lite-v1:0", 503, "email",
    ),
)  # fmt: skip


def provider_errors() -> tuple[type[BaseException], ...]:
    """What a call raises once the SDK has given up: these trigger the fallback (nothing else is caught)."""
    import anthropic
    import botocore.exceptions
    import openai

    return (anthropic.APIError, openai.APIError, botocore.exceptions.ClientError)


def storm_session(p: Providers, rng: random.Random, flow: Flow, fail: list[int]) -> None:
    prompt = text.filler(rng, flow.domain, rng.randint(400, 1_500))
    try:
        flow.ask(p, flow.primary, prompt, {"fail": fail})
    except provider_errors():
        with degraded(FALLBACK_REASON):
            flow.ask(p, flow.fallback, prompt, None)


def failures(rng: random.Random, overloaded: int) -> list[int]:
    """Mostly a throttle or two that the retries absorb; some storms outlast the retries."""
    roll = rng.random()
    if roll < 0.45:
        return [429]
    if roll < 0.7:
        return [429, 429]
    if roll < 0.9:
        return [429, 429, 429]
    return [overloaded] * 3


def plan(ctx: PlanContext) -> list[Scenario]:
    rng, cal = ctx.rng, ctx.calendar
    days = [d for d in STORM_HOURS if d < cal.days] or [1]
    sessions = []
    for i in range(ctx.count(90, minimum=6)):
        day = days[i % len(days)]
        when = cal.day(day) + dt.timedelta(hours=STORM_HOURS.get(day, 14)) + STORM_LENGTH * rng.random()
        flow = FLOWS[i % len(FLOWS)]
        run = functools.partial(storm_session, flow=flow, fail=failures(rng, flow.overloaded))
        tenant = {"tenant": pick_tenant(rng) if flow.labels["app"] == "docs-copilot" else OWN_TENANT}
        sessions.append(Session(when, run, {**flow.labels, **tenant}, slow=True))
    return [Scenario("storms", "Throttling storms, retries, fallbacks", {}, sessions)]
