"""The partial_success message names tied corrections in the order they were found, whatever the hash seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
# One span with four corrections, each counted once: a tie broken by the order they were found.
SCRIPT = f"""
import datetime as dt, math, sys
sys.path.insert(0, {str(TESTS)!r})
from support import make_request, make_span
from tokentrail.ingest.spans import request_to_calls
bad = {{"gen_ai.usage.input_tokens": math.inf, "gen_ai.usage.output_tokens": math.nan}}
span = make_span(bad, start=dt.datetime(2100, 1, 1))
print(request_to_calls(make_request([span]), dt.datetime(2026, 12, 4))[1].message())
"""


def message(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_tied_corrections_are_named_in_the_order_found_under_any_hash_seed() -> None:
    messages = {message(seed) for seed in ("0", "1", "2", "3", "4", "5")}
    assert messages == {
        "accepted with corrections: gen_ai.usage.input_tokens not a finite number in range, dropped (1), "
        "gen_ai.usage.output_tokens not a finite number in range, dropped (1), "
        "start time over a day in the future set to the time received (1), "
        "end time over a day in the future set to the start (1)"
    }
