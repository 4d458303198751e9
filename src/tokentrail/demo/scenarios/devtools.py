"""Internal developer tools: code review on a reasoning model and commit messages, both through the OpenAI
Responses API; documentation search (an embedding, then a streamed answer); a nightly re-index job."""

from __future__ import annotations

import datetime as dt
import random

from tokentrail.demo import calls, text
from tokentrail.demo.providers import Providers
from tokentrail.demo.scenarios.base import OWN_TENANT, PlanContext, Scenario, Session, baseline, prompt

APP = {
    "app": "dev-tools",
    "team": "platform-eng",
    "cost_center": "cc-3300-engineering",
    "environment": "internal",
    "tenant": OWN_TENANT,
}
PROMPT_VERSIONS = {"code-review": "v3", "commit-message": "v1", "doc-search": "v2", "docs-index": "v1"}
DEVELOPERS = tuple(f"dev-{i:02d}" for i in range(1, 41))


def review_session(p: Providers, rng: random.Random) -> None:
    diff = text.filler(rng, "code", rng.randint(3_000, 16_000))
    calls.responses(p, "o4-mini", diff, instructions="Review this diff: bugs, risks, missing tests.")


def commit_session(p: Providers, rng: random.Random) -> None:
    diff = text.filler(rng, "code", rng.randint(500, 3_000))
    calls.responses(p, "gpt-4.1-mini", diff, stream=True, instructions="Write a one-line commit message.")


def search_session(p: Providers, rng: random.Random) -> None:
    question = text.one(rng, "docs")
    calls.embed(p, "text-embedding-3-small", [question])
    context = text.filler(rng, "docs", rng.randint(2_000, 6_000))
    messages = [
        {"role": "system", "content": "Answer from the documentation excerpts only."},
        {"role": "user", "content": f"{context}\n\nQuestion: {question}"},
    ]
    calls.chat(p, "gpt-4o-mini", messages, stream=True, max_tokens=400)


def index_session(p: Providers, rng: random.Random) -> None:
    for _ in range(3):
        batch = [text.filler(rng, "docs", rng.randint(400, 1_500)) for _ in range(16)]
        calls.embed(p, "text-embedding-3-large", batch)


def labels(feature: str) -> dict[str, str]:
    return {"feature": feature, **prompt(feature, PROMPT_VERSIONS[feature]), **baseline(feature)}


def plan(ctx: PlanContext) -> list[Scenario]:
    rng, cal = ctx.rng, ctx.calendar

    def dev(feature: str) -> dict[str, str]:
        return {**labels(feature), "user_id": rng.choice(DEVELOPERS)}

    sessions = [
        Session(t, review_session, dev("code-review")) for t in cal.spread(rng, ctx.count(45), weekend=0.1)
    ]
    sessions += [
        Session(t, commit_session, dev("commit-message")) for t in cal.spread(rng, ctx.count(60), weekend=0.1)
    ]
    sessions += [
        Session(t, search_session, dev("doc-search")) for t in cal.spread(rng, ctx.count(45), weekend=0.1)
    ]
    nightly = [cal.day(d) + dt.timedelta(hours=2, minutes=rng.uniform(0, 10)) for d in range(cal.days)]
    sessions += [
        Session(t, index_session, labels("docs-index"), slow=True) for t in nightly if t < cal.latest
    ]
    return [Scenario("dev-tools", "Dev tools (Responses API, embeddings)", APP, sessions)]
