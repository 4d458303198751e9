"""The simulator profile of the demo: the packaged default profile (realistic TTFT, decode speed, output
lengths and caching per model), with every sampled duration scaled down so a week of traffic runs in a minute.

Two changes besides the scale: OpenAI models stream ~5 tokens per chunk instead of 1 (parsing a chunk costs
the openai client ~0.3 ms of CPU, which the demo's two cores cannot spare for thousands of calls), and a rare
long stall between chunks, so stall detection has something to find. Writing it to a file lets the simulator
run as its own process (``tokentrail simulate --profile <file>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

TIME_SCALE: Final = 0.1
"""Simulated durations are this fraction of real ones (a 400 ms TTFT takes 40 ms)."""

PROFILE_TOML: Final = """\
# tokentrail demo profile: the default profile, time-scaled (written by `tokentrail demo`).
extends = "default"
time_scale = {time_scale}

[defaults]
tokens_per_chunk = 5         # models that do not set their own (the OpenAI ones)

[defaults.stall]
rate = 0.002                 # chance per inter-chunk gap of a long stall
ms = {{ median = 900, sigma = 0.4 }}
"""


def write_profile(folder: Path, time_scale: float = TIME_SCALE) -> Path:
    path = folder / "demo_profile.toml"
    path.write_text(PROFILE_TOML.format(time_scale=time_scale), encoding="utf-8")
    return path


def scale_text(time_scale: float = TIME_SCALE) -> str:
    """How the scale reads on screen, e.g. '1/10 of real'."""
    inverse = 1 / time_scale
    return f"1/{inverse:.0f} of real" if abs(inverse - round(inverse)) < 1e-9 else f"{time_scale:g}x real"
