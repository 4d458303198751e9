"""Ingest benchmark: OTLP/HTTP protobuf spans *persisted* per second, and collector memory, for tokentrail and
Arize Phoenix, with the same payloads in the same run.

Method (printed with the results):
- Payloads are pre-encoded ExportTraceServiceRequests of realistic LLM spans (GenAI semconv attributes,
  about 20 per span, unique ids), so the client spends little CPU while measuring. As from a live
  BatchSpanProcessor, each request holds spans that started within the 30 s before it was sent.
- Each collector runs as its own process on loopback; the load generator sends with N threads for at most
  --seconds (or until every payload is sent) and honours 429/503 Retry-After. Both share the machine's cores with the load generator.
- tokentrail answers 200 only after commit, so acknowledged = persisted; the count is checked again in the
  DuckDB file after the server stops. Phoenix acknowledges before it writes, so its rate is measured from
  its SQLite database: spans present over the time until the last one appeared.
- Memory: peak PSS (proportional set size: shared pages split between the processes that map them) of the
  collector process and its children, summed, sampled every 100 ms. tokentrail serve runs decoding worker
  processes, so RSS summed over them would count the shared libraries several times.

Phoenix lives in its own virtualenv (.venv-phoenix, created with `pip install arize-phoenix` when missing).
Usage: python bench/ingest.py [--spans 150000] [--batch 500] [--single 2000] [--concurrency 4] [--no-phoenix]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

ROOT = Path(__file__).resolve().parent.parent
PHOENIX_VENV = ROOT / ".venv-phoenix"
FEATURES = ["search", "chat", "summarise", "classify", "extract"]
MODELS = [
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("aws.bedrock", "amazon.nova-lite-v1:0"),
]


def kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def llm_span(rng: random.Random, now_ns: int) -> Span:
    """A span that started up to 30 s before `now_ns`, as in a batch a BatchSpanProcessor sends."""
    provider, model = rng.choice(MODELS)
    start = now_ns - rng.randint(0, 30_000_000_000)
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.response.id": f"resp-{rng.getrandbits(48):x}",
        "gen_ai.usage.input_tokens": rng.randint(50, 5000),
        "gen_ai.usage.output_tokens": rng.randint(5, 800),
        "gen_ai.usage.cache_read.input_tokens": rng.randint(0, 40),
        "gen_ai.request.stream": True,
        "gen_ai.response.finish_reasons": "stop",
        "server.address": "api.example.com",
        "tokentrail.ttft_ms": rng.uniform(80, 900),
        "tokentrail.chunks": rng.randint(5, 200),
        "tokentrail.itl.p50_ms": rng.uniform(5, 30),
        "tokentrail.itl.p95_ms": rng.uniform(20, 90),
        "tokentrail.itl.max_ms": rng.uniform(50, 400),
        "tokentrail.attempts": 1,
        "tokentrail.feature": rng.choice(FEATURES),
        "tokentrail.tenant": f"tenant-{rng.randint(1, 300)}",
        "tokentrail.app": "shop",
        "tokentrail.environment": "prod",
        "tokentrail.prompt_version": "v3",
    }
    span = Span(
        trace_id=rng.getrandbits(128).to_bytes(16, "big"),
        span_id=rng.getrandbits(64).to_bytes(8, "big"),
        name=f"chat {model}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=start + rng.randint(200, 5000) * 1_000_000,
    )
    span.attributes.extend(kv(k, v) for k, v in attrs.items())
    return span


def payloads(total_spans: int, per_request: int, seed: int) -> list[bytes]:
    """Requests in time order, each holding spans of the last seconds before its send time (as live traffic)."""
    rng, requests = random.Random(seed), total_spans // per_request
    begin = time.time_ns() - requests * 20_000_000  # one request per 20 ms of simulated time, ending now
    out = []
    for k in range(requests):
        now_ns = begin + k * 20_000_000
        rs = ResourceSpans()
        rs.resource.attributes.extend(
            [kv("service.name", "bench"), kv("openinference.project.name", "bench")]
        )
        rs.scope_spans.append(ScopeSpans(spans=[llm_span(rng, now_ns) for _ in range(per_request)]))
        out.append(ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString())
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 120) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"collector exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} not healthy after {deadline_s} s")


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.proc, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _rss(self) -> int:
        """PSS summed over the process tree: shared pages counted once, split between their users."""
        procs = [self.proc, *self.proc.children(recursive=True)]
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                total += p.memory_full_info().pss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self._rss())
            self._stop.wait(0.1)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def drive(url: str, bodies: list[bytes], concurrency: int, budget_s: float) -> tuple[float, int, list[float]]:
    """Send bodies until all are sent or `budget_s` has passed; returns (seconds, retries, latencies in ms).

    The number of requests acknowledged is len(latencies)."""
    queue = list(reversed(bodies))
    stop_at = time.perf_counter() + budget_s
    lock, retries, latencies = threading.Lock(), [0], []
    headers = {"content-type": "application/x-protobuf"}

    clients: list[httpx.Client] = []

    def worker() -> None:
        # A request still unanswered 30 s after the budget is abandoned (and not counted as sent): the
        # watchdog below closes the clients, since a peer that reads slowly never trips a read timeout.
        with httpx.Client(timeout=budget_s + 30) as client:
            clients.append(client)
            while True:
                with lock:
                    if not queue or time.perf_counter() > stop_at:
                        return
                    body = queue.pop()
                while True:
                    t = time.perf_counter()
                    try:
                        r = client.post(url, content=body, headers=headers)
                    except (httpx.HTTPError, RuntimeError):  # timed out, or closed by the watchdog
                        return
                    if r.status_code in (429, 503):
                        with lock:
                            retries[0] += 1
                        time.sleep(float(r.headers.get("retry-after", "0.2")))
                        continue
                    r.raise_for_status()
                    with lock:
                        latencies.append((time.perf_counter() - t) * 1000)
                    break

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    watchdog = threading.Timer(budget_s + 30, lambda: [c.close() for c in list(clients)])
    watchdog.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    watchdog.cancel()
    return time.perf_counter() - start, retries[0], latencies


@contextlib.contextmanager
def tokentrail_server(workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    port, db = free_port(), workdir / "bench.duckdb"
    cmd = [
        sys.executable,
        "-m",
        "tokentrail",
        "serve",
        "--db",
        str(db),
        "--port",
        str(port),
        "--grpc-port",
        "0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        yield f"http://127.0.0.1:{port}", proc, db
    finally:
        proc.terminate()
        proc.wait(30)


def ensure_phoenix() -> Path:
    exe = PHOENIX_VENV / "bin" / "phoenix"
    if not exe.exists():
        print("installing arize-phoenix into .venv-phoenix ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PHOENIX_VENV)], check=True)
        subprocess.run([str(PHOENIX_VENV / "bin" / "pip"), "install", "-q", "arize-phoenix"], check=True)
    return exe


@contextlib.contextmanager
def phoenix_server(workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    port = free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(free_port()),
        "PHOENIX_HOST": "127.0.0.1",
    }
    proc = subprocess.Popen(
        [str(ensure_phoenix()), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        yield f"http://127.0.0.1:{port}", proc, workdir / "phoenix.db"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # still busy writing its backlog
            proc.kill()
            proc.wait(30)


def phoenix_count(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
        try:
            return int(con.execute("SELECT count(*) FROM spans").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def wait_persisted(
    db: Path, expected: int, start: float, idle_s: float = 10, cap_s: float = 300
) -> tuple[int, float]:
    """Poll Phoenix's database until every span is there or nothing new appears for idle_s."""
    last, last_change = -1, time.perf_counter()
    while time.perf_counter() - start < cap_s:
        n = phoenix_count(db)
        if n != last:
            last, last_change = n, time.perf_counter()
        if n >= expected or time.perf_counter() - last_change > idle_s:
            break
        time.sleep(0.1)
    return last, last_change - start


def run_tokentrail(bodies: list[bytes], per: int, concurrency: int, budget_s: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        with tokentrail_server(Path(tmp)) as (url, proc, db):
            rss = RssSampler(proc.pid)
            seconds, retries, latencies = drive(f"{url}/v1/traces", bodies, concurrency, budget_s)
            peak = rss.stop()
        import duckdb

        with duckdb.connect(str(db), read_only=True) as con:
            stored = int(con.execute("SELECT count(*) FROM spans").fetchone()[0])
    return {
        "sent": len(latencies) * per,
        "persisted": stored,
        "seconds": seconds,
        "rate": stored / seconds,
        "rss_mb": peak / 2**20,
        "retries": retries,
        "p50_ms": statistics.median(latencies),
    }


def run_phoenix(bodies: list[bytes], per: int, concurrency: int, budget_s: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, phoenix_server(Path(tmp)) as (url, proc, db):
        rss = RssSampler(proc.pid)
        start = time.perf_counter()
        accepted_s, retries, latencies = drive(f"{url}/v1/traces", bodies, concurrency, budget_s)
        sent = len(latencies) * per
        stored, seconds = wait_persisted(db, sent, start, cap_s=budget_s * 3)
        peak = rss.stop()
    return {
        "sent": sent,
        "persisted": stored,
        "seconds": seconds,
        "rate": stored / max(seconds, 1e-9),
        "accepted_rate": sent / accepted_s,
        "rss_mb": peak / 2**20,
        "retries": retries,
        "p50_ms": statistics.median(latencies),
    }


def report(name: str, scenario: str, r: dict[str, float]) -> None:
    accepted = f", accepted {r['accepted_rate']:,.0f}/s" if "accepted_rate" in r else ""
    print(
        f"  {name:<10} {scenario:<22} persisted {int(r['persisted']):>7,}/{int(r['sent']):,} in "
        f"{r['seconds']:6.1f} s = {r['rate']:>8,.0f} spans/s{accepted}; peak PSS {r['rss_mb']:,.0f} MB; "
        f"request p50 {r['p50_ms']:.1f} ms; 429/503 retries {int(r['retries'])}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=150_000, help="spans in the batched scenario")
    parser.add_argument("--batch", type=int, default=500, help="spans per request in the batched scenario")
    parser.add_argument("--single", type=int, default=2_000, help="requests in the single-span scenario")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--seconds", type=float, default=60, help="most seconds of load per collector and scenario"
    )
    parser.add_argument("--no-phoenix", action="store_true")
    args = parser.parse_args()
    print(__doc__.split("Phoenix lives")[0])
    print(
        f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
        f"concurrency {args.concurrency}\n"
    )
    scenarios = [(f"{args.batch} spans/request", args.spans, args.batch), ("1 span/request", args.single, 1)]
    results: dict[tuple[str, str], dict[str, float]] = {}
    for label, spans, per in scenarios:
        bodies = payloads(spans, per, seed=1)
        results["tokentrail", label] = run_tokentrail(bodies, per, args.concurrency, args.seconds)
        report("tokentrail", label, results["tokentrail", label])
        if not args.no_phoenix:
            bodies = payloads(spans, per, seed=2)
            results["phoenix", label] = run_phoenix(bodies, per, args.concurrency, args.seconds)
            report("phoenix", label, results["phoenix", label])
    if not args.no_phoenix:
        print("\nratio (tokentrail / Phoenix, persisted spans per second):")
        for label, _, _ in scenarios:
            t, p = results["tokentrail", label], results["phoenix", label]
            print(
                f"  {label:<22} {t['rate'] / max(p['rate'], 1e-9):6.1f}x   memory {t['rss_mb']:.0f} vs {p['rss_mb']:.0f} MB"
            )


if __name__ == "__main__":
    main()
