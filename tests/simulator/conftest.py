"""Fixtures for the simulator tests: one simulator on loopback for the session, cleared before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tokentrail.simulator import SimulatorServer

from .helpers import FAST


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimulatorServer]:
    with SimulatorServer(profile=FAST, seed=7) as server:
        yield server


@pytest.fixture
def sim(sim_server: SimulatorServer) -> SimulatorServer:
    sim_server.clear()
    return sim_server
