"""Estimate a cluster's ingest rate from one collector's measured per-core rate.

How it is derived:
  1. Per-core rate R (spans per CPU-second of decoding: protobuf → normalise → price → Arrow, the work a
     `tokentrail serve` worker process does per span). Either given (`--per-core-rate`, e.g. the
     spans/s of one worker in a `bench/ingest.py` run divided by its cores), or measured here: the real
     `Pipeline.traces` over OTLP requests of `--batch` GenAI spans, timed with this thread's CPU time
     (not wall time, so a busy machine lowers the count of runs, not the rate).
  2. Collectors: C collectors x K decoding cores each, at efficiency E (default 0.8: the server process,
     HTTP/gRPC handling and the writer take the rest) → collector capacity = R x K x C x E.
  3. ClickHouse: each shard takes the inserts for its share of trace ids; a shard's insert capacity S
     (rows/s; default 200,000, a conservative figure for wide rows in batches of a few hundred, to be
     replaced by a measurement on your hardware) x shards. Replicas copy parts; they add no write
     capacity but cost network and disk.
  4. The cluster's estimate is the smaller of the two, and the script says which side limits it.
It is an estimate from a formula, not a measurement of a cluster.
"""

from __future__ import annotations

import argparse
import time

from tokentrail.ingest import otlp
from tokentrail.ingest.pipeline import Pipeline, pricing_enricher
from tokentrail.pricing import load_prices


def request_body(batch: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
    }
    for i in range(batch):
        span = spans.add(trace_id=(i // 4 + 1).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"))
        span.name, span.start_time_unix_nano = "chat gpt-4o", 1_763_726_400_000_000_000 + i * 1_000_000
        span.end_time_unix_nano = span.start_time_unix_nano + 800_000_000
        span.attributes.extend(KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attrs.items())
        span.attributes.add(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=900 + i))
        span.attributes.add(key="gen_ai.usage.output_tokens", value=AnyValue(int_value=120))
    return bytes(request.SerializeToString())


def measure_per_core(batch: int, seconds: float) -> float:
    pipeline = Pipeline(pricing_enricher(load_prices(None)))
    body, spans, cpu = request_body(batch), 0, 0.0
    while cpu < seconds:
        start = time.thread_time()
        table, _, _ = pipeline.traces(body, otlp.PROTOBUF)
        cpu += time.thread_time() - start
        spans += table.num_rows
    return spans / cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-core-rate", type=float, help="spans per CPU-second (else measured here)")
    parser.add_argument("--collectors", type=int, default=3)
    parser.add_argument("--cores", type=int, default=4, help="decoding cores per collector")
    parser.add_argument("--efficiency", type=float, default=0.8)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--shard-rows-per-s", type=float, default=200_000)
    parser.add_argument("--batch", type=int, default=200, help="spans per OTLP request when measuring")
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU-seconds to measure for")
    args = parser.parse_args()
    rate = args.per_core_rate or measure_per_core(args.batch, args.seconds)
    source = "given" if args.per_core_rate else f"measured here, {args.seconds:g} CPU-s of Pipeline.traces"
    collectors = rate * args.cores * args.collectors * args.efficiency
    storage = args.shards * args.shard_rows_per_s
    print(f"per-core rate R     {rate:>12,.0f} spans/CPU-s ({source})")
    print(
        f"collectors          {collectors:>12,.0f} spans/s = R x {args.cores} cores x "
        f"{args.collectors} collectors x {args.efficiency:g} efficiency"
    )
    print(
        f"ClickHouse inserts  {storage:>12,.0f} rows/s = {args.shards} shards x {args.shard_rows_per_s:,.0f} (assumed)"
    )
    limit = "collectors" if collectors < storage else "ClickHouse shards"
    print(f"cluster estimate    {min(collectors, storage):>12,.0f} spans/s, limited by the {limit}")


if __name__ == "__main__":
    main()
