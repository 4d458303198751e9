"""`tokentrail serve` and its decoding workers as real processes: the workers never outlive the server,
a dead worker is replaced while /healthz says so, and the server writes nothing but its store."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from support import free_port, make_request, make_span, wait_healthy

PB = {"content-type": "application/x-protobuf"}
LLM = {"gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 10}


@contextlib.contextmanager
def server(
    tmp_path: Path, *, tmpdir: Path, workers: int = 2, console: bool = False
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`serve` in a directory of its own, with HOME inside tmp_path and TMPDIR `tmpdir`, so stray files show;
    run as `python -m tokentrail`, or as the `tokentrail` console script that installing the package makes."""
    for sub in ("cwd", "home", "data"):
        (tmp_path / sub).mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(tmp_path / "home"), "TMPDIR": str(tmpdir)}
    port = free_port()
    start = (
        [str(Path(sys.executable).parent / "tokentrail")] if console else [sys.executable, "-m", "tokentrail"]
    )
    cmd = [*start, "serve", "--grpc-port", "0", "--db", str(tmp_path / "data" / "t.duckdb")]
    cmd += ["--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=tmp_path / "cwd", env=env, stdout=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A TMPDIR short enough for the fork server's socket (tmp_path under pytest-xdist is not)."""
    path = Path(tempfile.mkdtemp(prefix="tt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def send(url: str, span_id: int) -> httpx.Response:
    body = make_request([make_span(LLM, trace=7, span=span_id)]).SerializeToString()
    return httpx.post(f"{url}/v1/traces", content=body, headers=PB, timeout=60)


def stored_span_ids(url: str) -> list[str]:
    r = httpx.get(f"{url}/api/traces/{7:032x}", timeout=30)
    return sorted(s["span_id"] for s in r.json()["spans"]) if r.status_code == 200 else []


def test_workers_die_within_5s_of_a_sigkilled_server(tmp_path: Path, short_tmp: Path) -> None:
    with server(tmp_path, tmpdir=short_tmp) as (proc, _url):
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2  # the decoding workers (and multiprocessing's resource tracker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        _gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []


def healthz_reaches(url: str, status: int, deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if httpx.get(f"{url}/healthz", timeout=10).status_code == status:
            return True
        time.sleep(0.02)
    return False


def decoding_workers(pid: int) -> list[psutil.Process]:
    """The server's decoding workers: the children of multiprocessing's fork server (a child of the
    server), and any other child but its resource tracker."""
    found = []
    for child in psutil.Process(pid).children():
        if is_fork_server(child):
            found += child.children()
        elif "resource_tracker" not in " ".join(child.cmdline()):
            found.append(child)
    return found


def is_fork_server(process: psutil.Process) -> bool:
    return "multiprocessing.forkserver" in " ".join(process.cmdline())


def test_a_killed_worker_is_replaced_and_healthz_says_so_meanwhile(tmp_path: Path, short_tmp: Path) -> None:
    with server(tmp_path, tmpdir=short_tmp) as (proc, url):
        assert send(url, 1).status_code == 200
        victim = decoding_workers(proc.pid)[0]
        victim.kill()
        assert healthz_reaches(url, 503, 10)  # not 200 while the pool is broken
        assert healthz_reaches(url, 200, 60)  # new workers up
        assert [send(url, n).status_code for n in (2, 3)] == [200, 200]
        assert stored_span_ids(url) == [f"{n:016x}" for n in (1, 2, 3)]
        assert not victim.is_running() and victim not in decoding_workers(proc.pid)


def fork_server(pid: int) -> psutil.Process:
    (found,) = [c for c in psutil.Process(pid).children() if is_fork_server(c)]
    return found


def test_a_killed_fork_server_takes_its_workers_and_both_are_started_again(
    tmp_path: Path, short_tmp: Path
) -> None:
    with server(tmp_path, tmpdir=short_tmp) as (proc, url):
        assert send(url, 1).status_code == 200
        old, workers = fork_server(proc.pid), decoding_workers(proc.pid)
        old.kill()
        _gone, alive = psutil.wait_procs(workers, timeout=5)
        assert alive == []  # the kernel's parent-death signal: their forker is gone
        assert healthz_reaches(url, 503, 10)
        assert healthz_reaches(url, 200, 60)
        assert fork_server(proc.pid).pid != old.pid and len(decoding_workers(proc.pid)) == 2
        assert [send(url, n).status_code for n in (2, 3)] == [200, 200]
        assert stored_span_ids(url) == [f"{n:016x}" for n in (1, 2, 3)]


def test_serve_writes_nothing_but_its_store(tmp_path: Path, short_tmp: Path) -> None:
    with server(tmp_path, workers=1, tmpdir=short_tmp) as (proc, url):
        assert send(url, 1).status_code == 200
        assert httpx.get(f"{url}/", timeout=30).status_code == 200
    assert proc.returncode == 0  # SIGTERM: a requested stop, through the exit handlers
    made = {"cwd", "home", "data"}  # by server()
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.name not in made)
    assert written == ["data/t.duckdb"]
    assert list(short_tmp.iterdir()) == []  # the fork server's socket and its directory went with it


def test_a_tmpdir_too_long_for_the_fork_servers_socket_spawns_the_workers(tmp_path: Path) -> None:
    long_tmp = tmp_path / ("t" * 100)
    long_tmp.mkdir()
    with server(tmp_path, tmpdir=long_tmp) as (proc, url):
        assert [send(url, n).status_code for n in (1, 2)] == [200, 200]
        assert stored_span_ids(url) == [f"{n:016x}" for n in (1, 2)]
        assert not any(is_fork_server(c) for c in psutil.Process(proc.pid).children())
        assert len(decoding_workers(proc.pid)) == 2  # spawned: the server's own children


def maps_pandas(pid: int) -> bool:
    """Whether the process has loaded pandas' compiled libraries (what importing pandas maps)."""
    return f"{os.sep}pandas{os.sep}" in Path(f"/proc/{pid}/maps").read_text()


def test_the_collector_commits_and_answers_queries_without_loading_pandas(
    tmp_path: Path, short_tmp: Path
) -> None:
    # pyarrow imports pandas on its first conversion of Python values; in the server that was the first
    # commit, on the writer thread (~300 ms for the first request, ~28 MB held): store/pandas_free.py
    with server(tmp_path, tmpdir=short_tmp) as (proc, url):
        assert [send(url, n).status_code for n in (1, 2, 3)] == [200, 200, 200]
        assert stored_span_ids(url) == [f"{n:016x}" for n in (1, 2, 3)]
        processes = [proc.pid, *(p.pid for p in decoding_workers(proc.pid))]
        assert len(processes) == 3
        assert [maps_pandas(pid) for pid in processes] == [False, False, False]


def maps_library(pid: int, name: str) -> bool:
    return name in Path(f"/proc/{pid}/maps").read_text()


def test_workers_of_the_console_script_load_none_of_the_command_line(tmp_path: Path, short_tmp: Path) -> None:
    """A worker started by multiprocessing runs its parent's main script again unless told not to
    (ingest/workers.py::main_module_hidden); the `tokentrail` script imports the whole CLI, DuckDB and
    FastAPI with it."""
    with server(tmp_path, console=True, tmpdir=short_tmp) as (proc, url):
        assert send(url, 1).status_code == 200
        assert stored_span_ids(url) == [f"{1:016x}"]
        workers = [p.pid for p in decoding_workers(proc.pid)]
        assert len(workers) == 2
        assert maps_library(proc.pid, "_duckdb")  # the server has it: the check can see it
        assert [maps_library(pid, "_duckdb") for pid in workers] == [False, False]
        assert [maps_library(pid, "libarrow") for pid in workers] == [True, True]  # what decoding needs
