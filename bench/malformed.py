"""Malformed-input benchmark: a corpus of bad OTLP requests against a real `tokentrail serve`.

Method (printed with the results):
- The corpus is generated from a seed: --requests (default 10,000) requests spread over the classes below,
  each class weighted by its cost (a request of a million span events costs more than a truncated one).
  Most requests also carry one valid span with unique ids, so a request refused whole loses it and a
  request answered 200 must have stored it (unless partial_success says it was rejected).
- They are sent by --concurrency threads, each request with a 60 s timeout (no answer in time = a hang),
  to `tokentrail serve` with TOKENTRAIL_MAX_BODY_BYTES=16 MiB, so oversize bodies stay cheap to send.
- After each class the server must still answer /healthz. At the end the server is stopped and the spans
  stored are counted in the DuckDB file: they must be exactly the valid spans acknowledged.
Required: no 5xx, no hang, the server up, stored = acknowledged valid spans.

Usage: python bench/malformed.py [--requests 10000] [--concurrency 4] [--workers 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import base64
import collections
import gzip
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from ingest import free_port, kv, llm_span, wait_healthy

MAX_BODY = 16 * 1024 * 1024
PB = {"content-type": "application/x-protobuf"}
JS = {"content-type": "application/json"}
Case = tuple[str, bytes, dict[str, str], int]  # path, body, headers, spans stored if answered 200


def usable_spans(body: bytes) -> int:
    """How many spans with usable ids a protobuf body holds, decoded here (0 when it does not decode)."""
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except Exception:
        return 0
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    return sum(
        len(s.trace_id) == 16 and any(s.trace_id) and len(s.span_id) == 8 and any(s.span_id) for s in spans
    )


class Corpus:
    """Builds bad requests; every span it makes has fresh ids."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def span(self) -> Span:
        return llm_span(self.rng, time.time_ns())

    def request(self, *spans: Span) -> ExportTraceServiceRequest:
        return ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
        )

    def pb(self, *spans: Span) -> bytes:
        return bytes(self.request(*spans).SerializeToString())

    def json_of(self, *spans: Span) -> dict:
        from google.protobuf import json_format

        data = json_format.MessageToDict(self.request(*spans), use_integers_for_enums=True)
        for span in data["resourceSpans"][0]["scopeSpans"][0]["spans"]:
            for key in ("traceId", "spanId"):
                span[key] = base64.b64decode(span[key]).hex()
        return data

    # -- one method per class: returns a Case ----------------------------------------------------------
    def truncated_protobuf(self) -> Case:
        body = self.pb(self.span(), self.span())
        cut = body[: self.rng.randrange(1, len(body) - 1)]
        return "/v1/traces", cut, PB, usable_spans(cut)  # a cut at a field boundary may still decode

    def random_protobuf(self) -> Case:
        body = self.rng.randbytes(self.rng.randrange(1, 4000))
        return "/v1/traces", body, PB, usable_spans(body)

    def wrong_types(self) -> Case:
        data = self.json_of(self.span())
        span = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        key, value = self.rng.choice(
            [
                ("startTimeUnixNano", True),
                ("attributes", "x"),
                ("name", 5),
                ("kind", "CLIENTX"),
                ("status", []),
                ("events", {"a": 1}),
                ("endTimeUnixNano", -5),
                ("attributes", [1, 2]),
            ]
        )
        span[key] = value  # some of these OTLP JSON decoding tolerates (the span is then stored): 1 if 200
        return "/v1/traces", json.dumps(data).encode(), JS, 1

    def invalid_utf8(self) -> Case:
        if self.rng.random() < 0.5:
            return "/v1/traces", b'{"resourceSpans": [{"x": "\xff\xfe\xc3"}]}', JS, 0
        span = self.span()
        body = self.pb(span).replace(span.name.encode(), b"\xff\xfe" + span.name.encode()[2:], 1)
        return "/v1/traces", body, PB, usable_spans(body)

    def bad_ids(self) -> Case:
        good, bad = self.span(), self.span()
        bad.trace_id = self.rng.choice([b"", b"\0" * 16, b"\1" * 15, b"\1" * 17])
        if self.rng.random() < 0.5:
            return "/v1/traces", self.pb(good, bad), PB, 1  # the bad one rejected in partial_success
        data = self.json_of(good)
        data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = self.rng.choice(
            ["zz", "0x12", "1"]
        )
        return "/v1/traces", json.dumps(data).encode(), JS, 0

    def gzip_bomb(self) -> Case:
        if self.rng.random() < 0.5:
            return (
                "/v1/traces",
                gzip.compress(b"\0" * (MAX_BODY + 1024), 9),
                {**PB, "content-encoding": "gzip"},
                0,
            )
        return (
            "/v1/traces",
            b"\x1f\x8b\x08\x00" + self.rng.randbytes(64),
            {**PB, "content-encoding": "gzip"},
            0,
        )

    def oversize(self) -> Case:
        return "/v1/traces", b"\0" * (MAX_BODY + 1), PB, 0

    def deep_nesting(self) -> Case:
        levels = self.rng.choice([20, 100, 300, 1000, 5000])
        value = '{"arrayValue": {"values": [' * levels + '{"stringValue": "x"}' + "]}}" * levels
        text = json.dumps(self.json_of(self.span())).replace(
            '"attributes": [', '"attributes": [{"key": "deep", "value": ' + value + "}, ", 1
        )
        path = self.rng.choice(["/v1/traces", "/v1/metrics"])
        if path == "/v1/metrics":
            return path, text.replace("resourceSpans", "resourceMetrics").encode(), JS, 0
        return path, text.encode(), JS, 1 if levels <= 300 else 0

    def huge_attributes(self) -> Case:
        span = self.span()
        if self.rng.random() < 0.5:
            span.attributes.extend(kv(f"extra.{i}", i) for i in range(self.rng.randrange(2000, 20000)))
        else:
            span.attributes.append(kv("big", "x" * self.rng.randrange(20_000, 2_000_000)))
        return "/v1/traces", self.pb(span), PB, 1

    def non_finite(self) -> Case:
        data = self.json_of(self.span())
        attrs = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
        key = self.rng.choice(
            ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "tokentrail.ttft_ms"]
        )
        value = self.rng.choice(
            [
                {"doubleValue": "Infinity"},
                {"doubleValue": "-Infinity"},
                {"doubleValue": "NaN"},
                {"doubleValue": 1e308},
                {"stringValue": "99999999999999999999"},
                {"intValue": "99999999999999999999"},
            ]
        )
        attrs.insert(0, {"key": key, "value": value})
        carried = 0 if "intValue" in value else 1  # an int64 out of range is not OTLP: 400
        return "/v1/traces", json.dumps(data).encode(), JS, carried

    def times_out_of_range(self) -> Case:
        span = self.span()
        choice = self.rng.randrange(3)
        if choice == 0:
            span.start_time_unix_nano = span.end_time_unix_nano = 2**64 - 1
        elif choice == 1:
            span.end_time_unix_nano = span.start_time_unix_nano - 10**12  # end before start
        else:
            span.start_time_unix_nano, span.end_time_unix_nano = 1, 2**63
        return "/v1/traces", self.pb(span), PB, 1

    def many_events(self) -> Case:
        span = self.span()
        count = self.rng.choice([10_000, 100_000, 1_000_000])
        span.events.extend(Span.Event(name="e", time_unix_nano=i) for i in range(count))
        return "/v1/traces", self.pb(span), PB, 1

    def too_many_spans(self) -> Case:
        spans = [
            Span(trace_id=self.rng.randbytes(16), span_id=self.rng.randbytes(8), name="s")
            for _ in range(50_001)
        ]
        return "/v1/traces", self.pb(*spans), PB, 0

    def wrong_media(self) -> Case:
        headers = self.rng.choice([{"content-type": "text/plain"}, {**PB, "content-encoding": "br"}, {}])
        return "/v1/traces", self.pb(self.span()), headers, 0

    def bad_metrics(self) -> Case:
        body = self.rng.choice(
            [
                self.rng.randbytes(200),
                b'{"resourceMetrics": 5}',
                b'{"resourceMetrics": [{"scopeMetrics": [{"metrics": '
                b'[{"name": "m", "gauge": {"dataPoints": [{"asDouble": "NaN", "timeUnixNano": "18446744073709551615"}]}}]}]}]}',
            ]
        )
        return "/v1/metrics", body, JS if body.startswith(b"{") else PB, 0


# class name → weight (share of the requests); the expensive classes get few
CLASSES = {
    "truncated_protobuf": 12,
    "random_protobuf": 12,
    "wrong_types": 10,
    "invalid_utf8": 8,
    "bad_ids": 10,
    "gzip_bomb": 0.5,
    "oversize": 0.5,
    "deep_nesting": 6,
    "huge_attributes": 2,
    "non_finite": 12,
    "times_out_of_range": 10,
    "many_events": 0.3,
    "too_many_spans": 0.3,
    "wrong_media": 6,
    "bad_metrics": 10,
}


def plan(total: int) -> dict[str, int]:
    weight = sum(CLASSES.values())
    return {name: max(3, math.ceil(total * w / weight)) for name, w in CLASSES.items()}  # >= total


def run_class(
    url: str, make: Callable[[], Case], count: int, concurrency: int
) -> tuple[collections.Counter[str], int]:
    statuses: collections.Counter[str] = collections.Counter()
    acknowledged = [0]
    lock = threading.Lock()
    todo = [count]

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    if todo[0] == 0:
                        return
                    todo[0] -= 1
                    path, body, headers, carried = make()  # the generator is not thread-safe
                try:
                    r = client.post(url + path, content=body, headers=headers)
                    outcome, ok = str(r.status_code), carried if r.status_code == 200 else 0
                except httpx.TimeoutException:
                    outcome, ok = "hang", 0
                except httpx.TransportError as exc:  # e.g. closed after an early 413, mid-upload
                    outcome, ok = type(exc).__name__, 0
                with lock:
                    statuses[outcome] += 1
                    acknowledged[0] += ok

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses, acknowledged[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    corpus, counts = Corpus(args.seed), plan(args.requests)
    print(__doc__.split("Usage:")[0])
    print(f"corpus: {sum(counts.values())} requests in {len(counts)} classes, seed {args.seed}\n")
    with tempfile.TemporaryDirectory() as tmp:
        db, port = Path(tmp) / "malformed.duckdb", free_port()
        env = {**os.environ, "TOKENTRAIL_MAX_BODY_BYTES": str(MAX_BODY)}
        cmd = [
            sys.executable,
            "-m",
            "tokentrail",
            "serve",
            "--grpc-port",
            "0",
            "--db",
            str(db),
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(f"{url}/healthz", proc)
        total_ok, failures = 0, []
        print(f"{'class':<20} {'requests':>8} {'s':>6}  status codes")
        for name, count in counts.items():
            t = time.perf_counter()
            statuses, ok = run_class(url, getattr(corpus, name), count, args.concurrency)
            total_ok += ok
            up = proc.poll() is None and httpx.get(f"{url}/healthz", timeout=30).status_code == 200
            bad = {k: v for k, v in statuses.items() if k == "hang" or k.startswith("5")}
            if bad or not up:
                failures.append(f"{name}: {bad} {'server down' if not up else ''}")
            codes = "  ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
            print(f"{name:<20} {count:>8} {time.perf_counter() - t:>6.1f}  {codes}")
        proc.terminate()
        proc.wait(60)
        stored = duckdb.connect(str(db), read_only=True).execute("SELECT count(*) FROM spans").fetchone()[0]
    print(f"\nvalid spans acknowledged: {total_ok}   stored: {stored}")
    if stored != total_ok:
        failures.append(f"stored {stored} spans, acknowledged {total_ok}")
    print(
        "PASS: no 5xx, no hang, server up, stored = acknowledged"
        if not failures
        else "FAIL:\n  " + "\n  ".join(failures)
    )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
