"""The sampling policy: TOML parsing, TraceIdRatioBased compatibility, keep rules and the per-minute cap."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased

from tokentrail.model import Call
from tokentrail.samples.policy import Policy, PolicyError, RateCap, decide, load, parse, trace_sampled

EXAMPLE = """
default_rate = 0.05
keep_errors = true
keep_if = { latency_ms = 20000, ttft_ms = 5000, cost_usd = 0.50 }
max_per_minute = 600
[[rule]]
feature = "triage"
rate = 1.0
"""


def call(trace_id: str = "0" * 32, **fields: object) -> Call:
    return Call(trace_id=trace_id, span_id="1" * 16, **fields)  # type: ignore[arg-type]


def test_the_issue_example_parses() -> None:
    policy = parse(EXAMPLE)
    assert policy.default_rate == 0.05 and policy.keep_errors and policy.max_per_minute == 600
    assert policy.keep_if.cost_usd == 0.5 and policy.rule[0].feature == "triage"
    assert policy.rate_for(call(feature="triage")) == 1.0 and policy.rate_for(call(feature="x")) == 0.05


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.2, 0.5, 0.999, 1.0])
def test_rate_decision_matches_opentelemetry_trace_id_ratio_based(rate: float) -> None:
    sampler = TraceIdRatioBased(rate)
    rng = random.Random(7)
    for _ in range(2000):
        trace_id = rng.getrandbits(128)
        expected = sampler.should_sample(None, trace_id, "x").decision is Decision.RECORD_AND_SAMPLE
        assert trace_sampled(f"{trace_id:032x}", rate) is expected


def test_keep_reasons() -> None:
    policy = parse(EXAMPLE)
    never = "f" * 32  # the largest lower 64 bits: never in a rate's share below 1
    assert decide(policy, call(never, status="error")) == "error"
    assert decide(policy, call(never, duration_ms=20_000.0)) == "latency"
    assert decide(policy, call(never, ttft_ms=6_000.0)) == "ttft"
    assert decide(policy, call(never, cost_usd=0.75)) == "cost"
    assert decide(policy, call(never, duration_ms=19_999.0, cost_usd=0.1)) is None
    assert decide(policy, call(never, feature="triage")) == "rate"  # rate 1.0 keeps every trace
    assert decide(policy, call("0" * 32, feature="other")) == "rate"
    off = parse("keep_errors = false\ndefault_rate = 0")
    assert decide(off, call(never, status="error")) is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("default_rate = 2", "default_rate: Input should be less than or equal to 1"),
        ("[[rule]]\nfeature = 'x'", "rule.0.rate: Field required"),
        ("sample_rate = 0.1", "sample_rate: Extra inputs are not permitted"),
        ("default_rate = ", "sampling policy: Invalid value"),
        ("[redact]\npatterns = { BAD = '(' }", "missing ), unterminated subpattern"),
        ("[redact]\npatterns = { lower = 'x' }", "must be upper case"),
    ],
)
def test_bad_policies_say_where(text: str, needle: str) -> None:
    with pytest.raises(PolicyError, match=None) as info:
        parse(text)
    assert needle in str(info.value)


def test_load_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the sampling policy"):
        load(tmp_path / "missing.toml")
    path = tmp_path / "p.toml"
    path.write_text(EXAMPLE)
    assert load(path) == parse(EXAMPLE)


def test_defaults_without_a_file() -> None:
    policy = Policy()
    assert (policy.default_rate, policy.keep_errors, policy.max_per_minute) == (0.05, True, 600)


def test_rate_cap_per_minute() -> None:
    now = [0.0]
    cap = RateCap(clock=lambda: now[0])
    assert cap.allow(4, 5) == 4
    assert cap.allow(4, 5) == 1
    assert cap.allow(1, 5) == 0
    now[0] = 60.0
    assert cap.allow(7, 5) == 5


def test_serve_refuses_a_bad_policy_file(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    bad = tmp_path / "p.toml"
    bad.write_text("default_rate = 2\n[[rule]]\nfeature = '[red]x'\n")
    cmd = [
        sys.executable,
        "-m",
        "tokentrail",
        "serve",
        "--grpc-port",
        "0",
        "--db",
        str(tmp_path / "x.duckdb"),
        "--sampling",
        str(bad),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert out.returncode == 2
    assert f"{bad}: default_rate: Input should be less than or equal to 1" in " ".join(out.stderr.split())
    assert "rule.0.rate: Field required" in out.stderr
