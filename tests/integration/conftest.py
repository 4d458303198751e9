"""Real servers on loopback: `tokentrail serve` as a subprocess, the simulator in a thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support import collector_process, free_port
from tokentrail.simulator import SimulatorServer


@pytest.fixture
def grpc_port() -> int:
    return free_port()


@pytest.fixture
def collector(tmp_path: Path, grpc_port: int) -> Iterator[str]:
    """`tokentrail serve` with one decoding worker, OTLP/HTTP at the URL yielded, OTLP/gRPC on grpc_port."""
    with collector_process(tmp_path / "it.duckdb", "--workers", "1", grpc_port=grpc_port) as url:
        yield url


@pytest.fixture(scope="module")
def simulator() -> Iterator[str]:
    with SimulatorServer(seed=3) as sim:
        yield sim.url
