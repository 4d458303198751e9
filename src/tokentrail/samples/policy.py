"""The sampling policy: which calls' content is kept, decided at the collector.

A TOML file (``tokentrail serve --sampling FILE`` or ``TOKENTRAIL_SAMPLING``) or ``PUT /api/sampling``::

    default_rate = 0.05
    keep_errors = true
    keep_if = { latency_ms = 20000, ttft_ms = 5000, cost_usd = 0.50 }
    max_per_minute = 600
    [[rule]]
    feature = "triage"
    rate = 1.0
    [redact]
    patterns = { ORDER_ID = "ORD-[0-9]{6}" }
    deny = ["Project Falcon"]

A call is kept when it failed (``keep_errors``), when it is at or above a ``keep_if`` threshold, or when its
trace is in the rate's share: the first ``[[rule]]`` whose labels all match sets the rate, else
``default_rate``. The rate decision is OpenTelemetry's TraceIdRatioBased (the trace id's lower 64 bits below
``round(rate * 2**64)``), so every span of a trace is kept or dropped together, by any collector or SDK that
samples the same way. ``max_per_minute`` caps the samples written per minute, whatever kept them; when it
must drop some, those kept only by the rate go before errors and threshold breaches.
"""

from __future__ import annotations

import re
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pydantic

from tokentrail.exceptions import InputError
from tokentrail.model import Call

TRACE_ID_LIMIT = (1 << 64) - 1
Rate = Annotated[float, pydantic.Field(ge=0.0, le=1.0)]


class PolicyError(InputError):
    """A policy file or body that cannot be used (the message says where)."""


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Strict):
    latency_ms: float | None = 20_000.0
    ttft_ms: float | None = 5_000.0
    cost_usd: float | None = 0.50


class Rule(_Strict):
    app: str | None = None
    feature: str | None = None
    tenant: str | None = None
    rate: Rate

    def matches(self, call: Call) -> bool:
        wanted = (self.app, call.app), (self.feature, call.feature), (self.tenant, call.tenant)
        return all(want is None or want == have for want, have in wanted)


class Redaction(_Strict):
    patterns: dict[str, str] = {}
    """Your own entity types: name -> regular expression (placeholders ``<NAME_1>``, ...)."""
    deny: list[str] = []
    """Terms replaced wherever they appear, ignoring case (placeholders ``<DENY_1>``, ...)."""

    @pydantic.field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: dict[str, str]) -> dict[str, str]:
        for name, pattern in patterns.items():
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
                raise ValueError(f"pattern name {name!r} must be upper case letters, digits and _")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {name}: {exc}") from None
        return patterns


class Policy(_Strict):
    default_rate: Rate = 0.05
    keep_errors: bool = True
    keep_if: Thresholds = Thresholds()
    max_per_minute: Annotated[int, pydantic.Field(ge=0)] = 600
    rule: list[Rule] = []
    redact: Redaction = Redaction()

    def rate_for(self, call: Call) -> float:
        for rule in self.rule:
            if rule.matches(call):
                return rule.rate
        return self.default_rate


def trace_sampled(trace_id: str, rate: float) -> bool:
    """TraceIdRatioBased: the lower 64 bits of the trace id below ``round(rate * 2**64)``."""
    try:
        low = int(trace_id, 16) & TRACE_ID_LIMIT
    except ValueError:
        return False
    return low < round(rate * (TRACE_ID_LIMIT + 1))


def decide(policy: Policy, call: Call) -> str | None:
    """Why the call's content is kept (error, latency, ttft, cost, rate), or None to drop it."""
    if policy.keep_errors and call.status == "error":
        return "error"
    limits = policy.keep_if
    for reason, value, limit in (
        ("latency", call.duration_ms, limits.latency_ms),
        ("ttft", call.ttft_ms, limits.ttft_ms),
        ("cost", call.cost_usd, limits.cost_usd),
    ):
        if value is not None and limit is not None and value >= limit:
            return reason
    return "rate" if trace_sampled(call.trace_id, policy.rate_for(call)) else None


def parse(text: str, where: str = "sampling policy") -> Policy:
    try:
        return Policy.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{where}: {exc}") from None
    except pydantic.ValidationError as exc:
        raise PolicyError(f"{where}: {describe(exc)}") from None


def load(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read the sampling policy {path}: {exc.strerror}") from None
    return parse(text, str(path))


def describe(exc: pydantic.ValidationError) -> str:
    """A validation error as one line per problem: where, then what."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'policy'}: {e['msg']}" for e in exc.errors(include_url=False)
    )


class RateCap:
    """At most `per_minute` samples in each minute of the clock (a fixed window)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._minute = -1
        self._used = 0

    def allow(self, wanted: int, per_minute: int) -> int:
        """How many of `wanted` samples may be written now (and count them as written)."""
        minute = int(self._clock() // 60)
        if minute != self._minute:
            self._minute, self._used = minute, 0
        granted = max(0, min(wanted, per_minute - self._used))
        self._used += granted
        return granted
