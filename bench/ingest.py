"""Ingest benchmark: OTLP/HTTP protobuf spans *persisted* per second, and collector memory, for tokentrail and
Arize Phoenix, with the same payloads in the same run.

Method (printed with the results):
- Payloads are pre-encoded ExportTraceServiceRequests of realistic LLM spans (GenAI semconv attributes,
  about 20 per span, unique ids), so the client spends little CPU while measuring. As from a live
  BatchSpanProcessor, each request holds spans that started within the 30 s before it was sent.
- Each collector as its README starts it: `tokentrail serve` (the console script) with its defaults (OTLP/gRPC
  on too, on a free port rather than 4317), and Phoenix's `phoenix serve`.
- Three shapes, each on a fresh collector: 1-span requests from 16 keep-alive clients (as OpenTelemetry's
  SimpleSpanProcessor, or a BatchSpanProcessor under light load, sends them), 100-span requests from 4
  clients and 500-span requests from 4 clients. Each client is a thread with one keep-alive HTTP/1.1
  connection; it sends its next request when the previous one is answered, for at most --seconds (or until
  every payload is sent), and honours 429/503 Retry-After. Collectors and load generator share the
  machine's cores, so the clients write each request in one send and read only the status and headers
  (~0.03 cores at 700 requests/s; httpx took ~0.55 ms of CPU per request).
- tokentrail answers 200 only after commit, so acknowledged = persisted; the count is checked again in the
  DuckDB file after the server stops. Phoenix acknowledges before it writes, so its rate is measured from
  its SQLite database: spans present over the time until the last one appeared.
- First request: before the load, one request (the load's first payload) alone on a fresh connection to
  the collector that has only answered /healthz: the wall time the first export after a start waits.
- Memory: peak PSS (proportional set size: shared pages split between the processes that map them) of the
  collector process and its children, summed, sampled every 100 ms. tokentrail serve runs decoding worker
  processes, so RSS summed over them would count the shared libraries several times.

Phoenix lives in its own virtualenv (.venv-phoenix, created with `pip install arize-phoenix` when missing).
Usage: python bench/ingest.py [--spans 150000] [--mid-spans 60000] [--single 6000] [--seconds 40] [--no-phoenix]
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
import urllib.parse
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


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs pre-encoded bodies and reads the status and headers.

    The load generator shares the machine's two cores with the collector, so it must cost little: httpx
    spent ~0.55 ms of CPU per request, which alone capped one-span requests at ~1,800/s. This writes the
    request in one send and parses only the status line and headers it needs (Content-Length-framed answers,
    as both collectors send)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.path = parts.netloc, parts.path
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def post(self, body: bytes) -> tuple[int, dict[str, str]]:
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + body)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self.buffer += self.receive()
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if "content-length" not in headers:
            raise RuntimeError(f"answer without Content-Length: {lines[0]}")
        size = end + 4 + int(headers["content-length"])
        while len(self.buffer) < size:
            self.buffer += self.receive()
        self.buffer = self.buffer[size:]
        return int(lines[0].split()[1]), headers

    def receive(self) -> bytes:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the collector closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def drive(url: str, bodies: list[bytes], concurrency: int, budget_s: float) -> tuple[float, int, list[float]]:
    """Send bodies until all are sent or `budget_s` has passed; returns (seconds, retries, latencies in ms).

    The number of requests acknowledged is len(latencies)."""
    queue = list(reversed(bodies))
    stop_at = time.perf_counter() + budget_s
    lock, retries, latencies = threading.Lock(), [0], []

    def worker() -> None:
        # A request abandoned is not counted as sent: one whose answer stalls for the socket's timeout
        # (budget + 30 s), or one still refused 30 s after the budget.
        conn = Connection(url, budget_s + 30)
        try:
            while True:
                with lock:
                    if not queue or time.perf_counter() > stop_at:
                        return
                    body = queue.pop()
                while True:
                    t = time.perf_counter()
                    try:
                        status, headers = conn.post(body)
                    except OSError:  # timed out, or the collector went away
                        return
                    if status in (429, 503):
                        with lock:
                            retries[0] += 1
                        if time.perf_counter() > stop_at + 30:  # still refused 30 s after the budget
                            return
                        time.sleep(float(headers.get("retry-after", "0.2")))
                        continue
                    if status != 200:
                        raise RuntimeError(f"the collector answered {status}")
                    with lock:
                        latencies.append((time.perf_counter() - t) * 1000)
                    break
        finally:
            conn.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, retries[0], latencies


@contextlib.contextmanager
def tokentrail_server(workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    port, db = free_port(), workdir / "bench.duckdb"
    console = Path(sys.executable).parent / "tokentrail"  # as users start it, not `python -m tokentrail`
    cmd = [
        str(console),
        "serve",
        "--db",
        str(db),
        "--port",
        str(port),
        "--grpc-port",
        str(free_port()),  # on, as by default, on a free port (the default 4317 may be taken)
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


def first_request_ms(url: str, body: bytes) -> float:
    """One request alone on a fresh connection to a collector that has answered nothing but /healthz: what
    the first export after a start waits for. Counted with the load's requests."""
    conn = Connection(url, 60)
    try:
        started = time.perf_counter()
        status, _ = conn.post(body)
        if status != 200:
            raise RuntimeError(f"the collector answered the first request with {status}")
        return (time.perf_counter() - started) * 1000
    finally:
        conn.close()


def run_tokentrail(bodies: list[bytes], per: int, concurrency: int, budget_s: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        with tokentrail_server(Path(tmp)) as (url, proc, db):
            rss = RssSampler(proc.pid)
            first_ms = first_request_ms(f"{url}/v1/traces", bodies[0])
            seconds, retries, latencies = drive(f"{url}/v1/traces", bodies[1:], concurrency, budget_s)
            peak = rss.stop()
        import duckdb

        with duckdb.connect(str(db), read_only=True) as con:
            stored = int(con.execute("SELECT count(*) FROM spans").fetchone()[0])
    return {
        "sent": (len(latencies) + 1) * per,
        "persisted": stored,
        "seconds": seconds,
        "rate": stored / seconds,
        "rss_mb": peak / 2**20,
        "retries": retries,
        "p50_ms": statistics.median(latencies),
        "first_ms": first_ms,
    }


def run_phoenix(bodies: list[bytes], per: int, concurrency: int, budget_s: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, phoenix_server(Path(tmp)) as (url, proc, db):
        rss = RssSampler(proc.pid)
        start = time.perf_counter()
        first_ms = first_request_ms(f"{url}/v1/traces", bodies[0])
        accepted_s, retries, latencies = drive(f"{url}/v1/traces", bodies[1:], concurrency, budget_s)
        sent = (len(latencies) + 1) * per
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
        "first_ms": first_ms,
    }


def report(name: str, scenario: str, r: dict[str, float]) -> None:
    accepted = f", accepted {r['accepted_rate']:,.0f}/s" if "accepted_rate" in r else ""
    print(
        f"  {name:<10} {scenario:<22} persisted {int(r['persisted']):>7,}/{int(r['sent']):,} in "
        f"{r['seconds']:6.1f} s = {r['rate']:>8,.0f} spans/s{accepted}; peak PSS {r['rss_mb']:,.0f} MB; "
        f"first request {r['first_ms']:.0f} ms, then p50 {r['p50_ms']:.1f} ms; 429/503 retries {int(r['retries'])}",
        flush=True,
    )


def scenarios(args: argparse.Namespace) -> list[tuple[str, int, int, int]]:
    """(label, spans, spans per request, clients) for each shape measured."""
    return [
        (f"1 span/req x{args.single_clients}", args.single, 1, args.single_clients),
        (f"100 spans/req x{args.concurrency}", args.mid_spans, 100, args.concurrency),
        (f"{args.batch} spans/req x{args.concurrency}", args.spans, args.batch, args.concurrency),
    ]


def summary(
    results: dict[tuple[str, str], dict[str, float]], shapes: list[tuple[str, int, int, int]]
) -> None:
    names = sorted({name for name, _ in results}, reverse=True)
    print("\nsummary (persisted spans/s; peak PSS of the collector's process tree):")
    for label, _, _, _ in shapes:
        cells = [
            f"{n} {results[n, label]['rate']:>8,.0f}/s {results[n, label]['rss_mb']:>5,.0f} MB" for n in names
        ]
        print(f"  {label:<22} " + "   ".join(cells))
    for n in names:
        peak = max(r["rss_mb"] for (name, _), r in results.items() if name == n)
        print(f"  {n} peak PSS over all shapes: {peak:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=150_000, help="spans in the large-batch shape")
    parser.add_argument("--batch", type=int, default=500, help="spans per request in the large-batch shape")
    parser.add_argument("--mid-spans", type=int, default=60_000, help="spans in the 100-span shape")
    parser.add_argument("--single", type=int, default=6_000, help="requests in the single-span shape")
    parser.add_argument("--single-clients", type=int, default=16, help="clients in the single-span shape")
    parser.add_argument("--concurrency", type=int, default=4, help="clients in the batched shapes")
    parser.add_argument(
        "--seconds", type=float, default=40, help="most seconds of load per collector and shape"
    )
    parser.add_argument("--no-phoenix", action="store_true")
    args = parser.parse_args()
    print(__doc__.split("Phoenix lives")[0])
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB\n")
    shapes = scenarios(args)
    results: dict[tuple[str, str], dict[str, float]] = {}
    for label, spans, per, clients in shapes:
        bodies = payloads(spans, per, seed=1)
        results["tokentrail", label] = run_tokentrail(bodies, per, clients, args.seconds)
        report("tokentrail", label, results["tokentrail", label])
        if not args.no_phoenix:
            bodies = payloads(spans, per, seed=2)
            results["phoenix", label] = run_phoenix(bodies, per, clients, args.seconds)
            report("phoenix", label, results["phoenix", label])
    summary(results, shapes)


if __name__ == "__main__":
    main()
