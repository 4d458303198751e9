"""Labels (nesting, threads, asyncio tasks), traces, tools, rounds and degradation markers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from tokentrail import semconv as sc

from .conftest import Recorder, steer

MESSAGES = [{"role": "user", "content": "hi"}]
QUICK = steer(output_tokens=3, ttft_ms=1, itl_ms=1)


@pytest.fixture
def client(rec: Recorder) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=rec.sim.url + "/v1", api_key="test") as c:
        yield c


def ask(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=QUICK)


def labels_of(attrs: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in attrs.items()
        if k.startswith(("tokentrail.metadata.", "tokentrail.feature", "tokentrail.tenant"))
    }


def test_labels_nest_and_merge(client: openai.OpenAI, rec: Recorder) -> None:
    with rec.tt.labels(feature="search", tenant="acme", ticket="T-1"):
        with rec.tt.labels(feature="rerank", ticket=None, conversation_id="c-9"):
            ask(client)
        ask(client)
    inner, outer = (dict(s.attributes or {}) for s in rec.llm())
    assert labels_of(inner) == {"tokentrail.feature": "rerank", "tokentrail.tenant": "acme"}
    assert inner[sc.GEN_AI_CONVERSATION_ID] == "c-9"
    assert labels_of(outer) == {
        "tokentrail.feature": "search",
        "tokentrail.tenant": "acme",
        "tokentrail.metadata.ticket": "T-1",
    }


def test_labels_decorator(client: openai.OpenAI, rec: Recorder) -> None:
    @rec.tt.labels(feature="decorated")
    def work() -> None:
        ask(client)

    work()
    assert rec.one()["tokentrail.feature"] == "decorated"


def test_propagate_carries_the_context_where_it_was_wrapped(client: openai.OpenAI, rec: Recorder) -> None:
    with rec.tt.labels(feature="batch"):
        in_context = rec.tt.propagate(ask)  # wrap here, in the context to carry
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda _: in_context(client), range(2)))
    thread = threading.Thread(target=in_context, args=(client,))
    thread.start()
    thread.join()
    ask(client)
    features = sorted(str(dict(s.attributes or {}).get("tokentrail.feature")) for s in rec.llm())
    assert features == ["None", "batch", "batch", "batch"]


@pytest.mark.asyncio
async def test_asyncio_tasks_keep_their_labels(rec: Recorder) -> None:
    async with openai.AsyncOpenAI(base_url=rec.sim.url + "/v1", api_key="test") as aclient:

        async def one(feature: str) -> None:
            with rec.tt.labels(feature=feature):
                await asyncio.sleep(0)
                await aclient.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, extra_headers=QUICK
                )

        with rec.tt.labels(tenant="acme"):
            await asyncio.gather(one("a"), one("b"), one("c"))
    seen = sorted(
        (dict(s.attributes or {})["tokentrail.feature"], dict(s.attributes or {})["tokentrail.tenant"])
        for s in rec.llm()
    )
    assert seen == [("a", "acme"), ("b", "acme"), ("c", "acme")]


def test_trace_tool_and_rounds(client: openai.OpenAI, rec: Recorder) -> None:
    with rec.tt.labels(feature="support"), rec.tt.trace("support_agent") as root:
        for _ in range(2):
            with rec.tt.round():
                ask(client)
                with rec.tt.tool("search"):
                    pass
        ask(client)
    spans = rec.spans()
    by_name = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    agent = by_name["invoke_agent support_agent"][0]
    assert agent.context.span_id == root.get_span_context().span_id
    assert {s.context.trace_id for s in spans} == {agent.context.trace_id}
    rounds = by_name["round 1"] + by_name["round 2"]
    assert [dict(r.attributes or {})[sc.TT_ROUND] for r in rounds] == [1, 2]
    assert all(r.parent is not None and r.parent.span_id == agent.context.span_id for r in rounds)
    llm = rec.llm()
    assert len(llm) == 3
    round_ids = {r.context.span_id for r in rounds}
    assert sum(1 for s in llm if s.parent is not None and s.parent.span_id in round_ids) == 2
    tools = by_name["execute_tool search"]
    assert [dict(t.attributes or {})[sc.TT_KIND] for t in tools] == ["tool", "tool"]
    assert dict(agent.attributes or {})[sc.TT_KIND] == "agent"
    assert dict(agent.attributes or {})["tokentrail.feature"] == "support"
    assert dict(tools[0].attributes or {})[sc.GEN_AI_TOOL_NAME] == "search"


def test_trace_decorates_sync_and_async(rec: Recorder) -> None:
    @rec.tt.trace("sync_agent")
    def run(x: int) -> int:
        return x * 2

    @rec.tt.tool("fetch")
    async def fetch() -> str:
        await asyncio.sleep(0)
        return "ok"

    assert run(2) == 4
    assert run(3) == 6
    assert asyncio.run(fetch()) == "ok"
    names = sorted(s.name for s in rec.spans())
    assert names == ["execute_tool fetch", "invoke_agent sync_agent", "invoke_agent sync_agent"]


def test_trace_records_errors(rec: Recorder) -> None:
    with pytest.raises(TimeoutError), rec.tt.trace("failing"):
        raise TimeoutError("slow tool")
    span = rec.spans()[0]
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.TT_ERROR_CLASS] == "timeout"


def test_degraded_marks_calls_and_trace(client: openai.OpenAI, rec: Recorder) -> None:
    with rec.tt.trace("agent"):
        ask(client)
        rec.tt.degraded("primary model timed out")
        with rec.tt.degraded("fallback to small model"):
            ask(client)
        ask(client)
    first, fallback, after = (dict(s.attributes or {}) for s in rec.llm())
    assert sc.TT_DEGRADED not in first
    assert fallback[sc.TT_DEGRADED] == "fallback to small model"
    assert sc.TT_DEGRADED not in after
    root = next(dict(s.attributes or {}) for s in rec.spans() if s.name == "invoke_agent agent")
    assert root[sc.TT_DEGRADED_COUNT] == 2
    assert root[sc.TT_DEGRADED] == "fallback to small model"
    with pytest.raises(TypeError):
        rec.tt.degraded("x")(ask)
