"""Real servers on loopback: `tokentrail serve` as a subprocess, the simulator in a thread."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tokentrail.simulator import SimulatorServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy within {deadline_s} s")


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
