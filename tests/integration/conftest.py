"""Real servers on loopback: `tokentrail serve` as a subprocess, the simulator in a thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support import collector_process
from tokentrail.simulator import SimulatorServer


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[str]:
    with collector_process(tmp_path / "it.duckdb", "--workers", "1") as url:
        yield url


@pytest.fixture(scope="module")
def simulator() -> Iterator[str]:
    with SimulatorServer(seed=3) as sim:
        yield sim.url
