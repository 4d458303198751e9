"""Run as a script: N instrumented OpenAI calls with capture on, to the simulator and a collector.
Arguments: simulator URL, collector URL, number of calls, and the kind of calls:

- ``pii``: a system message and PII in the prompt, features triage and search alternately;
- ``tools``: a system message, an earlier tool round (assistant tool call, tool result), a tool definition,
  tool choice and sampling parameters, no PII (so the replayed request can be compared token for token);
- ``prompt``: the first half made with version 1 of the registered prompt ``triage`` (`tokentrail.prompt`),
  the rest without a prompt.
"""

from __future__ import annotations

import sys

import openai

import tokentrail
from support import pii_prompt

SYSTEM = {"role": "system", "content": "You answer support mail."}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "track",
            "description": "Track a parcel by its number",
            "parameters": {"type": "object", "properties": {"number": {"type": "string"}}},
        },
    }
]
ROUND = [
    {"role": "user", "content": "Where is parcel 42?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "track", "arguments": '{"number": "42"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "in the depot"},
    {"role": "user", "content": "And parcel 43?"},
]


def pii_call(client: openai.OpenAI, i: int) -> None:
    with tokentrail.labels(feature="triage" if i % 2 == 0 else "search", app="helpdesk"):
        user = {"role": "user", "content": f"{pii_prompt()} Ticket {i}."}
        client.chat.completions.create(model="gpt-4o-mini", messages=[SYSTEM, user], max_tokens=40)


def tools_call(client: openai.OpenAI, i: int) -> None:
    with tokentrail.labels(feature="parcels", app="helpdesk"):
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[SYSTEM, *ROUND],
            tools=TOOLS,
            tool_choice="required",
            temperature=0.2,
            max_tokens=60,
        )


def prompt_call(client: openai.OpenAI, i: int, n: int) -> None:
    with tokentrail.labels(feature="triage", app="helpdesk"):
        if i >= n // 2:
            user = {"role": "user", "content": f"Ticket {i}: printer on fire"}
            client.chat.completions.create(model="gpt-4o-mini", messages=[user])
            return
        triage = tokentrail.prompt("triage", version=1)
        with triage:
            user = {"role": "user", "content": triage.format(ticket=f"printer {i} jammed")}
            client.chat.completions.create(model="gpt-4o-mini", messages=[user])


def main(sim: str, collector: str, n: int, kind: str) -> None:
    tokentrail.configure(endpoint=collector, capture_content=True, service_name="origin")
    tokentrail.instrument()
    client = openai.OpenAI(base_url=f"{sim}/v1", api_key="test")
    for i in range(n):
        if kind == "prompt":
            prompt_call(client, i, n)
        else:
            (tools_call if kind == "tools" else pii_call)(client, i)
    tokentrail.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "pii")
