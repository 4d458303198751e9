"""The demo's two helper processes: the collector (``tokentrail serve``) and the provider simulator
(``tokentrail simulate``). Separate processes spread the work over the cores instead of sharing one GIL.

Each runs in its own session, so a Ctrl-C in the terminal reaches only the demo, which then stops them
(SIGINT, then SIGKILL after a deadline). Their output goes to a log file; when one fails to start, the
error shows the log's last lines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from tokentrail.demo.options import HOST, DemoError

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class Service:
    """One subprocess, its log file and its health URL."""

    def __init__(self, name: str, args: list[str], health_url: str, log_path: Path) -> None:
        self.name = name
        self.health_url = health_url
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tokentrail", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )

    def wait_healthy(self, deadline: float) -> None:
        """Poll the health URL until it answers 200; fail with the log's tail if the process dies or hangs."""
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise DemoError(f"the {self.name} exited at start (code {self.process.returncode})")
                try:
                    if client.get(self.health_url).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        raise DemoError(f"the {self.name} did not answer {self.health_url} within {START_TIMEOUT_S:.0f} s")

    def log_tail(self, lines: int = 12) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGINT, then SIGKILL if stuck. SIGINT rather than SIGTERM: after a graceful shutdown uvicorn
        re-raises the signal, and only SIGINT (KeyboardInterrupt) lets ``serve`` close its store cleanly."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        self._log.close()


def start_collector(db: Path, port: int, workdir: Path) -> Service:
    args = ["serve", "--db", str(db), "--host", HOST, "--port", str(port), "--workers", "0"]
    args += ["--grpc-port", "0"]  # the demo needs no OTLP/gRPC; leave 4317 to a real collector
    return Service("collector", args, f"http://{HOST}:{port}/healthz", workdir / "collector.log")


def start_simulator(port: int, profile: Path, seed: int, workdir: Path) -> Service:
    args = ["simulate", "--host", HOST, "--port", str(port), "--profile", str(profile), "--seed", str(seed)]
    return Service("simulator", args, f"http://{HOST}:{port}/health", workdir / "simulator.log")


def wait_all(services: list[Service]) -> None:
    """Wait for every service to be healthy; on failure say which and show its log."""
    deadline = time.monotonic() + START_TIMEOUT_S
    for service in services:
        try:
            service.wait_healthy(deadline)
        except DemoError as exc:
            tail = service.log_tail()
            raise DemoError(f"{exc}\n{tail}" if tail else str(exc)) from None
