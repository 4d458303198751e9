"""Run as a script: N instrumented OpenAI calls with PII in the prompt and capture on, to the simulator and a
collector. Arguments: simulator URL, collector URL, number of calls."""

from __future__ import annotations

import sys

import openai

import tokentrail
from support import pii_prompt


def main(sim: str, collector: str, n: int) -> None:
    tokentrail.configure(endpoint=collector, capture_content=True, service_name="origin")
    tokentrail.instrument()
    client = openai.OpenAI(base_url=f"{sim}/v1", api_key="test")
    for i in range(n):
        feature = "triage" if i % 2 == 0 else "search"
        with tokentrail.labels(feature=feature, app="helpdesk"):
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[
                    {"role": "system", "content": "You answer support mail."},
                    {"role": "user", "content": f"{pii_prompt()} Ticket {i}."},
                ],
                max_tokens=40,
            )
    tokentrail.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
