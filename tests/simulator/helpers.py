"""Helpers shared by the simulator tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tokentrail.simulator import PLAN_HEADER, Profile

# The default profile with every sampled duration at 2 %: a 400 ms TTFT becomes 8 ms.
FAST = Profile.default().scaled(0.02)
# Measured TTFT may exceed the plan by loopback, parsing and scheduling; never undercut it.
TTFT_SLACK_MS = 150.0


def steer(**directive: Any) -> dict[str, str]:
    """Request headers carrying a simulator directive."""
    return {"x-tokentrail-sim": json.dumps(directive)}


def plan_of(headers: Any) -> dict[str, Any]:
    """The simulator's truth header, parsed."""
    plan: dict[str, Any] = json.loads(headers[PLAN_HEADER])
    return plan


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll `condition` until it holds, failing after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.01)


def assert_ttft(measured_ms: float, plan: dict[str, Any]) -> None:
    assert plan["ttft_ms"] <= measured_ms <= plan["ttft_ms"] + TTFT_SLACK_MS, (measured_ms, plan["ttft_ms"])
