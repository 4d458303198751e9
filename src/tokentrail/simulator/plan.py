"""The plan of one simulated response: decided in full before the first byte, from the profile, the
server seed, the request and its attempt number, and any per-request directive.

The same (seed, request body, attempt, directive) always gives the same plan (the body as parsed JSON, less
``stream_options``, which changes only a stream's framing). Each aspect (failure,
timing, length, cache, tool call, text) draws from its own random stream, so overriding one aspect with a
directive does not change the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
from typing import Any

from tokentrail.simulator import text
from tokentrail.simulator.directive import Directive, Failure
from tokentrail.simulator.profile import ModelProfile, Profile

FULL_ITL_LIMIT = 64  # the plan header lists every gap up to this many, else a summary


@dataclasses.dataclass(frozen=True, slots=True)
class Tool:
    name: str
    schema: Any = None


@dataclasses.dataclass(frozen=True, slots=True)
class Ask:
    """What a request asks for, in provider-neutral terms."""

    model: str
    text: str
    max_tokens: int | None = None
    tools: tuple[Tool, ...] = ()
    stream: bool = False
    cache_marked: bool = False
    generates: bool = True  # False for embeddings: no output, no chunks
    input_tokens: int | None = None  # when the endpoint counts input itself


@dataclasses.dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    id_suffix: str
    arguments: str  # JSON text


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    attempt: int
    input_tokens: int  # all input, cache reads and writes included
    output_tokens: int  # all output sent, reasoning included
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    ttft_ms: float
    itl_ms: tuple[float, ...]  # gaps between consecutive content chunks (len = chunks - 1)
    pieces: tuple[str, ...]  # content of each chunk: text, or pieces of the tool call's JSON arguments
    tool: ToolCall | None
    finish: str  # stop | length | tool | content_filter | error
    failure: Failure | None
    hang_ms: float

    @property
    def chunks(self) -> int:
        return len(self.pieces)

    @property
    def total_ms(self) -> float:
        return self.ttft_ms + sum(self.itl_ms)

    @property
    def content(self) -> str:
        return "".join(self.pieces)

    @property
    def uncached_input_tokens(self) -> int:
        return self.input_tokens - self.cache_read_tokens - self.cache_write_tokens

    def due_ms(self) -> list[float]:
        """Time after the start at which each content chunk is due."""
        due, at = [], self.ttft_ms
        for gap in (0.0, *self.itl_ms):
            at += gap
            due.append(at)
        return due

    def header(self) -> str:
        itl: Any = list(self.itl_ms) if len(self.itl_ms) <= FULL_ITL_LIMIT else _summary(self.itl_ms)
        failure = dataclasses.asdict(self.failure) if self.failure else None
        truth = {
            "attempt": self.attempt,
            "ttft_ms": self.ttft_ms,
            "itl_ms": itl,
            "total_ms": round(self.total_ms, 1),
            "chunks": self.chunks,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "finish": self.finish,
            "tool_call": self.tool.name if self.tool else None,
            "fail": failure,
        }
        return json.dumps(truth, separators=(",", ":"))


def _summary(gaps: tuple[float, ...]) -> dict[str, float]:
    ordered = sorted(gaps)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    mean = round(sum(ordered) / len(ordered), 1)
    return {"n": len(ordered), "mean": mean, "p50": pick(0.5), "p95": pick(0.95), "max": ordered[-1]}


class _Draws:
    """Independent random streams, one per aspect of the plan."""

    def __init__(self, seed: int, key: bytes, attempt: int) -> None:
        self._base = hashlib.sha256(f"{seed}:{attempt}:".encode() + key).digest()

    def __call__(self, aspect: str) -> random.Random:
        return random.Random(hashlib.sha256(self._base + aspect.encode()).digest())


def make_plan(profile: Profile, seed: int, key: bytes, attempt: int, ask: Ask, directive: Directive) -> Plan:
    """Decide everything about one response. `key` identifies the request (e.g. path + body)."""
    model = profile.for_model(ask.model)
    draws = _Draws(seed, key, attempt)
    failure = _failure(draws("fail"), model, directive, attempt, ask)
    input_tokens = (
        directive.input_tokens or ask.input_tokens or text.count_tokens(ask.text, model.chars_per_token)
    )
    cache_read, cache_write = _cache(draws("cache"), model, directive, input_tokens, ask.cache_marked)
    filtered = failure is not None and failure.mode == "content_filter"
    tool = None if filtered or not ask.generates else _tool_call(draws("tool"), model, directive, ask.tools)
    if ask.generates:
        output, reasoning, finish = _length(draws("length"), model, directive, ask, tool)
        pieces, sizes = _content(draws("text"), model, directive, output - reasoning, tool)
        pieces, sizes, finish, failure = _cut(pieces, sizes, finish, failure, directive)
    else:
        reasoning, finish, pieces, sizes = 0, "stop", [], []
    ttft = directive.ttft_ms
    if ttft is None:
        ttft = model.ttft_ms.sample(draws("ttft")) * profile.time_scale
        ttft += reasoning / model.tokens_per_s * 1000 * profile.time_scale
    itl = _gaps(draws("itl"), model, directive, sizes, profile.time_scale)
    return Plan(
        attempt=attempt,
        input_tokens=input_tokens,
        output_tokens=sum(sizes) + reasoning,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
        ttft_ms=round(ttft, 1),
        itl_ms=tuple(round(gap, 1) for gap in itl),
        pieces=tuple(pieces),
        tool=tool,
        finish=finish,
        failure=failure,
        hang_ms=directive.hang_ms if directive.hang_ms is not None else model.hang_ms,
    )


_PROFILE_FAILURES = (
    ("rate_limit", "status", 429),
    ("server_error", "status", 500),
    ("timeout", "timeout", 0),
    ("content_filter", "content_filter", 0),
    ("midstream", "midstream", 500),
)


def _failure(
    rng: random.Random, model: ModelProfile, directive: Directive, attempt: int, ask: Ask
) -> Failure | None:
    if directive.fail is not None:
        entry = directive.fail[attempt] if attempt < len(directive.fail) else None
        failure = directive.failure_for(entry)
    else:
        failure, draw, edge = None, rng.random(), 0.0
        for field, mode, status in _PROFILE_FAILURES:
            edge += getattr(model.errors, field)
            if draw < edge:
                failure = Failure(mode, status)
                break
    if failure is not None and failure.mode == "midstream" and not ask.stream:
        return Failure("status", failure.status)  # a plain response has no middle to fail in
    if failure is not None and failure.mode == "content_filter" and not ask.generates:
        return None  # nothing generated, nothing to filter
    return failure


def _cache(
    rng: random.Random, model: ModelProfile, directive: Directive, input_tokens: int, marked: bool
) -> tuple[int, int]:
    if directive.cache_read_tokens is not None or directive.cache_write_tokens is not None:
        read = min(directive.cache_read_tokens or 0, input_tokens)
        return read, min(directive.cache_write_tokens or 0, input_tokens - read)
    cache = model.cache
    if input_tokens < cache.min_tokens or (cache.requires_marker and not marked):
        return 0, 0
    step = max(1, cache.granularity)
    if rng.random() < cache.hit_rate:
        return int(input_tokens * cache.read_fraction) // step * step, 0
    if rng.random() < cache.write_rate:
        return 0, int(input_tokens * cache.write_fraction) // step * step
    return 0, 0


def _tool_call(
    rng: random.Random, model: ModelProfile, directive: Directive, tools: tuple[Tool, ...]
) -> ToolCall | None:
    wanted = directive.tool_call
    if wanted is False or (wanted is None and (not tools or rng.random() >= model.tool_call_rate)):
        return None
    by_name = {tool.name: tool for tool in tools}
    tool = by_name.get(wanted, Tool(wanted)) if isinstance(wanted, str) else rng.choice(tools)
    arguments = json.dumps(text.tool_arguments(rng, tool.schema), separators=(",", ":"))
    return ToolCall(tool.name, f"{rng.getrandbits(96):024x}", arguments)


def _length(
    rng: random.Random, model: ModelProfile, directive: Directive, ask: Ask, tool: ToolCall | None
) -> tuple[int, int, str]:
    """(output tokens, reasoning tokens, finish)."""
    if directive.output_tokens is not None:
        output = directive.output_tokens
    elif tool is not None:
        output = text.count_tokens(tool.arguments, model.chars_per_token)
    else:
        output = max(1, round(model.output_tokens.sample(rng)))
    finish = "tool" if tool is not None else "stop"
    if tool is None and ask.max_tokens is not None and output > ask.max_tokens:
        output, finish = max(1, ask.max_tokens), "length"
    if directive.reasoning_tokens is not None:
        reasoning = directive.reasoning_tokens
    else:
        reasoning = round(output * model.reasoning_fraction)
    return output, min(reasoning, output - 1), finish


def _content(
    rng: random.Random, model: ModelProfile, directive: Directive, visible: int, tool: ToolCall | None
) -> tuple[list[str], list[int]]:
    per_chunk = directive.tokens_per_chunk or model.tokens_per_chunk
    if tool is None:
        sizes = text.split_tokens(visible, per_chunk)
        return text.text_pieces(rng, sizes), sizes
    pieces = text.split_text(tool.arguments, math.ceil(visible / max(1, per_chunk)))
    share, extra = divmod(visible, len(pieces))
    return pieces, [share + (1 if i < extra else 0) for i in range(len(pieces))]


def _cut(
    pieces: list[str], sizes: list[int], finish: str, failure: Failure | None, directive: Directive
) -> tuple[list[str], list[int], str, Failure | None]:
    """Truncate the content where a midstream error or a content filter stops it."""
    if failure is None or failure.mode not in ("midstream", "content_filter"):
        return pieces, sizes, finish, failure
    if failure.mode == "midstream":
        default, floor, finish = len(pieces) // 2, 0, "error"
    else:
        default, floor, finish = max(1, len(pieces) // 3), 1, "content_filter"
    wanted = directive.fail_after if directive.fail_after is not None else default
    keep = min(max(wanted, floor), len(pieces))
    return pieces[:keep], sizes[:keep], finish, dataclasses.replace(failure, after_chunks=keep)


def _gaps(
    rng: random.Random, model: ModelProfile, directive: Directive, sizes: list[int], scale: float
) -> list[float]:
    if directive.itl_ms is not None:
        gaps = [directive.itl_ms] * max(0, len(sizes) - 1)
    else:
        per_token = 1000.0 / max(model.tokens_per_s, 1e-3) * scale
        gaps = [
            size * per_token * (rng.lognormvariate(0.0, model.itl_jitter) if model.itl_jitter > 0 else 1.0)
            for size in sizes[1:]
        ]
        for i in range(len(gaps)):
            if model.stall.rate > 0 and rng.random() < model.stall.rate:
                gaps[i] += model.stall.ms.sample(rng) * scale
    if directive.stall_ms is not None and gaps:
        at = directive.stall_after if directive.stall_after is not None else len(gaps) // 2
        gaps[min(max(at, 0), len(gaps) - 1)] += directive.stall_ms
    return gaps
