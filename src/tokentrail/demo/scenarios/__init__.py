"""The demo's scenarios, in the order their progress bars appear. Each module's `plan` returns scenarios
whose sessions have start times in the past and labels; the runner executes them."""

from __future__ import annotations

from tokentrail.demo.scenarios import devtools, experiments, saas, sales, storms, support
from tokentrail.demo.scenarios.base import PlanContext, Scenario, Session
from tokentrail.demo.scenarios.saas import STORY_FEATURE, STORY_TENANT

__all__ = ["STORY_FEATURE", "STORY_TENANT", "PlanContext", "Scenario", "Session", "plan_all"]


def plan_all(ctx: PlanContext) -> list[Scenario]:
    scenarios: list[Scenario] = []
    for module in (support, sales, devtools, saas, experiments, storms):
        scenarios.extend(module.plan(ctx))
    return scenarios
