"""Synthetic traffic for the dashboard tests, and independent expected values computed from it in Python.

No demo/traffic generator exists in the package yet, so the data is built here: ~330 LLM calls over the last
48 hours (five features, four tenants, four models on three providers, prompt versions, errors by class,
retries, streaming stats with some stalls) and a three-round agent trace (agent root, LLM rounds, tool spans)
in the "search" feature, whose last round has the largest input and a stall.

Times are relative to `now`; no call lies within 8 minutes of the 1 h, 24 h or 48 h boundaries, so ranges
resolved a little later by the server still hold the same calls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
from collections.abc import Iterable

from tokentrail.model import Call, StreamTimeline

# model: (provider, USD per 1k input tokens, USD per 1k output tokens)
MODELS = {
    "gpt-4o": ("openai", 0.0025, 0.01),
    "gpt-4o-mini": ("openai", 0.00015, 0.0006),
    "claude-sonnet-4": ("anthropic", 0.003, 0.015),
    "anthropic.claude-3-haiku": ("aws.bedrock", 0.00025, 0.00125),
}
FEATURES = ("search", "chat", "summarize", "classify", "support")
TENANTS = ("acme", "globex", "initech", "umbrella")
APPS = {"acme": "web", "globex": "web", "initech": "mobile", "umbrella": "backend"}
ERRORS = (("throttled", 429), ("server_error", 503), ("timeout", 408))
AGENT_TRACE = "a9e47" + "0" * 27
BOUNDARIES_MIN = (60, 24 * 60)


@dataclasses.dataclass
class DataSet:
    now: dt.datetime
    spans: list[Call]

    def llm(
        self, start: dt.datetime | None = None, end: dt.datetime | None = None, **labels: str
    ) -> list[Call]:
        """LLM calls in [start, end) whose labels (or `model`) equal the given values."""
        lo, hi = start or dt.datetime.min, end or dt.datetime.max
        out = []
        for c in self.spans:
            if c.kind != "llm" or c.start_time is None or not lo <= c.start_time < hi:
                continue
            if all((c.model if k == "model" else getattr(c, k)) == v for k, v in labels.items()):
                out.append(c)
        return out

    def ago(self, **delta: float) -> dt.datetime:
        return self.now - dt.timedelta(**delta)


def quantile(values: Iterable[float | None], q: float) -> float | None:
    """Linear interpolation between closest ranks (what quantile_cont computes)."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    pos = q * (len(xs) - 1)
    lo, frac = math.floor(pos), pos - math.floor(pos)
    return xs[lo] + (xs[min(lo + 1, len(xs) - 1)] - xs[lo]) * frac


def total(calls: Iterable[Call], field: str) -> float:
    return sum(getattr(c, field) or 0 for c in calls)


def cost(model: str, input_tokens: int, output_tokens: int) -> float:
    _, per_in, per_out = MODELS[model]
    return round(input_tokens / 1000 * per_in + output_tokens / 1000 * per_out, 8)


def _model_for(feature: str, current: bool, rng: random.Random) -> str:
    if feature == "search":
        return "gpt-4o" if current or rng.random() < 0.3 else "gpt-4o-mini"
    if feature == "chat":
        return rng.choice(("claude-sonnet-4", "gpt-4o-mini"))
    if feature == "support":
        return "claude-sonnet-4"
    return rng.choice(("gpt-4o-mini", "anthropic.claude-3-haiku"))


def _streaming(c: Call, i: int, rng: random.Random) -> None:
    c.stream = i % 6 != 0
    if not c.stream:
        return
    c.ttft_ms = round(rng.uniform(150, 900), 1)
    c.itl_p50_ms = round(rng.uniform(18, 40), 1)
    c.itl_p95_ms = round(c.itl_p50_ms * 2.5, 1)
    c.itl_max_ms = 1500.0 if i % 17 == 0 else round(c.itl_p95_ms * 1.6, 1)
    c.chunks = max(1, (c.output_tokens or 1) // 3)
    c.stream_duration_ms = round(c.chunks * c.itl_p50_ms + (c.itl_max_ms - c.itl_p50_ms), 1)
    c.ttlt_ms = round(c.ttft_ms + c.stream_duration_ms, 1)
    c.duration_ms = round(c.ttlt_ms + 15, 1)
    c.output_tokens_per_s = round((c.output_tokens or 0) / (c.stream_duration_ms / 1000), 2)


def _call(i: int, minutes_ago: float, now: dt.datetime, rng: random.Random) -> Call:
    feature = FEATURES[i % len(FEATURES)]
    tenant = TENANTS[(i // 2) % len(TENANTS)]
    current = minutes_ago < 24 * 60
    model = _model_for(feature, current, rng)
    version = ("v3" if feature == "search" else "v2") if current else ("v1" if i % 2 else "v2")
    input_tokens = rng.randint(400, 6000) * (2 if feature == "search" and current else 1)
    output_tokens = rng.randint(20, 900)
    c = Call(
        trace_id=f"{i + 1:032x}",
        span_id=f"{i + 1:016x}",
        kind="llm",
        name=f"chat {model}",
        service="shop",
        start_time=now - dt.timedelta(minutes=minutes_ago),
        provider=MODELS[model][0],
        operation="chat",
        request_model=model,
        response_model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=input_tokens // 4 if i % 3 == 0 else 0,
        cache_write_tokens=0,
        app=APPS[tenant],
        feature=feature,
        tenant=tenant,
        team=f"team-{feature}",
        cost_center="cc-100" if feature in ("search", "support") else "cc-200",
        environment="prod",
        prompt_name=f"{feature}-prompt",
        prompt_version=version,
        attempts=1,
        stop_reason="stop",
        duration_ms=round(rng.uniform(300, 4000), 1),
        source="sdk",
    )
    c.cost_usd = cost(model, input_tokens, output_tokens)
    if i % 11 == 0:
        c.status, (c.error_class, c.http_status) = "error", ERRORS[(i // 11) % len(ERRORS)]
        c.attempts, c.cost_usd, c.output_tokens, c.stop_reason = 3, None, 0, None
    elif i % 7 == 0:
        c.attempts = 2  # retried, then answered
    _streaming(c, i, rng)
    c.end_time = c.start_time + dt.timedelta(milliseconds=c.duration_ms or 0)  # type: ignore[operator]
    return c


def agent_trace(now: dt.datetime) -> list[Call]:
    """A research agent in "search": three LLM rounds, two tool executions in between."""
    t0 = now - dt.timedelta(minutes=20)
    root = Call(
        trace_id=AGENT_TRACE,
        span_id="a" * 16,
        kind="agent",
        name="research_agent",
        service="shop",
        start_time=t0,
        duration_ms=9000.0,
        feature="search",
        tenant="acme",
        app="web",
    )
    spans = [root]
    plan = [
        ("llm", 0, 2000, 30000, ["web_search"]),
        ("tool", 2100, 1500, 0, []),
        ("llm", 3700, 2100, 34000, ["fetch_page"]),
        ("tool", 5900, 900, 0, []),
        ("llm", 6900, 2000, 38000, []),
    ]
    for n, (kind, at, length, tokens, tools) in enumerate(plan):
        span = Call(
            trace_id=AGENT_TRACE,
            span_id=f"{0xA000 + n:016x}",
            parent_span_id=root.span_id,
            kind=kind,
            service="shop",
            start_time=t0 + dt.timedelta(milliseconds=at),
            duration_ms=float(length),
            feature="search",
            tenant="acme",
            app="web",
            source="sdk",
        )
        if kind == "tool":
            span.name = "web_search" if n == 1 else "fetch_page"
        else:
            _agent_round(span, tokens, tools, last=n == len(plan) - 1)
        span.end_time = span.start_time + dt.timedelta(milliseconds=length)  # type: ignore[operator]
        spans.append(span)
    root.end_time = t0 + dt.timedelta(milliseconds=9000)
    return spans


def _agent_round(span: Call, tokens: int, tools: list[str], last: bool) -> None:
    span.name, span.provider, span.operation = "chat gpt-4o", "openai", "chat"
    span.request_model = span.response_model = "gpt-4o"
    span.input_tokens, span.output_tokens = tokens, 400 if last else 60
    span.cost_usd = cost("gpt-4o", tokens, span.output_tokens)
    span.tool_names, span.tool_calls = tools, len(tools)
    span.prompt_name, span.prompt_version, span.cost_center = "search-prompt", "v3", "cc-100"
    span.attempts, span.environment, span.team = 1, "prod", "team-search"
    span.stream, span.ttft_ms, span.ttlt_ms = True, 600.0, float(span.duration_ms or 0) - 20
    span.itl_p50_ms, span.itl_p95_ms = 25.0, 60.0
    span.itl_max_ms = 900.0 if last else 80.0  # the last round stalls
    span.chunks, span.output_tokens_per_s = span.output_tokens // 4, 300.0
    span.stop_reason = "stop" if last else "tool_calls"
    if last:
        span.stream_timeline = stalled_timeline(span.chunks, 600.0, span.ttlt_ms, STALL_BEFORE, 900.0)


STALL_BEFORE = 60  # the stalled round's longest gap is before this chunk (from 0)


def stalled_timeline(chunks: int, ttft: float, ttlt: float, before: int, stall: float) -> StreamTimeline:
    """Chunks from `ttft` to `ttlt`, evenly spaced but for one `stall` ms gap before chunk `before`."""
    step = (ttlt - ttft - stall) / (chunks - 2)
    offsets = [round(ttft + step * i + (stall - step if i >= before else 0.0), 3) for i in range(chunks)]
    return StreamTimeline(list(range(chunks)), offsets)


def build(now: dt.datetime | None = None, seed: int = 7) -> DataSet:
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    rng = random.Random(seed)
    spans: list[Call] = []
    for i in range(360):
        minutes_ago = 3 + i * 7.95
        if minutes_ago > 2870 or any(abs(minutes_ago - b) < 8 for b in BOUNDARIES_MIN):
            continue
        spans.append(_call(i, minutes_ago, now, rng))
    return DataSet(now, spans + agent_trace(now))
