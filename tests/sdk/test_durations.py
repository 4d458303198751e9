"""A call's stored duration is what the application waited for it: from entering the SDK's public method
(``create``, ``messages.create``, ``converse``) until it returned, or for a stream until the stream was
exhausted, the first call of a process included (each case runs in a fresh process: `duration_app.py`).

Not a speed test: the recorded interval lies inside the one the application measured around the call, so
the stored duration can never exceed it (checked exactly), and may fall short only by the few statements
between the application's clock and the SDK's public method (checked within 5 ms). A process descheduled in
exactly that gap can miss the 5 ms; such a run is repeated, at most twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tokentrail.simulator import SimulatorServer

from .conftest import Collector, wait_for

APP = Path(__file__).with_name("duration_app.py")
TOLERANCE_MS = 5.0
CASES = [
    (sdk, mode, first)
    for sdk in ("openai", "anthropic", "bedrock")
    for mode in ("sync", "async")
    for first in ("plain", "stream")
    if not (sdk == "bedrock" and mode == "async")  # boto3 is sync only
]


class Gap(AssertionError):
    """The application waited more than the tolerance longer than recorded."""


def run_app(sim: str, collector: Collector, spool: Path, case: tuple[str, str, str]) -> list[tuple[Any, ...]]:
    """(kind, waited ms, stored duration_ms, stored stream flag) per call, in order."""
    run_id = uuid.uuid4().hex
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENTRAIL_", "PYTEST_"))}
    environ |= {"TOKENTRAIL_ENDPOINT": collector.url, "TOKENTRAIL_SPOOL_DIR": str(spool)}
    args = [sys.executable, str(APP), sim, *case, run_id]
    done = subprocess.run(args, env=environ, capture_output=True, text=True, timeout=120, check=True)
    out = json.loads(done.stdout)
    assert "tokentrail-spans" in out["threads"], out  # started by instrument(), not by the first call
    assert out["late_modules"] == [], out  # imported by instrument(), not during the calls
    sql = "SELECT duration_ms, stream FROM spans WHERE kind = 'llm' AND feature = ? ORDER BY start_time"
    rows: list[tuple[Any, ...]] = []

    def arrived() -> bool:
        rows[:] = collector.store.query(sql, [run_id]).rows
        return len(rows) >= len(out["kinds"])

    wait_for(arrived)
    return [
        (kind, waited, *row) for kind, waited, row in zip(out["kinds"], out["waited_ms"], rows, strict=True)
    ]


def check(calls: list[tuple[Any, ...]]) -> None:
    for number, (kind, waited, duration, stream) in enumerate(calls):
        assert stream == (kind == "stream"), calls
        assert duration <= waited + 0.001, f"call {number} recorded longer than the app waited: {calls}"
        if waited - duration > TOLERANCE_MS:
            raise Gap(
                f"call {number} ({kind}): app waited {waited:.2f} ms, stored {duration:.2f} ms: {calls}"
            )


@pytest.mark.parametrize("case", CASES, ids=["-".join(case) for case in CASES])
def test_stored_duration_is_what_the_app_waited(
    sim_server: SimulatorServer, collector: Collector, tmp_path: Path, case: tuple[str, str, str]
) -> None:
    for attempt in range(3):
        try:
            check(run_app(sim_server.url, collector, tmp_path / "spool", case))
            return
        except Gap:
            if attempt == 2:
                raise
