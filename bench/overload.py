"""Overload benchmark: twice the measured capacity, offered open-loop; the collector sheds the excess at
once with 429 + Retry-After, its memory stays bounded, and its throughput recovers afterwards.

Method (printed with the results):
- Capacity: --clients closed-loop clients (each waits for its answer, and honours Retry-After) for
  --measure-seconds; capacity = spans acknowledged per second. Each request holds --spans-per-request
  LLM spans; every request gets fresh ids (an 8-byte prefix of its trace ids is rewritten per send).
- Overload: requests started at a fixed rate worth 2x the capacity for --seconds, by a pool of
  --senders threads, without retrying. Counted: 200s (and their latency), 503/429 with and without
  Retry-After, anything else. Memory: peak PSS of the server and its workers, sampled every 100 ms.
- Recovery: the closed-loop clients again for --measure-seconds.
- Control: ingest slows as the store grows (the duplicate check's key index), so recovery is also compared
  with a second, fresh server that was first filled by the closed-loop clients to the same number of spans
  (no overload), then measured the same way. recovered / control isolates what the overload left behind.
- Memory's baseline: the peak at capacity, or, when higher, the control server's peak while it is filled to
  the same number of spans without overload (the duplicate check's key index and DuckDB's cache grow with
  the spans stored, so a run that measures a higher capacity stores more under overload): what overload
  itself adds is what the bound is about.
Required: the excess answered 429/503 with Retry-After (no other error), peak memory under overload
within the printed bound (1.5x the baseline + 100 MB), recovered throughput >= 80 % of control.

Usage: python bench/overload.py [--seconds 60] [--measure-seconds 15] [--workers 2] [--clients 4]
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import itertools
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

from ingest import RssSampler, free_port, llm_span, wait_healthy

PB = {"content-type": "application/x-protobuf"}
MARK = b"\xfe\xed\xfa\xce\xde\xad\xbe\xef"


class Bodies:
    """Request templates whose trace ids start with MARK; each `next()` gets a unique prefix instead."""

    def __init__(self, rng: random.Random, templates: int, per_request: int) -> None:
        self._templates = []
        for _ in range(templates):
            spans = [llm_span(rng, time.time_ns()) for _ in range(per_request)]
            for span in spans:
                span.trace_id = MARK + span.trace_id[8:]
            rs = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
            self._templates.append(ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString())
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> bytes:
        with self._lock:
            n = next(self._counter)
        return self._templates[n % len(self._templates)].replace(MARK, n.to_bytes(8, "big"))


def closed_loop(
    url: str, bodies: Bodies, clients: int, per_request: int, seconds: float, until_spans: int = 0
) -> tuple[int, float]:
    """Spans acknowledged, and the seconds taken, by `clients` clients that wait for each answer; they stop
    after `seconds`, or once `until_spans` are acknowledged when that is given."""
    done, lock, end = [0], threading.Lock(), time.perf_counter() + seconds

    def more() -> bool:
        return done[0] < until_spans if until_spans else time.perf_counter() < end

    def run() -> None:
        with httpx.Client(timeout=60) as http:
            while more():
                r = http.post(f"{url}/v1/traces", content=bodies.next(), headers=PB)
                if r.status_code == 200:
                    with lock:
                        done[0] += per_request
                else:
                    time.sleep(float(r.headers.get("retry-after", "0.2")))

    start = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0], time.perf_counter() - start


def open_loop(
    url: str, bodies: Bodies, rate: float, seconds: float, senders: int
) -> tuple[collections.Counter[str], list[float]]:
    """Start `rate` requests per second for `seconds`, whatever the answers; no retries."""
    outcomes: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def send() -> None:
        if not hasattr(local, "http"):
            local.http = httpx.Client(timeout=60)
        t = time.perf_counter()
        try:
            r = local.http.post(f"{url}/v1/traces", content=bodies.next(), headers=PB)
            key = str(r.status_code)
            if r.status_code in (429, 503):
                key += " with Retry-After" if "retry-after" in r.headers else " WITHOUT Retry-After"
        except httpx.HTTPError as exc:
            key = type(exc).__name__
        with lock:
            outcomes[key] += 1
            if key == "200":
                latencies.append((time.perf_counter() - t) * 1000)

    with concurrent.futures.ThreadPoolExecutor(senders) as pool:
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send)
    return outcomes, latencies


@contextlib.contextmanager
def serving(workers: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `tokentrail serve` on a fresh store and a free port."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        cmd = [sys.executable, "-m", "tokentrail", "serve", "--grpc-port", "0"]
        cmd += ["--db", str(Path(tmp) / "o.duckdb")]
        proc = subprocess.Popen(
            [*cmd, "--port", str(port), "--workers", str(workers)], stdout=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(f"{url}/healthz", proc)
            yield url, proc
        finally:
            proc.terminate()
            proc.wait(60)


def rate(spans_and_seconds: tuple[int, float]) -> float:
    spans, seconds = spans_and_seconds
    return spans / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--measure-seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--senders", type=int, default=64)
    parser.add_argument("--spans-per-request", type=int, default=200)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    print(__doc__.split("Usage:")[0])
    bodies = Bodies(random.Random(args.seed), 50, args.spans_per_request)
    per, measure = args.spans_per_request, args.measure_seconds
    with serving(args.workers) as (url, proc):
        sampler = RssSampler(proc.pid)
        first = closed_loop(url, bodies, args.clients, per, measure)
        at_capacity = sampler.stop()
        capacity = rate(first)
        sampler = RssSampler(proc.pid)
        outcomes, latencies = open_loop(url, bodies, 2 * capacity / per, args.seconds, args.senders)
        overloaded = sampler.stop()
        recovered = rate(closed_loop(url, bodies, args.clients, per, measure))
    stored_before = first[0] + outcomes["200"] * per
    with serving(args.workers) as (url, control_proc):
        sampler = RssSampler(control_proc.pid)
        closed_loop(url, bodies, args.clients, per, 3600, until_spans=stored_before)
        filled = sampler.stop()
        control = rate(closed_loop(url, bodies, args.clients, per, measure))
    memory = (at_capacity, overloaded, filled)
    report(args, capacity, outcomes, latencies, memory, (recovered, control, stored_before))


def report(
    args: argparse.Namespace,
    capacity: float,
    outcomes: collections.Counter[str],
    latencies: list[float],
    memory: tuple[float, float, float],
    after: tuple[float, float, int],
) -> None:
    (at_capacity, overloaded, filled), (recovered, control, stored) = memory, after
    bound = 1.5 * max(at_capacity, filled) + 100e6
    shed = sum(v for k, v in outcomes.items() if k.endswith("with Retry-After"))
    other = sum(v for k, v in outcomes.items() if k != "200" and not k.endswith("with Retry-After"))
    print(
        f"capacity: {capacity:,.0f} spans/s ({args.clients} closed-loop clients, {args.spans_per_request} spans/request)"
    )
    print(
        f"overload: {2 * capacity / args.spans_per_request:,.1f} requests/s (2x) for {args.seconds:g} s: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
    )
    if latencies:
        q = statistics.quantiles(latencies, n=100)
        print(f"  accepted latency ms: p50 {q[49]:.0f}  p99 {q[98]:.0f}  max {max(latencies):.0f}")
    print(
        f"memory (PSS, server + workers): peak at capacity {at_capacity / 1e6:.0f} MB, under overload"
        f" {overloaded / 1e6:.0f} MB; control filled to the same spans without overload {filled / 1e6:.0f} MB;"
        f" bound {bound / 1e6:.0f} MB"
    )
    print(
        f"recovered: {recovered:,.0f} spans/s ({recovered / capacity:.0%} of the capacity on the empty store)"
    )
    print(f"control (fresh server filled to {stored:,} spans, no overload): {control:,.0f} spans/s")
    print(f"recovered / control: {recovered / control:.0%}")
    ok = shed > 0 and other == 0 and overloaded <= bound and recovered >= 0.8 * control
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
