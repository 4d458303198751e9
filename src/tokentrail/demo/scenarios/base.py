"""What a scenario is: a title, the labels its application carries, and sessions (one conversation, one agent
run, one batch) each with a start time in the past and a function that makes its calls."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from tokentrail.demo.profile import TIME_SCALE
from tokentrail.demo.providers import Providers
from tokentrail.demo.timeshift import Calendar

SessionFn = Callable[[Providers, random.Random], None]

EVERY_LABEL: Final = (
    "app",
    "feature",
    "tenant",
    "team",
    "cost_center",
    "environment",
    "experiment",
    "variant",
    "prompt_version",
)  # fmt: skip: the labels every demo call carries
OWN_TENANT: Final = "internal"  # the organisation's own tenant, for its internal tools
BASELINE_VARIANT: Final = "control"

TENANTS: Final = (
    "globex", "initech", "umbrella", "hooli", "stark-industries", "wayne-enterprises", "wonka", "cyberdyne",
    "soylent", "tyrell", "aperture", "black-mesa", "massive-dynamic", "vandelay", "oscorp", "pied-piper",
    "dunder-mifflin", "sterling-cooper", "prestige-worldwide", "bluth-company", "gringotts", "monsters-inc",
    "nakatomi", "gekko-co", "duff", "krusty-krab", "los-pollos", "acme", "buy-n-large", "virtucon",
)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    start: dt.datetime
    run: SessionFn
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    slow: bool = False  # several calls, waits or retries: queued early, so the run does not end on it


@dataclasses.dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    labels: Mapping[str, str]  # the application's labels, set for every session
    sessions: list[Session]


@dataclasses.dataclass(frozen=True, slots=True)
class PlanContext:
    """What planning needs: the calendar, a seeded random source and the size factor."""

    calendar: Calendar
    rng: random.Random
    scale: float

    def count(self, n: int, minimum: int = 1) -> int:
        """`n` scaled by the size factor, at least `minimum`."""
        return max(minimum, round(n * self.scale))


def baseline(feature: str) -> dict[str, str]:
    """Experiment and variant of a feature that no A/B test is running on: the control arm of the feature's
    standing baseline, so every call has an arm and a later test compares against the same control."""
    return {"experiment": f"{feature}-baseline", "variant": BASELINE_VARIANT}


def prompt(name: str, version: str) -> dict[str, str]:
    return {"prompt_name": name, "prompt_version": version}


def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1 / (rank**s) for rank in range(1, n + 1)]


def pick_tenant(rng: random.Random, tenants: Sequence[str] = TENANTS, s: float = 1.1) -> str:
    """A tenant drawn Zipf-like: the first is the biggest, the last few send a trickle."""
    return rng.choices(tenants, zipf_weights(len(tenants), s))[0]


def work(rng: random.Random, low_ms: float, high_ms: float) -> None:
    """Application time between calls (a tool, a user typing), time-scaled like the simulator."""
    time.sleep(rng.uniform(low_ms, high_ms) / 1000 * TIME_SCALE)
