"""Soak benchmark: `tokentrail serve` SIGKILLed again and again under load; nothing acknowledged is lost and
nothing is stored twice.

Method (printed with the results):
- --clients threads each send their own pre-built OTLP protobuf requests (--spans-per-request LLM spans
  with unique ids) one after the other. A request that is not answered 200 (connection refused or reset,
  timeout, 503) is sent again, the same bytes, until it is: as an OTLP exporter retries.
- Meanwhile the collector is killed with SIGKILL --kills times, each after a random 0.5-3 s of load,
  and started again at once on the same port and store. Restart time = from the kill to /healthz 200.
  After each kill the old server's processes (decoding workers included) are checked to be gone.
- At the end the server is stopped and the DuckDB file read: acknowledged spans missing from it are
  lost; rows beyond the distinct (trace_id, span_id) pairs are duplicates.
Required: 0 lost, 0 duplicates, no leaked process.

Usage: python bench/soak.py [--kills 20] [--clients 4] [--spans-per-request 100] [--workers 2] [--seed 7]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import httpx
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

from ingest import free_port, llm_span, wait_healthy

PB = {"content-type": "application/x-protobuf"}


def build_requests(rng: random.Random, count: int, per_request: int) -> list[tuple[bytes, list[str]]]:
    """Protobuf bodies and the span ids (trace:span hex) each one carries."""
    out = []
    for _ in range(count):
        spans = [llm_span(rng, time.time_ns()) for _ in range(per_request)]
        request = ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
        )
        out.append((request.SerializeToString(), [f"{s.trace_id.hex()}:{s.span_id.hex()}" for s in spans]))
    return out


class Server:
    """`tokentrail serve` on one port and one store, restarted after each kill."""

    def __init__(self, db: Path, workers: int) -> None:
        self.db, self.port, self.workers = db, free_port(), workers
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "tokentrail",
            "serve",
            "--grpc-port",
            "0",
            "--db",
            str(self.db),
            "--port",
            str(self.port),
        ]
        self.proc = subprocess.Popen([*cmd, "--workers", str(self.workers)], stdout=subprocess.DEVNULL)
        wait_healthy(f"{self.url}/healthz", self.proc)

    def kill(self) -> list[psutil.Process]:
        """SIGKILL the server; returns its child processes, which must die with it."""
        assert self.proc is not None
        children = psutil.Process(self.proc.pid).children(recursive=True)
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        return children

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)


def client(
    url: str, requests: list[tuple[bytes, list[str]]], acked: list[str], stop: threading.Event
) -> None:
    with httpx.Client(timeout=30) as http:
        for body, ids in requests:
            while not stop.is_set():
                with contextlib.suppress(httpx.TransportError):
                    if http.post(f"{url}/v1/traces", content=body, headers=PB).status_code == 200:
                        acked.extend(ids)
                        break
                time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--spans-per-request", type=int, default=100)
    parser.add_argument("--requests-per-client", type=int, default=0, help="default: enough for the kills")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    per_client = args.requests_per_client or max(50, args.kills * 25)
    print(__doc__.split("Usage:")[0])
    work = [build_requests(rng, per_client, args.spans_per_request) for _ in range(args.clients)]
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "soak.duckdb", args.workers)
        server.start()
        acked: list[str] = []
        stop = threading.Event()
        threads = [threading.Thread(target=client, args=(server.url, w, acked, stop)) for w in work]
        for t in threads:
            t.start()
        restarts, leaked = [], 0
        for _ in range(args.kills):
            time.sleep(rng.uniform(0.5, 3.0))
            t = time.perf_counter()
            children = server.kill()
            server.start()
            restarts.append(time.perf_counter() - t)
            _gone, alive = psutil.wait_procs(children, timeout=5)
            leaked += len(alive)
        for t in threads:
            t.join(timeout=600)
        stop.set()
        server.stop()
        con = duckdb.connect(str(server.db), read_only=True)
        rows = con.execute("SELECT trace_id || ':' || span_id FROM spans").fetchall()
    stored = [r[0] for r in rows]
    lost = len(set(acked) - set(stored))
    duplicates = len(stored) - len(set(stored))
    print(f"kills: {args.kills}   clients: {args.clients}   spans per request: {args.spans_per_request}")
    print(
        f"acknowledged spans: {len(acked)}   stored: {len(stored)}   lost: {lost}   duplicates: {duplicates}"
    )
    print(
        f"restart to healthy (s): min {min(restarts):.2f}  median {statistics.median(restarts):.2f}  "
        f"max {max(restarts):.2f}"
        if restarts
        else "no restarts"
    )
    print(f"processes left behind by killed servers: {leaked}")
    ok = lost == 0 and duplicates == 0 and leaked == 0
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
