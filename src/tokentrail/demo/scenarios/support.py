"""Customer service: a chatbot on Claude with a cached policy prompt, ticket triage on a small OpenAI model,
and a support agent that loops over tools (search the knowledge base, look up an order) before answering."""

from __future__ import annotations

import functools
import json
import random
from typing import Any

import tokentrail
from tokentrail.demo import calls, text
from tokentrail.demo.ledger import labelled, traced
from tokentrail.demo.providers import Providers
from tokentrail.demo.scenarios.base import PlanContext, Scenario, Session, baseline, prompt, work

APP = {
    "app": "support-bot",
    "team": "customer-success",
    "cost_center": "cc-4100-support",
    "environment": "prod",
}
CHAT_MODEL = "claude-haiku-4-5"
TRIAGE_MODEL = "gpt-4o-mini"
AGENT_MODEL = "gpt-4.1-mini"
BRANDS = ("shop-eu", "shop-us", "shop-uk", "shop-apac")
SYSTEM_CHARS = 18_000  # ~4.5 k tokens: above Claude Haiku's 4096-token minimum for prompt caching
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": {arg: {"type": "string"}}, "required": [arg]},
        },
    }
    for name, description, arg in (
        ("search_kb", "Search the help-centre articles", "query"),
        ("lookup_order", "Fetch an order's status and items", "order_id"),
    )
]


def chat_session(p: Providers, rng: random.Random, turns: int) -> None:
    """A conversation of a few turns; the policy prompt is marked for caching."""
    system = [{"type": "text", "text": _policy(), "cache_control": {"type": "ephemeral"}}]
    messages: list[dict[str, Any]] = []
    with labelled(
        user_id=f"cust-{rng.randrange(100_000):05d}", conversation_id=f"conv-{rng.getrandbits(40):010x}"
    ):
        for _ in range(turns):
            messages.append({"role": "user", "content": text.one(rng, "ticket")})
            filtered = rng.random() < 0.015
            directive = {"fail": ["content_filter"]} if filtered else None
            reply = calls.claude(
                p, CHAT_MODEL, system, messages, stream=True, max_tokens=600, directive=directive
            )
            if reply.stop == "refusal":
                return
            messages.append({"role": "assistant", "content": reply.text or "..."})
            work(rng, 2_000, 10_000)  # the customer reads and types


@functools.cache
def _policy() -> str:
    return text.filler(random.Random(1), "policy", SYSTEM_CHARS)


def triage_session(p: Providers, rng: random.Random) -> None:
    ticket = text.filler(rng, "ticket", rng.randint(200, 900))
    messages = [
        {"role": "system", "content": "Classify the ticket: category, urgency, language. Answer in JSON."},
        {"role": "user", "content": ticket},
    ]
    calls.chat(p, TRIAGE_MODEL, messages, directive={"output_tokens": rng.randint(8, 24)})


def agent_session(p: Providers, rng: random.Random) -> None:
    """Round 1 asks for search_kb, round 2 (most runs) for lookup_order, the last round answers."""
    wanted = ["search_kb", *(["lookup_order"] if rng.random() < 0.7 else [])]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a support agent. Use the tools, then answer briefly."},
        {"role": "user", "content": text.filler(rng, "ticket", 300)},
    ]
    with traced("support_agent"):
        for tool_name in [*wanted, None]:
            directive = {"tool_call": tool_name} if tool_name else {"tool_call": False}
            reply = calls.chat(p, AGENT_MODEL, messages, tools=TOOLS, directive=directive, max_tokens=400)
            if not reply.tool_calls:
                return
            messages.append(
                {"role": "assistant", "tool_calls": [_tool_call_message(c) for c in reply.tool_calls]}
            )
            for call in reply.tool_calls:
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": _run_tool(p, rng, call.name)}
                )


def _tool_call_message(call: calls.ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _run_tool(p: Providers, rng: random.Random, name: str) -> str:
    with tokentrail.tool(name):
        if name == "search_kb":  # retrieval: embed the query, then the vector search itself
            calls.embed(p, "text-embedding-3-small", [text.one(rng, "ticket")])
            work(rng, 80, 300)
            return json.dumps({"articles": [text.one(rng, "policy") for _ in range(3)]})
        work(rng, 150, 600)  # the order service
        return json.dumps(
            {"order": f"A-{rng.randrange(10**6)}", "status": rng.choice(["shipped", "delayed"])}
        )


def plan(ctx: PlanContext) -> list[Scenario]:
    rng, cal = ctx.rng, ctx.calendar

    def brand() -> dict[str, str]:
        return {"tenant": rng.choices(BRANDS, [5, 4, 2, 1])[0]}

    chat_labels = {"feature": "chat", **prompt("support-system", "v7"), **baseline("chat")}
    chat = []
    for t in cal.spread(rng, ctx.count(130), weekend=0.7):
        turns = rng.choice([1, 2, 2, 3, 4])
        run = functools.partial(chat_session, turns=turns)
        chat.append(Session(t, run, {**chat_labels, **brand()}, slow=turns > 1))
    triage_labels = {"feature": "ticket-triage", **prompt("ticket-triage", "v2"), **baseline("ticket-triage")}
    triage = [
        Session(t, triage_session, {**triage_labels, **brand()})
        for t in cal.spread(rng, ctx.count(110), weekend=0.7)
    ]
    agent_labels = {"feature": "order-agent", **prompt("order-agent", "v3"), **baseline("order-agent")}
    agent = [
        Session(t, agent_session, {**agent_labels, **brand()}, slow=True)
        for t in cal.spread(rng, ctx.count(60), weekend=0.7)
    ]
    return [
        Scenario("chatbot", "Customer-service chatbot, triage", APP, chat + triage),
        Scenario("agent", "Support agent, multi-round tools", APP, agent),
    ]
