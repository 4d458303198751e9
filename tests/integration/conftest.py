"""Real servers on loopback: `tokentrail serve` as a subprocess, the simulator in a thread."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import free_port, wait_healthy
from tokentrail.simulator import SimulatorServer


@contextlib.contextmanager
def collector_process(db: Path, *extra: str) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "tokentrail", "serve", "--db", str(db), "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[str]:
    with collector_process(tmp_path / "it.duckdb", "--workers", "1") as url:
        yield url


@pytest.fixture(scope="module")
def simulator() -> Iterator[str]:
    with SimulatorServer(seed=3) as sim:
        yield sim.url
