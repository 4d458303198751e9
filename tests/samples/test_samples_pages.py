"""The call page shows a call's sampled messages (escaped); the "why" answer links to the sampled calls with
largest inputs and the longest outputs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from support import make_request, make_span
from tokentrail.ingest.pipeline import pricing_enricher
from tokentrail.pricing import load_prices
from tokentrail.server.app import create_app
from tokentrail.store import Store

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) - dt.timedelta(hours=1)


def span(trace: int, prompt: str, answer: str, feature: str) -> Any:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 10 * len(prompt),
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be kind."}]),
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
        ),
        "tokentrail.feature": feature,
    }
    return make_span(attrs, trace=trace, span=trace, start=NOW)


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, enrich=pricing_enricher(load_prices()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as c:
        r = await c.put("/api/sampling", json={"default_rate": 1.0})
        assert r.status_code == 200
        spans = [
            span(1, "short <script>alert(1)</script>", "ok", "triage"),
            span(2, "a much longer question " * 20, "fine", "triage"),
            span(3, "hi", "a very long answer " * 30, "triage"),
            span(4, "other feature", "x", "search"),
        ]
        body = make_request(spans).SerializeToString()
        assert (
            await c.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf"})
        ).status_code == 200
        yield c


async def test_call_page_shows_the_sampled_messages_escaped(client: httpx.AsyncClient) -> None:
    html = (await client.get(f"/call/{1:032x}/{1:016x}")).text
    assert 'id="sample"' in html and "Kept for: <strong>rate</strong>" in html
    assert "short &lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert 'data-side="system"' in html and "Be kind." in html and 'data-side="output"' in html
    assert ">ok</pre>" in html


async def test_call_page_without_a_sample_says_how_to_get_one(client: httpx.AsyncClient) -> None:
    plain = make_span(
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}, trace=5, span=5, start=NOW
    )
    body = make_request([plain]).SerializeToString()
    assert (
        await client.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf"})
    ).status_code == 200
    html = (await client.get(f"/call/{5:032x}/{5:016x}")).text
    assert "No content was sampled for this call" in html and 'data-side="input"' not in html


async def test_why_links_to_the_largest_inputs_and_longest_outputs(client: httpx.AsyncClient) -> None:
    html = (await client.get("/why", params={"since": "24h", "feature": "triage"})).text
    assert "What was sent: sampled calls of triage" in html
    inputs = html.split('data-samples="largest_inputs"')[1].split("</table>")[0]
    outputs = html.split('data-samples="longest_outputs"')[1].split("</table>")[0]
    assert inputs.index(f"/call/{2:032x}/{2:016x}") < inputs.index(f"/call/{1:032x}/{1:016x}")
    assert outputs.index(f"/call/{3:032x}/{3:016x}") < outputs.index(f"/call/{2:032x}/{2:016x}")
    assert f"/call/{4:032x}" not in inputs  # another feature's call
    data = (await client.get("/api/why", params={"since": "24h"})).json()
    assert data["sampled"]["feature"] == "triage"  # the costliest feature when none is asked for
    assert data["sampled"]["largest_inputs"][0]["span_id"] == f"{2:016x}"
    assert data["sampled"]["longest_outputs"][0]["span_id"] == f"{3:016x}"


def test_the_cli_answer_names_the_sampled_calls() -> None:
    from tokentrail.demo.answer import Answer, answer_lines, sampled_links

    sampled = {
        "largest_inputs": [{"trace_id": "a" * 32, "span_id": "b" * 16}],
        "longest_outputs": [{"trace_id": "c" * 32, "span_id": "d" * 16}],
    }
    links = sampled_links("http://h:1", sampled)
    assert links == [
        ("largest input", f"http://h:1/call/{'a' * 32}/{'b' * 16}"),
        ("longest output", f"http://h:1/call/{'c' * 32}/{'d' * 16}"),
    ]
    assert sampled_links("http://h:1", None) == []
    answer = Answer("triage", None, 1.0, 0.5, "+100%", 3, [], None, {}, "http://h:1/why", links)
    lines = answer_lines(answer, dt.datetime(2026, 1, 2))
    assert f"  Sampled call with the longest output: [link={links[1][1]}]{links[1][1]}[/link]" in lines
