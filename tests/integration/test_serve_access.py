"""`tokentrail serve` as a real process: no open non-loopback bind, the Host check, keys over the wire."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner

from support import collector_process, free_port
from tokentrail.cli import app as cli


def test_serve_refuses_a_non_loopback_bind_without_a_key(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "tokentrail",
        "serve",
        "--grpc-port",
        "0",
        "--db",
        str(tmp_path / "o.duckdb"),
        "--host",
        "0.0.0.0",
    ]
    done = subprocess.run([*cmd, "--port", str(free_port())], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "no key configured" in done.stderr and "--insecure" in done.stderr


def test_real_server_checks_host_and_keys(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    made = CliRunner().invoke(cli, ["keys", "create", "reader", "--scopes", "read", "--db", str(db)])
    token = made.output.strip().splitlines()[-1]
    with collector_process(db, "--workers", "0") as url:
        port = url.rsplit(":", 1)[1]
        assert httpx.get(f"{url}/api/calls").status_code == 401
        assert httpx.get(f"{url}/api/calls", headers={"authorization": f"Bearer {token}"}).status_code == 200
        rebound = httpx.get(f"{url}/api/calls", headers={"host": f"attacker.example:{port}"})
        assert rebound.status_code == 421
        assert httpx.get(f"http://localhost:{port}/healthz").status_code == 200
