"""Long-range benchmark: the 30-day overview, top features and by-tenant views over 30 million calls, served
from the rollups (store/rollups.py). Target: p50 under 150 ms each.

Method (printed with the results):
- data: bench/rollups_data.py (correlated labels: 3 providers, 8 models, 12 apps, 48 features, 8 teams, 4 cost
  centres, 300 tenants with a long tail, 2 environments, prompt versions, A/B variants, errors), generated
  inside DuckDB into a fresh file; then the rollups are built a few days per run with ingest's SQL
  (`rollups.upserts`, the same statements the writer runs for every batch) and checkpointed. The load times
  are kept beside the file (<db>.json) so later runs over the same file print them.
- a file made by an older version is migrated first (schema 15 re-buckets the sketches in seconds; 16 sums
  the sketches of the weeks before the current one into call_sketch_weeks). The bench's now is the last
  call's time: the days before its day are sealed (their sketches in their weeks too), that day is not, as
  for a user looking at the last 30 days (a file sealed only to a Monday gets the rest sealed at its first
  roll-up, as a collector's first roll-up of a day does).
- each view runs through analytics (the API's and dashboard's path) over the 30 days ending at the last
  call: once to warm up, then `--runs` times, timed with perf_counter; p50 and max are printed.
- before: the same views with the rollups switched off (the raw scan every view ran before), once each.
- with calls held (`--held N,...`): the views again with the newest N calls counted as held (the mark moved
  back, then restored), as a live collector's reads add in what waits to be rolled up; times only.
- sketch error: every percentile of every row (latency p50/p95/p99, TTFT p50/p95, tokens/s, ITL) against
  quantile_cont over the raw calls of the same range and group: median and worst relative error.

Usage: python bench/rollups.py [--db /work/bench-data/rollups30m-r3.duckdb] [--calls 30000000] [--runs 9]
       [--no-before] [--held 700,50000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rollups_data import load_calls, roll_up

from tokentrail.analytics.dashboard import breakdowns, overview_totals, timeseries
from tokentrail.analytics.fields import DIMENSIONS
from tokentrail.analytics.percentiles import PERCENTILES
from tokentrail.analytics.ranges import TimeRange
from tokentrail.analytics.summary import summary
from tokentrail.store import held, rollup_reads, rollups
from tokentrail.store.duckdb import DuckDBStore

END = dt.datetime(2026, 12, 3, 12, 37, 11)  # the last call's time (the data is fixed, so runs compare)
DAYS = 30
MONTH = TimeRange(END - dt.timedelta(days=DAYS), END)
View = Callable[[DuckDBStore], Any]
VIEWS: dict[str, tuple[View, tuple[str, ...]]] = {
    "overview tiles": (lambda s: overview_totals(s, MONTH), ()),
    "overview series": (lambda s: timeseries(s, MONTH), ()),
    "top features (dashboard)": (lambda s: breakdowns(s, MONTH, ["feature"]), ("feature",)),
    "top features (report)": (lambda s: summary(s, MONTH, ["feature"]), ("feature",)),
    "by tenant (dashboard)": (lambda s: breakdowns(s, MONTH, ["tenant"]), ("tenant",)),
    "by tenant (report)": (lambda s: summary(s, MONTH, ["tenant"]), ("tenant",)),
}


def load(path: Path, calls: int) -> dict[str, float]:
    """Calls, then rollups four days per step (ingest's SQL), with the seconds each took."""
    seconds = {"calls": load_calls(path, calls, END, DAYS), "rollups": 0.0}
    first = dt.datetime.combine((END - dt.timedelta(days=DAYS)).date(), dt.time())
    today = dt.datetime.combine(END.date(), dt.time())  # sealed as in a collector on END's day
    for day in range(0, DAYS + 1, 4):
        step = min(4, DAYS + 1 - day)
        seconds["rollups"] += roll_up(path, first + dt.timedelta(days=day), step, day == 0, today)
    return seconds


def timed(view: View, store: DuckDBStore, runs: int) -> list[float]:
    view(store)
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        view(store)
        out.append((time.perf_counter() - began) * 1000)
    return out


def exact(store: DuckDBStore, by: tuple[str, ...]) -> dict[Any, dict[str, float]]:
    parts = [
        f"quantile_cont({c}, [{', '.join(str(q) for _, q in p)}]) AS {n}" for n, (c, p) in PERCENTILES.items()
    ]
    keys = [DIMENSIONS[b] for b in by]
    sql = f"SELECT {', '.join([*keys, *parts])} FROM calls WHERE start_time >= ? AND start_time < ?"
    sql += f" GROUP BY {', '.join(keys)}" if keys else ""
    out = {}
    for row in store.query(sql, [MONTH.start, MONTH.end], timeout_s=600).rows:
        values = dict(zip(PERCENTILES, row[len(keys) :], strict=True))
        out[tuple(row[: len(keys)])] = {
            a: v for n, (_, p) in PERCENTILES.items() for (a, _), v in zip(p, values[n] or [], strict=False)
        }
    return out


def errors(store: DuckDBStore, by: tuple[str, ...]) -> list[float]:
    truth = exact(store, by)
    found = []
    for row in summary(store, MONTH, by).dicts():
        assert row["percentiles_from"] == "sketch", row["percentiles_from"]
        for alias, value in truth[tuple(row[b] for b in by)].items():
            if value and row.get(alias) is not None:
                found.append(abs(row[alias] - value) / value)
    return found


def describe(store: DuckDBStore, path: Path) -> None:
    counts = {
        t: store.query(f"SELECT count(*) FROM {t}").rows[0][0]
        for t in ("calls", *rollups.TABLES, rollups.WEEKS)
    }
    print(
        f"file: {path} {os.path.getsize(path) / 1e9:.2f} GB; rows: "
        + ", ".join(f"{t} {n:,}" for t, n in counts.items())
    )
    times = json.loads(Path(f"{path}.json").read_text()) if Path(f"{path}.json").exists() else {}
    if times:
        print(
            f"load: calls {times['calls']:.0f} s, rollups {times['rollups']:.0f} s (ingest's SQL, day by day)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, default=Path("/work/bench-data/rollups30m-r3.duckdb"))
    parser.add_argument("--calls", type=int, default=30_000_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-before", action="store_true", help="skip the raw scans (slow)")
    parser.add_argument("--held", default="", help="also time the views with N,M,... calls held")
    args = parser.parse_args()
    held.utcnow = lambda: END  # the data's now: a roll-up seals the days before END's, not today's
    if not args.db.exists():
        Path(f"{args.db}.json").write_text(json.dumps(load(args.db, args.calls)))
    DuckDBStore(args.db).close()  # a file of an older schema is migrated (read-only, it would be scanned)
    print(__doc__.split("Usage:")[0].strip(), "\n")
    with DuckDBStore(args.db, read_only=True) as store:
        describe(store, args.db)
        print(f"range: {MONTH.start} .. {MONTH.end}, {args.runs} runs each")
        for name, (view, by) in VIEWS.items():
            after = timed(view, store, args.runs)
            line = f"{name:26} p50 {statistics.median(after):7.1f} ms  max {max(after):7.1f} ms"
            if not args.no_before:
                saved, rollup_reads.MIN_RANGE = rollup_reads.MIN_RANGE, dt.timedelta(days=10_000)
                line += f"  before (raw scan) {timed(view, store, 1)[0]:8.1f} ms"
                rollup_reads.MIN_RANGE = saved
            if "report" in name or name == "overview tiles":
                errs = errors(store, by)
                line += f"  sketch vs exact: median {statistics.median(errs):.2%}, worst {max(errs):.2%}"
            print(line, flush=True)
    if args.held:
        with_held(args.db, [int(n) for n in args.held.split(",")], args.runs)


_MARK_BEFORE = (
    f"UPDATE {rollups.MARK} SET mark = (SELECT received_at FROM spans WHERE kind = 'llm' "
    "ORDER BY received_at DESC LIMIT 1 OFFSET ?)"
)


def with_held(path: Path, counts: list[int], runs: int) -> None:
    """The views again while the newest `counts` calls count as held (the mark moved back, then restored),
    as in a live collector, whose reads add in what waits to be rolled up. Those calls are then counted
    twice, so only times are printed; the roller must not roll them up again, so its interval is set past the
    run."""
    held.ROLLUP_EVERY_S = 1e6
    print("\nwith calls held (a live collector holds up to a minute's, or ROLLUP_BATCH under heavy ingest):")
    with DuckDBStore(path) as store:
        mark = store.query(f"SELECT mark FROM {rollups.MARK}").rows[0][0]
        try:
            for count in counts:
                store.execute(_MARK_BEFORE, [count])
                for name, (view, _) in VIEWS.items():
                    took = timed(view, store, runs)
                    print(f"  {count:>6,} held  {name:26} p50 {statistics.median(took):7.1f} ms", flush=True)
        finally:
            store.execute(f"UPDATE {rollups.MARK} SET mark = ?", [mark])


if __name__ == "__main__":
    main()
