"""`tokentrail demo` end to end: what the collector stored equals the demo's ledger of what it sent, and the
story of the question ("which feature spent the most yesterday, and why?") holds."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from tokentrail.demo.scenarios.base import BASELINE_VARIANT, EVERY_LABEL, OWN_TENANT
from tokentrail.demo.scenarios.saas import STORY_FEATURE, STORY_TENANT, V3
from tokentrail.demo.scenarios.storms import FALLBACK_REASON
from tokentrail.model import LABELS

from .conftest import DAYS, DemoRun


def test_the_run_reports_and_answers(demo_run: DemoRun) -> None:
    out = demo_run.stdout
    assert "sessions failed" not in out and "the collector stored" in out
    assert f"{len(demo_run.ledger):,} calls" in out
    assert "latencies are 1/10 of real" in out
    assert "LLM calls by feature" in out and "Spend per day" in out
    assert f"{STORY_FEATURE} (app docs-copilot) spent" in out
    assert "/why?since=custom&start=" in out and f"feature={STORY_FEATURE}" in out


def test_calls_per_feature_and_status_equal_the_ledger(demo_run: DemoRun) -> None:
    sent = Counter((e.labels.get("app"), e.labels.get("feature"), e.status) for e in demo_run.ledger)
    stored = Counter((c["app"], c["feature"], c["status"]) for c in demo_run.calls)
    assert stored == sent
    assert Counter(c["status"] for c in demo_run.calls) == Counter(e.status for e in demo_run.ledger)
    assert len(sent) >= 15  # every scenario's features are there


def test_providers_and_models_equal_the_ledger(demo_run: DemoRun) -> None:
    sent = Counter((e.provider, e.model) for e in demo_run.ledger)
    assert Counter((c["provider"], c["request_model"]) for c in demo_run.calls) == sent
    assert {p for p, _ in sent} == {"openai", "anthropic", "aws.bedrock"}


def test_tokens_per_feature_equal_what_the_providers_reported(demo_run: DemoRun) -> None:
    sent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in demo_run.ledger:
        sent[e.labels["feature"]][0] += e.input_tokens
        sent[e.labels["feature"]][1] += e.output_tokens
    stored: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in demo_run.calls:
        stored[c["feature"]][0] += c["input_tokens"] or 0
        stored[c["feature"]][1] += c["output_tokens"] or 0
    assert stored == sent
    assert all(inp > 0 for inp, _ in sent.values())


def test_labels_are_stored_as_sent(demo_run: DemoRun) -> None:
    def key(labels: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(labels.get(name) for name in LABELS)

    assert Counter(key(c) for c in demo_run.calls) == Counter(key(e.labels) for e in demo_run.ledger)
    for name in ("tenant", "team", "cost_center", "environment", "experiment", "variant", "prompt_version"):
        assert any(c[name] for c in demo_run.calls), name
    tenants = Counter(c["tenant"] for c in demo_run.calls if c["app"] == "docs-copilot")
    assert len(tenants) >= 10 and tenants.most_common(1)[0][0] == STORY_TENANT  # Zipf-like sizes


def test_every_stored_call_carries_every_label(demo_run: DemoRun) -> None:
    assert demo_run.calls
    missing = Counter(name for c in demo_run.calls for name in EVERY_LABEL if not c[name])
    assert not missing, missing
    internal = {c["app"] for c in demo_run.calls if c["tenant"] == OWN_TENANT}
    assert {"dev-tools", "sales-assistant", "mail-insights"} <= internal
    arms = Counter((c["experiment"], c["variant"]) for c in demo_run.calls)
    assert ("chat-baseline", BASELINE_VARIANT) in arms and ("email-draft-prompt", "A") in arms


def test_agent_traces_loop_over_tools(demo_run: DemoRun) -> None:
    by_parent: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for span in demo_run.spans:
        by_parent[span["parent_span_id"]].append(span)
    roots = [s for s in demo_run.spans if s["kind"] == "agent"]
    assert roots
    for root in roots:
        assert root["parent_span_id"] is None and root["feature"] == "order-agent"
        children = Counter(s["kind"] for s in by_parent[root["span_id"]])
        assert children["llm"] >= 2 and children["tool"] >= 1, children  # a tool round, then the answer
        assert all(s["trace_id"] == root["trace_id"] for s in by_parent[root["span_id"]])
    in_agents = sum(1 for e in demo_run.ledger if e.trace == "support_agent")
    agent_traces = {r["trace_id"] for r in roots}
    assert sum(1 for c in demo_run.calls if c["trace_id"] in agent_traces) == in_agents


def test_start_times_spread_over_the_days_and_never_in_the_future(demo_run: DemoRun) -> None:
    now = dt.datetime.fromisoformat(demo_run.meta["now"]).replace(tzinfo=None)
    first_day = now.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=DAYS - 1)
    starts = [s["start_time"] for s in demo_run.spans]
    assert min(starts) >= first_day
    assert max(s["end_time"] for s in demo_run.spans) <= demo_run.finished
    assert max(starts) <= now
    assert len({t.date() for t in starts}) >= DAYS - 1  # today may have no open hours yet
    office = sum(1 for t in starts if 8 <= t.hour < 18)
    assert office > 0.6 * len(starts)  # business hours dominate


def test_throttled_calls_were_retried(demo_run: DemoRun) -> None:
    retried = [e for e in demo_run.ledger if e.attempts > 1]
    assert retried
    sent = Counter((e.labels["feature"], e.attempts, e.status) for e in retried)
    stored = Counter(
        (c["feature"], c["attempts"], c["status"]) for c in demo_run.calls if (c["attempts"] or 1) > 1
    )
    assert stored == sent
    exhausted = [c for c in demo_run.calls if c["status"] == "error" and (c["attempts"] or 1) == 3]
    assert {c["error_class"] for c in exhausted} <= {"throttled", "server_error"} and exhausted


def test_fallbacks_are_marked_degraded(demo_run: DemoRun) -> None:
    sent = Counter((e.labels["feature"], e.model) for e in demo_run.ledger if e.degraded)
    assert sent
    stored = Counter((c["feature"], c["request_model"]) for c in demo_run.calls if c["degraded"])
    assert stored == sent
    assert {c["degraded"] for c in demo_run.calls if c["degraded"]} == {FALLBACK_REASON}
    assert all(c["status"] == "ok" for c in demo_run.calls if c["degraded"])


def test_yesterdays_top_feature_is_the_story(demo_run: DemoRun) -> None:
    today = dt.datetime.fromisoformat(demo_run.meta["now"]).replace(
        tzinfo=None, hour=0, minute=0, second=0, microsecond=0
    )

    def cost(day: dt.datetime, key: str, **where: str) -> Counter[str]:
        spent: Counter[str] = Counter()
        for c in demo_run.calls:
            if day <= c["start_time"] < day + dt.timedelta(days=1) and all(
                c[k] == v for k, v in where.items()
            ):
                spent[c[key]] += c["cost_usd"] or 0.0
        return spent

    yesterday, before = today - dt.timedelta(days=1), today - dt.timedelta(days=2)
    top, spent = cost(yesterday, "feature").most_common(1)[0]
    assert top == STORY_FEATURE
    assert spent > 3 * cost(before, "feature")[STORY_FEATURE]
    story = {"feature": STORY_FEATURE}
    assert cost(yesterday, "tenant", **story).most_common(1)[0][0] == STORY_TENANT
    assert cost(yesterday, "request_model", **story).most_common(1)[0][0] == V3.model
    assert cost(yesterday, "prompt_version", **story).most_common(1)[0][0] == V3.version
