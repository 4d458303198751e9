"""How fast the dashboard's overview renders over a large store.

Method:
  1. Bulk-load N synthetic LLM calls (default 1,000,000) spread over the last 30 days into a fresh DuckDB
     file with one `INSERT ... SELECT ... FROM range(N)`: realistic columns (8 features, 200 tenants, 6 models
     on 3 providers with their prices, prompt versions, ~2 % errors by class, retries, streaming stats).
  2. Serve the real app (`create_app`) with uvicorn on loopback, as `tokentrail serve` does.
  3. For each view, time what a browser asks for: the overview HTML (server-side render, tiles included),
     then the JSON its charts request (the distinct `data-src` URLs in the HTML). "sequential" adds them
     up; "parallel" fetches the JSON concurrently after the HTML, as the page's script does.
  4. One warm-up, then --runs timed runs; print the median and p95 of each part (nearest rank).

Run: .venv/bin/python bench/dashboard.py [--rows 1000000] [--runs 10] [--db path]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import html
import os
import re
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import httpx
import uvicorn

from tokentrail.server.app import create_app
from tokentrail.store.duckdb import DuckDBStore

MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet-4",
    "claude-haiku-3.5",
    "anthropic.claude-3-haiku",
    "gpt-4.1",
]
PROVIDERS = ["openai", "openai", "anthropic", "anthropic", "aws.bedrock", "openai"]
PRICE_IN = [2.5e-6, 0.15e-6, 3e-6, 0.8e-6, 0.25e-6, 2e-6]  # USD per input token
PRICE_OUT = [10e-6, 0.6e-6, 15e-6, 4e-6, 1.25e-6, 8e-6]
FEATURES = ["search", "chat", "summarize", "classify", "support", "extract", "translate", "agent"]
ERRORS = ["throttled", "server_error", "timeout", "invalid_request"]


def sql_list(values: list[str] | list[float]) -> str:
    return "[" + ", ".join(repr(v) if isinstance(v, str) else repr(float(v)) for v in values) + "]"


def pick(values: list[str], salt: int) -> str:
    """One of the values, chosen by a hash of the row number."""
    return f"{sql_list(values)}[CAST(1 + hash(i, {salt}) % {len(values)} AS BIGINT)]"


# Column → SQL over `i` (the row number) and `m` (the model index, 1-based). Unlisted columns stay NULL.
COLUMNS = {
    "trace_id": "printf('%032x', i)",
    "span_id": "printf('%016x', i)",
    "name": "'chat ' || " + sql_list(MODELS) + "[m]",
    "kind": "'llm'",
    "service": "'shop'",
    "start_time": "?::TIMESTAMP - to_microseconds(CAST(i * ? AS BIGINT))",
    "duration_ms": "300 + (hash(i, 1) % 6000)::DOUBLE",
    "stream": "hash(i, 2) % 5 <> 0",
    "ttft_ms": "CASE WHEN hash(i, 2) % 5 <> 0 THEN 120 + (hash(i, 3) % 1400)::DOUBLE END",
    "itl_p50_ms": "CASE WHEN hash(i, 2) % 5 <> 0 THEN 15 + (hash(i, 4) % 30)::DOUBLE END",
    "itl_p95_ms": "CASE WHEN hash(i, 2) % 5 <> 0 THEN 50 + (hash(i, 4) % 60)::DOUBLE END",
    "itl_max_ms": "CASE WHEN hash(i, 2) % 5 <> 0 THEN 80 + (hash(i, 5) % 1500)::DOUBLE END",
    "output_tokens_per_s": "20 + (hash(i, 6) % 180)::DOUBLE",
    "provider": sql_list(PROVIDERS) + "[m]",
    "operation": "'chat'",
    "request_model": sql_list(MODELS) + "[m]",
    "response_model": sql_list(MODELS) + "[m]",
    "input_tokens": "200 + hash(i, 7) % 8000",
    "output_tokens": "20 + hash(i, 8) % 1200",
    "cache_read_tokens": "CASE WHEN hash(i, 9) % 3 = 0 THEN (hash(i, 7) % 8000) // 2 ELSE 0 END",
    "cache_write_tokens": "0",
    "cost_usd": (
        f"CASE WHEN hash(i, 10) % 50 = 0 THEN NULL ELSE (200 + hash(i, 7) % 8000) * {sql_list(PRICE_IN)}[m] "
        f"+ (20 + hash(i, 8) % 1200) * {sql_list(PRICE_OUT)}[m] END"
    ),
    "status": "CASE WHEN hash(i, 10) % 50 = 0 THEN 'error' ELSE 'ok' END",
    "error_class": f"CASE WHEN hash(i, 10) % 50 = 0 THEN {pick(ERRORS, 11)} END",
    "attempts": "CASE WHEN hash(i, 10) % 50 = 0 THEN 3 WHEN hash(i, 12) % 20 = 0 THEN 2 ELSE 1 END",
    "app": pick(["web", "mobile", "backend", "batch"], 13),
    "feature": pick(FEATURES, 14),
    "tenant": "'tenant-' || (hash(i, 15) % 200)",
    "team": "'team-' || (hash(i, 14) % 8)",
    "cost_center": "'cc-' || (100 + hash(i, 14) % 4)",
    "environment": "'prod'",
    "prompt_name": pick(FEATURES, 14) + " || '-prompt'",
    "prompt_version": "'v' || (1 + hash(i, 16) % 4)",
    "tool_names": "[]::VARCHAR[]",
    "metadata": "'{}'",
    "attributes": "'{}'",
    "source": "'sdk'",
}


def load(path: Path, rows: int, now: dt.datetime) -> float:
    """Create the schema through the store, then bulk-insert in one statement; returns seconds."""
    DuckDBStore(path).close()
    names = ", ".join(COLUMNS)
    exprs = ", ".join(COLUMNS.values())
    sql = (
        f"INSERT INTO spans ({names}) SELECT {exprs} "
        f"FROM (SELECT range AS i, CAST(1 + hash(range, 0) % {len(MODELS)} AS BIGINT) AS m FROM range(?))"
    )
    started = time.perf_counter()
    con = duckdb.connect(str(path))
    con.execute(sql, [now, 30 * 86400e6 / rows, rows])
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - started


def serve(store: DuckDBStore) -> tuple[uvicorn.Server, threading.Thread, str]:
    # proto IPPROTO_TCP, or asyncio skips TCP_NODELAY and each keep-alive request waits ~40 ms (delayed ACK)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(store), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return server, thread, base
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def timed_get(client: httpx.Client, url: str) -> tuple[float, str]:
    started = time.perf_counter()
    r = client.get(url)
    elapsed = time.perf_counter() - started
    r.raise_for_status()
    return elapsed, r.text


def one_run(client: httpx.Client, pool: concurrent.futures.Executor, view: str) -> dict[str, float]:
    html_s, page = timed_get(client, "/" + view)
    sources = sorted({html.unescape(s) for s in re.findall(r'data-src="([^"]+)"', page)})
    parts = {"html": html_s}
    for src in sources:
        parts[src.split("?")[0]] = timed_get(client, src)[0]
    started = time.perf_counter()
    list(pool.map(lambda src: timed_get(client, src), sources))
    parts["parallel json"] = time.perf_counter() - started
    parts["sequential total"] = html_s + sum(v for k, v in parts.items() if k.startswith("/api/"))
    parts["parallel total"] = html_s + parts["parallel json"]
    return parts


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def bench_view(client: httpx.Client, view: str, runs: int) -> None:
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        one_run(client, pool, view)  # warm-up
        results = [one_run(client, pool, view) for _ in range(runs)]
    print(f"\nview /{view}  ({runs} runs after 1 warm-up)")
    for part in results[0]:
        values = [r[part] * 1000 for r in results]
        median, p95 = statistics.median(values), percentile(values, 0.95)
        print(f"  {part:<18} median {median:7.1f} ms   p95 {p95:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--db", type=Path, default=None, help="DuckDB file to create (default: a temp dir)")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory(prefix="tt-bench-")
    path = args.db or Path(folder.name) / "bench.duckdb"
    if path.exists():
        path.unlink()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    seconds = load(path, args.rows, now)
    print(
        f"loaded {args.rows:,} calls over 30 days in {seconds:.2f} s ({path.stat().st_size / 1e6:.0f} MB); "
        f"{os.cpu_count()} cores"
    )
    with DuckDBStore(path) as store:
        server, thread, base = serve(store)
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                for view in ("?since=24h", "?since=30d", "?since=7d&feature=search&tenant=tenant-7"):
                    bench_view(client, view, args.runs)
        finally:
            server.should_exit = True
            thread.join(timeout=15)
    folder.cleanup()


if __name__ == "__main__":
    main()
