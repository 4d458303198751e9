"""Bulk synthetic calls for benchmarks, generated inside DuckDB (`INSERT ... SELECT FROM range(n)`), so
millions of rows load in seconds instead of going through Python objects.

The distribution is shaped like production traffic: 40 features with skewed volume, 500 tenants with a
long tail, 8 models over 3 providers, streaming stats, cache tokens, errors by class, retries, costs.
"""

from __future__ import annotations

import time
from pathlib import Path

from tokentrail.store.duckdb import DuckDBStore

MODELS = [
    ("openai", "gpt-4o-mini", 0.15, 0.60),
    ("openai", "gpt-4o", 2.50, 10.0),
    ("openai", "gpt-4.1-mini", 0.40, 1.60),
    ("anthropic", "claude-3-5-haiku-20241022", 0.80, 4.0),
    ("anthropic", "claude-sonnet-4-5", 3.0, 15.0),
    ("aws.bedrock", "amazon.nova-lite-v1:0", 0.06, 0.24),
    ("aws.bedrock", "amazon.nova-pro-v1:0", 0.80, 3.20),
    ("aws.bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0", 3.0, 15.0),
]


def _case(index_sql: str, values: list[str]) -> str:
    arms = " ".join(f"WHEN {i} THEN {v}" for i, v in enumerate(values))
    return f"CASE {index_sql} {arms} END"


def insert_sql(n: int, days: float) -> str:
    m = "(h(i) % 8)"
    provider = _case(m, [f"'{p}'" for p, _, _, _ in MODELS])
    model = _case(m, [f"'{name}'" for _, name, _, _ in MODELS])
    in_rate = _case(m, [str(r) for _, _, r, _ in MODELS])
    out_rate = _case(m, [str(r) for _, _, _, r in MODELS])
    err = "(h(i * 7) % 1000)"
    error_class = (
        f"CASE WHEN {err} < 20 THEN 'throttled' WHEN {err} < 28 THEN 'server_error' "
        f"WHEN {err} < 32 THEN 'timeout' WHEN {err} < 34 THEN 'content_filtered' END"
    )
    return f"""
    INSERT INTO spans BY NAME
    SELECT
      printf('%032x', i) AS trace_id, printf('%016x', i + 1) AS span_id, 'chat ' || {model} AS name,
      'llm' AS kind, 'bench' AS service,
      now()::TIMESTAMP - to_microseconds(CAST((i * 1.0 / {n}) * {days} * 86400e6 AS BIGINT)) AS start_time,
      start_time + to_milliseconds(CAST(latency AS BIGINT)) AS end_time,
      latency AS duration_ms, true AS stream, ttft AS ttft_ms, latency AS ttlt_ms,
      latency - ttft AS stream_duration_ms, out_tok // 4 + 1 AS chunks,
      12 + (h(i * 3) % 20) AS itl_p50_ms, 40 + (h(i * 5) % 80) AS itl_p95_ms,
      90 + (h(i * 11) % 900) AS itl_max_ms, out_tok / greatest(latency - ttft, 1) * 1000 AS output_tokens_per_s,
      {provider} AS provider, 'chat' AS operation, {model} AS request_model, {model} AS response_model,
      in_tok AS input_tokens, out_tok AS output_tokens, cache_r AS cache_read_tokens, 0 AS cache_write_tokens,
      (in_tok - cache_r) * {in_rate} / 1e6 AS input_cost_usd, out_tok * {out_rate} / 1e6 AS output_cost_usd,
      cache_r * {in_rate} * 0.1 / 1e6 AS cache_cost_usd,
      input_cost_usd + output_cost_usd + cache_cost_usd AS cost_usd, 'bench' AS price_source,
      CASE WHEN {error_class} IS NULL THEN 'ok' ELSE 'error' END AS status, {error_class} AS error_class,
      CASE WHEN {err} < 20 THEN 3 WHEN {err} < 60 THEN 2 ELSE 1 END AS attempts,
      CASE WHEN h(i * 13) % 200 = 0 THEN 'fallback_model' END AS degraded,
      'app-' || (h(i * 17) % 4) AS app,
      'feature-' || CAST(floor(pow((h(i * 19) % 10000) / 10000.0, 2.5) * 40) AS INT) AS feature,
      'tenant-' || CAST(floor(pow((h(i * 23) % 10000) / 10000.0, 3) * 500) AS INT) AS tenant,
      'team-' || (h(i * 29) % 12) AS team, 'cc-' || (h(i * 31) % 6) AS cost_center, 'prod' AS environment,
      'v' || (h(i * 37) % 5) AS prompt_version, [] AS tool_names, '{{}}' AS metadata, '{{}}' AS attributes,
      'otlp' AS source, now()::TIMESTAMP AS received_at
    FROM (
      SELECT i,
        50 + (h(i * 41) % 6000) AS in_tok, 5 + (h(i * 43) % 900) AS out_tok,
        CASE WHEN h(i * 47) % 3 = 0 THEN least(h(i * 53) % 2000, 50 + (h(i * 41) % 6000)) ELSE 0 END AS cache_r,
        150 + (h(i * 59) % 800) AS ttft, 400 + (h(i * 61) % 7000) AS latency
      FROM range({n}) r(i)
    )
    """


def load(path: Path, n: int, days: float = 30) -> float:
    """Create a store at `path` holding `n` synthetic calls spread over the last `days`; returns seconds."""
    start = time.perf_counter()
    with DuckDBStore(path) as store:
        con = store._root.cursor()
        con.execute("CREATE TEMP MACRO h(x) AS CAST(hash(x) % 1000000007 AS BIGINT)")  # signed, no overflow
        con.execute(insert_sql(n, days))
        con.execute("CHECKPOINT")
        con.close()
    return time.perf_counter() - start
