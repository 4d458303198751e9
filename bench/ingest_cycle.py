"""Where the time of `bench/ingest.py`'s one-span shape goes: the cycle of 16 clients and one writer.

Run: ``.venv/bin/python bench/ingest_cycle.py [--seconds 10] [--clients 16] [--per-request 1]
[--commit store|blob] [--route app|lean]``. Printed, never asserted: a diagnostic of the shapes of
`bench/ingest.py`, not one of its figures (``--per-request 100 --clients 4``: the 100-span shape).

Method (printed with the results):

- The collector as ``tokentrail serve`` runs it (two decoding workers, OTLP/gRPC off), started through this
  script, which first wraps four of its functions with timers: the ASGI app (a request's first byte handled
  to its answer's last byte sent), ``server.otlp.receive`` (body read, admission and decoding in a worker),
  and the writer's ``_take_group`` (gathering a group, with its linger) and ``_run`` (one group's commit,
  with the writer thread's CPU time). The timers cost the collector a few per cent.
- The clients of `bench/ingest.py` (keep-alive, one request in flight each, the same bodies), for
  ``--seconds``; the first 200 requests and 20 groups are left out as warm-up.
- Per request, medians: decoding, then from decoded to answered (waiting for a group, its commit, the
  answer). Per group: its size, the commit's wall and CPU time, and the gap between one commit's end and the
  next one's start (the answers, the clients' next requests, their decoding, the linger). With every client
  in each group, the rate is about group size / (commit + gap).
- ``--commit blob`` is an upper bound, not a store: the insert into ``spans`` (a group of 2,048 spans or
  more, or the span log's move of smaller groups: store/span_log.py) puts the spans into a one-column table as one
  Arrow IPC blob, with no duplicate check, no side tables and nothing a query could read. It shows what the
  cycle would be if storing spans cost only one narrow insert.
- ``--route lean`` is an upper bound too: POST /v1/traces is handled before the app (FastAPI, its middleware,
  the key check, the errors' answers), reading the body, decoding, committing and answering as the route does.
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ingest import drive, first_request_ms, free_port, payloads, wait_healthy

WARM_REQUESTS, WARM_GROUPS = 200, 20


# --- inside the collector (--serve) --------------------------------------------------------------------


def probe(out: Path, commit: str, route: str) -> None:
    """Wrap the collector's functions with timers, and write what they saw to `out` at exit."""
    import uvicorn

    from tokentrail.server import otlp
    from tokentrail.store import writer

    seen: dict[str, list[Any]] = {"requests": [], "groups": [], "takes": []}
    clock = time.perf_counter
    receive, config = otlp.receive, uvicorn.Config.__init__
    run, take = writer.BatchWriter._run, writer.BatchWriter._take_group

    async def timed_receive(request: Any, decode: Any) -> Any:
        request.scope["probe"]["decode"] = clock()
        result = await receive(request, decode)
        request.scope["probe"]["decoded"] = clock()
        return result

    def timed_run(self: Any, conn: Any, jobs: list[Any]) -> None:
        started, cpu = clock(), time.thread_time()
        run(self, conn, jobs)
        seen["groups"].append((started, clock(), len(jobs), time.thread_time() - cpu))

    def timed_take(self: Any, first: Any) -> list[Any]:
        started = clock()
        jobs: list[Any] = take(self, first)
        seen["takes"].append(clock() - started)
        return jobs

    def timed_config(self: Any, app: Any, *args: Any, **kwargs: Any) -> None:
        config(self, Timed(app, seen["requests"], route == "lean"), *args, **kwargs)

    otlp.receive = timed_receive
    writer.BatchWriter._run = timed_run
    writer.BatchWriter._take_group = timed_take
    uvicorn.Config.__init__ = timed_config
    if commit == "blob":
        blob_commit()
    atexit.register(lambda: out.write_text(json.dumps(seen)))


class Timed:
    """The ASGI app, timing each POST /v1/traces from its first call to its answer's last byte; with `lean`,
    handling it itself (`lean_traces`)."""

    def __init__(self, app: Any, requests: list[dict[str, float]], lean: bool) -> None:
        self.app, self.requests, self.lean = app, requests, lean

    def __getattr__(self, name: str) -> Any:  # app.state, for the server's own use
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/traces":
            return await self.app(scope, receive, send)
        times = scope["probe"] = {"start": time.perf_counter()}

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body":
                times["answered"] = time.perf_counter()

        await (self.lean_traces if self.lean else self.app)(scope, receive, timed_send)
        self.requests.append(times)

    async def lean_traces(self, scope: Any, receive: Any, send: Any) -> None:
        """POST /v1/traces without FastAPI, its middleware, the key check or any error handling: the upper
        bound of a leaner request path (see the method)."""
        from tokentrail.ingest import otlp as wire
        from tokentrail.server import otlp
        from tokentrail.server.state import state_of

        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body, state, times = b"".join(chunks), state_of(self.app), scope["probe"]
        times["decode"] = time.perf_counter()
        async with otlp.admitted(state, len(body)):
            decoded = await state.pipeline.traces_async(body, wire.PROTOBUF)
        times["decoded"] = time.perf_counter()
        answer = wire.encode_response(await otlp.store_traces(state, decoded, ()), wire.PROTOBUF)
        head = [(b"content-type", wire.PROTOBUF.encode()), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": answer})


def blob_commit() -> None:
    """Replace the store's span insert with one Arrow IPC blob per group (the upper bound; see the method)."""
    import pyarrow as pa

    from tokentrail.store import duckdb as store

    made: list[bool] = []  # the table, made in the first group's transaction (a check per group: 0.2 ms)

    def insert(self: Any, con: Any, tables: list[Any]) -> list[int]:
        if not tables:
            return []
        if not made:
            con.execute("CREATE TABLE IF NOT EXISTS bench_blobs (body BLOB)")
            made.append(True)
        batch = pa.concat_tables(tables)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as out:
            out.write_table(batch)
        con.execute("INSERT INTO bench_blobs VALUES (?)", [sink.getvalue().to_pybytes()])
        return [t.num_rows for t in tables]

    store.DuckDBStore._insert_new = insert


def serve(argv: list[str]) -> None:
    """`tokentrail serve` with the probes (this script's child)."""
    out, commit, route = Path(argv[0]), argv[1], argv[2]
    probe(out, commit, route)
    from tokentrail.cli import main

    sys.argv = ["tokentrail", "serve", *argv[3:]]
    main()


# --- the driver -----------------------------------------------------------------------------------------


def run(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, Any], float, list[float]]:
    """Start the probed collector, drive it, stop it; what the probes saw, the rate and the latencies."""
    port, out = free_port(), workdir / "probe.json"
    cmd = [sys.executable, __file__, "--serve", str(out), args.commit, args.route]
    cmd += ["--db", str(workdir / "cycle.duckdb")]
    cmd += ["--port", str(port), "--grpc-port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(f"{url}/healthz", proc)
        spans = int(args.seconds * 3_000 * min(args.per_request, 10))  # more than the clients can send
        bodies = payloads(spans, args.per_request, seed=3)
        first_request_ms(f"{url}/v1/traces", bodies[0])
        seconds, _, latencies = drive(f"{url}/v1/traces", bodies[1:], args.clients, args.seconds)
    finally:
        proc.terminate()
        proc.wait(30)
    return json.loads(out.read_text()), len(latencies) * args.per_request / seconds, latencies


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:6.2f} ms"


def report(seen: dict[str, Any], rate: float, latencies: list[float]) -> None:
    requests = [r for r in seen["requests"] if "decoded" in r][WARM_REQUESTS:]
    groups = seen["groups"][WARM_GROUPS:]
    gaps = [after[0] - before[1] for before, after in itertools.pairwise(groups)]
    busy = sum(end - start for start, end, _, _ in groups) / (groups[-1][1] - groups[0][0])
    size = statistics.mean(g[2] for g in groups)  # requests
    cycle = statistics.median([end - start for start, end, _, _ in groups]) + statistics.median(gaps)
    print(f"acknowledged {rate:,.0f} spans/s; latency p50 {statistics.median(latencies):.2f} ms (client)")
    print(f"per request: decoding {ms([r['decoded'] - r['decode'] for r in requests])}", end="")
    print(f", decoded to answered {ms([r['answered'] - r['decoded'] for r in requests])}", end="")
    print(f", in the server {ms([r['answered'] - r['start'] for r in requests])}")
    print(f"per group ({len(groups)} groups of {size:.1f} requests on average, the writer busy {busy:.0%}):")
    print(
        f"  commit {ms([end - start for start, end, _, _ in groups])} wall, {ms([g[3] for g in groups])} CPU"
    )
    print(f"  gap between commits {ms(gaps)} (gathering, linger included, {ms(seen['takes'][WARM_GROUPS:])})")
    print(
        f"  cycle (commit + gap, medians) {cycle * 1000:.2f} ms: {size / cycle:,.0f} requests/s at that group size"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-request", type=int, default=1, help="spans per request")
    parser.add_argument("--commit", choices=("store", "blob"), default="store")
    parser.add_argument("--route", choices=("app", "lean"), default="app")
    args = parser.parse_args()
    print(__doc__.split("Method (printed with the results):")[1].strip(), "\n")
    with tempfile.TemporaryDirectory() as tmp:
        seen, rate, latencies = run(args, Path(tmp))
    print(
        f"--commit {args.commit}, {args.per_request}-span requests, {args.clients} clients, {args.seconds:g} s:"
    )
    report(seen, rate, latencies)


if __name__ == "__main__":
    main()
