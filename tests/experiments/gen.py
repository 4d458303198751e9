"""Generated experiments with known effects, written as Calls through the store's real write path."""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np

from tokentrail.model import Call

START = dt.datetime(2026, 11, 1)
LATENCY_SIGMA = (
    0.6  # log-sd of latency; the variant multiplies latency, so every quantile moves by the factor
)


def experiment_calls(
    name: str,
    n: int,
    *,
    variants: tuple[str, str] = ("control", "B"),
    share_b: float = 0.5,
    slower: float = 1.15,
    error_rates: tuple[float, float] = (0.02, 0.03),
    users: int | None = None,
    seed: int = 0,
    days: int = 14,
) -> list[Call]:
    """n calls split between two variants, the second `slower` (latency, TTFT) and with its own error rate;
    with `users`, each call belongs to one of that many users, who are randomised to a variant."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, n) if users else np.arange(n)
    is_b = (rng.random(users or n) < share_b)[user]
    factor = np.where(is_b, slower, 1.0)
    latency = rng.lognormal(6.5, LATENCY_SIGMA, n) * factor
    failed = rng.random(n) < np.where(is_b, error_rates[1], error_rates[0])
    offsets = rng.uniform(0, days * 86400, n)
    return [
        _call(name, i, variants[int(is_b[i])], f"u{user[i]}", latency[i], bool(failed[i]), START, offsets[i])
        for i in range(n)
    ]


def _call(
    name: str,
    i: int,
    variant: str,
    user: str,
    latency: float,
    failed: bool,
    start: dt.datetime,
    offset: float,
) -> Call:
    output_tokens = 50 + i % 200
    return Call(
        trace_id=f"{zlib.crc32(name.encode()) & 0xFFFF:04x}{i + 1:028x}",
        span_id=f"{i + 1:016x}",
        kind="llm",
        name="chat",
        start_time=start + dt.timedelta(seconds=float(offset)),
        duration_ms=float(latency),
        ttft_ms=float(latency) / 4,
        output_tokens_per_s=output_tokens / (float(latency) / 1000),
        input_tokens=200 + i % 100,
        output_tokens=output_tokens,
        cost_usd=(200 + i % 100) * 1e-6 + output_tokens * 4e-6,
        status="error" if failed else "ok",
        error_class="throttled" if failed else None,
        http_status=429 if failed else 200,
        experiment=name,
        variant=variant,
        user_id=user,
        source="sdk",
    )
