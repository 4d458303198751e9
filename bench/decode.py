"""Decoding cost: CPU µs per span of the collector's worker-side decode of OTLP/HTTP protobuf requests.

Method (printed with the results):
- The payloads of bench/ingest.py (realistic LLM spans, about 20 GenAI attributes each, unique ids),
  requests of 1, 100 and 500 spans.
- In one process, one request per call of the function a decoding worker runs for it
  (ingest/workers.py::traces_ipc: protobuf parse, normalise, price, sample decisions, Arrow table, IPC
  bytes), with a pipeline built as a worker builds it (the bundled prices, the default sampling policy).
- Each shape is decoded once to warm up, then repeatedly for about --seconds; the figure is the process
  CPU time (time.process_time) over the spans decoded, best of --repeats runs.
- --profile prints the top functions under cProfile for the 100-span shape instead.
Usage: python bench/decode.py [--seconds 2] [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from ingest import payloads
from tokentrail.ingest import otlp, workers
from tokentrail.ingest.pipeline import DEFAULT_MAX_SPANS, Pipeline, pricing_enricher
from tokentrail.pricing import load_prices
from tokentrail.samples.policy import Policy

SHAPES = (1, 100, 500)


def decode_all(bodies: list[bytes], policy: Policy) -> None:
    for body in bodies:
        workers.traces_ipc([(body, otlp.PROTOBUF)], policy)


def cpu_us_per_span(bodies: list[bytes], per: int, seconds: float, policy: Policy) -> float:
    """CPU µs per span over repeated passes of `bodies` lasting about `seconds`."""
    spans, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        decode_all(bodies, policy)
        spans += len(bodies) * per
    return (time.process_time() - start) / spans * 1e6


def profile(bodies: list[bytes], policy: Policy, sort: str = "tottime") -> None:
    decode_all(bodies[:1], policy)
    profiler = cProfile.Profile()
    profiler.runcall(decode_all, bodies, policy)
    pstats.Stats(profiler).sort_stats(sort).print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per shape and run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per shape; the best is printed")
    parser.add_argument("--profile", action="store_true", help="cProfile the 100-span shape")
    args = parser.parse_args()
    workers._worker = Pipeline(pricing_enricher(load_prices()), DEFAULT_MAX_SPANS)
    policy = Policy()
    if args.profile:
        profile(payloads(5_000, 100, seed=1), policy)
        return
    print(__doc__.split("Usage:")[0])
    for per in SHAPES:
        bodies = payloads(max(per, 500), per, seed=1)
        decode_all(bodies[:1], policy)
        best = min(cpu_us_per_span(bodies, per, args.seconds, policy) for _ in range(args.repeats))
        print(f"  {per:>3} span(s)/request: {best:6.1f} µs CPU per span (traces_ipc, best of {args.repeats})")


if __name__ == "__main__":
    main()
