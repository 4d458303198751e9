"""Synthetic calls for the long-range benchmark (bench/rollups.py), generated inside DuckDB, with label
cardinalities and correlations shaped like one company's traffic:

- 3 providers, 8 models; each feature calls its main model 80 % of the time and another one 20 %;
- 12 apps of 4 features each (48 features, skewed volume); each app belongs to one of 8 teams, each team to
  one of 4 cost centres;
- 300 tenants with a long tail (the largest sends about 1/8 of the calls);
- production 97 %, staging 3 %; one or two live prompt versions per feature; A/B variants on 6 features;
- 3.4 % errors in 4 classes, retries on throttling;
- log-normal latency and TTFT, so percentiles are spread over two orders of magnitude.

The calls are spread uniformly over the `days` before `end`; rollups are then built day by day with the same
SQL as ingest (store/rollups.py `upserts`). `span_keys` (the duplicate check) is not filled: the file serves
reads only.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from synthetic import MODELS, _case

from tokentrail.store import rollups
from tokentrail.store.duckdb import DuckDBStore


def _uniform(salt: int) -> str:
    return f"((h(i * {salt}) % 1000000) + 0.5) / 1000000.0"


def insert_sql(n: int, days: float, end: dt.datetime) -> str:
    m = "m"
    money = [(_case(m, [str(r) for _, _, r, _ in MODELS]), _case(m, [str(r) for _, _, _, r in MODELS]))]
    in_rate, out_rate = money[0]
    err = "(h(i * 7) % 1000)"
    error_class = (
        f"CASE WHEN {err} < 20 THEN 'throttled' WHEN {err} < 28 THEN 'server_error' "
        f"WHEN {err} < 32 THEN 'timeout' WHEN {err} < 34 THEN 'content_filtered' END"
    )
    z1 = f"sqrt(-2 * ln({_uniform(41)})) * cos(2 * pi() * {_uniform(43)})"
    z2 = f"sqrt(-2 * ln({_uniform(47)})) * cos(2 * pi() * {_uniform(53)})"
    return f"""
    INSERT INTO spans BY NAME
    SELECT
      printf('%032x', i) AS trace_id, printf('%016x', i + 1) AS span_id, 'chat ' || model AS name,
      'llm' AS kind, 'bench' AS service,
      TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}' - to_microseconds(CAST((i + 0.5) / {n} * {days} * 86400e6 AS BIGINT))
        AS start_time,
      start_time + to_milliseconds(CAST(latency AS BIGINT)) AS end_time,
      latency AS duration_ms, true AS stream, ttft AS ttft_ms, latency AS ttlt_ms,
      latency - ttft AS stream_duration_ms, out_tok // 4 + 1 AS chunks,
      12 + (h(i * 3) % 20) AS itl_p50_ms, 40 + (h(i * 5) % 80) AS itl_p95_ms,
      out_tok / greatest(latency - ttft, 1) * 1000 AS output_tokens_per_s,
      {_case(m, [f"'{p}'" for p, _, _, _ in MODELS])} AS provider, 'chat' AS operation,
      model AS request_model, model AS response_model,
      in_tok AS input_tokens, out_tok AS output_tokens, cache_r AS cache_read_tokens, 0 AS cache_write_tokens,
      (in_tok - cache_r) * {in_rate} / 1e6 AS input_cost_usd, out_tok * {out_rate} / 1e6 AS output_cost_usd,
      cache_r * {in_rate} * 0.1 / 1e6 AS cache_cost_usd,
      input_cost_usd + output_cost_usd + cache_cost_usd AS cost_usd, 'bench' AS price_source,
      CASE WHEN {error_class} IS NULL THEN 'ok' ELSE 'error' END AS status, {error_class} AS error_class,
      CASE WHEN {err} < 20 THEN 3 WHEN {err} < 60 THEN 2 ELSE 1 END AS attempts,
      CASE WHEN h(i * 13) % 200 = 0 THEN 'fallback_model' END AS degraded,
      'app-' || (f // 4) AS app, 'feature-' || f AS feature, 'tenant-' || tn AS tenant,
      'team-' || ((f // 4) % 8) AS team, 'cc-' || ((f // 4) % 8 % 4) AS cost_center,
      CASE WHEN h(i * 29) % 100 < 97 THEN 'prod' ELSE 'staging' END AS environment,
      'v' || (f % 3 + 1 + CASE WHEN h(i * 31) % 10 = 0 THEN 1 ELSE 0 END) AS prompt_version,
      CASE WHEN f < 6 THEN CASE WHEN h(i * 37) % 2 = 0 THEN 'a' ELSE 'b' END END AS variant,
      [] AS tool_names, '{{}}' AS metadata, '{{}}' AS attributes, 'otlp' AS source, start_time AS received_at
    FROM (
      SELECT *, {_case("m", [f"'{name}'" for _, name, _, _ in MODELS])} AS model FROM (
        SELECT *, CASE WHEN h(i * 19) % 5 = 0 THEN (f * 3 + 1) % 8 ELSE (f * 5) % 8 END AS m FROM (
          SELECT i,
            CAST(floor(pow({_uniform(11)}, 2.2) * 48) AS INT) AS f,
            CAST(floor(pow({_uniform(23)}, 3) * 300) AS INT) AS tn,
            50 + (h(i * 59) % 6000) AS in_tok, 5 + (h(i * 61) % 900) AS out_tok,
            CASE WHEN h(i * 67) % 3 = 0 THEN least(h(i * 71) % 2000, 50 + (h(i * 59) % 6000)) ELSE 0 END
              AS cache_r,
            exp(ln(350) + 0.5 * {z2}) AS ttft, exp(ln(350) + 0.5 * {z2}) + exp(ln(1800) + 0.6 * {z1}) AS latency
          FROM range({n}) r(i)
        )
      )
    )
    """


def load_calls(path: Path, n: int, end: dt.datetime, days: int) -> float:
    """Create a store at `path` holding `n` calls over the `days` before `end`; returns seconds."""
    began = time.perf_counter()
    with DuckDBStore(path) as store:
        con = store._root.cursor()
        con.execute("CREATE TEMP MACRO h(x) AS CAST(hash(x) % 1000000007 AS BIGINT)")
        con.execute(insert_sql(n, days, end))
        con.execute("CHECKPOINT")
        con.close()
    return time.perf_counter() - began


def roll_up(
    path: Path, first: dt.datetime, days: int, fresh: bool = False, sealed: dt.datetime | None = None
) -> float:
    """Build the rollups of `days` days from `first`, one transaction per day (`fresh`: empty tables of the
    current schema first, the days before `sealed` counted as sealed); returns seconds."""
    began = time.perf_counter()
    with DuckDBStore(path) as store:
        con = store._root.cursor()
        if fresh:
            for table in (*rollups.TABLES, rollups.WEEKS):
                con.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in [*rollups.duckdb_ddl(), *rollups.duckdb_weeks(), *rollups.duckdb_unkeyed()]:
                con.execute(statement)
            if sealed is not None:
                con.execute(f"UPDATE {rollups.MARK} SET sealed = ?", [sealed])
        for day in range(days):
            lo, hi = first + dt.timedelta(days=day), first + dt.timedelta(days=day + 1)
            where = f"kind = 'llm' AND start_time >= TIMESTAMP '{lo}' AND start_time < TIMESTAMP '{hi}'"
            con.execute("BEGIN")
            for statement in rollups.upserts("spans", where):
                con.execute(statement)
            con.execute("COMMIT")
        # every call is rolled up now: none is held (store/held.py holds those stored after the mark)
        con.execute(f"UPDATE {rollups.MARK} SET mark = (SELECT max(received_at) FROM spans)")
        con.execute("CHECKPOINT")
        con.close()
    return time.perf_counter() - began
