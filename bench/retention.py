"""Retention on the DuckDB store: what deleting days does to the file, the used space and chargeback.

Method (printed with the results): `--calls` synthetic calls (bench/synthetic.py) spread over the last 30 days
are bulk-loaded into a fresh DuckDB file and checkpointed. Then, through the same code `tokentrail retention
apply` runs: a retention of `--keep` days, then a disk cap of a quarter of the used space. After each step the
file size, the used bytes (used blocks times the block size, plus the WAL) and the rows left are printed, with the
seconds the step took (wall clock on a shared machine: indicative only). Chargeback by tenant over the whole
range is computed before and after and must be identical (integer nano-dollars). The synthetic labels are
drawn independently of each other, so nearly every call has its own label combination and daily_costs gets
about a row per deleted call: the worst case for the rollup's size (real labels nest: team within cost centre,
feature within app).

Usage: python bench/retention.py [--calls 2000000] [--keep 15] [--db PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from synthetic import load

from tokentrail.analytics.chargeback import chargeback
from tokentrail.analytics.ranges import TimeRange
from tokentrail.retention import Policy, apply_retention
from tokentrail.retention.apply import backend_for
from tokentrail.store.duckdb import DuckDBStore


def state(store: DuckDBStore, label: str, seconds: float) -> None:
    rows = store.query("SELECT count(*) FROM spans").rows[0][0]
    rollups = store.query("SELECT count(*) FROM daily_costs").rows[0][0]
    used = backend_for(store).size_bytes()
    file_mb = os.path.getsize(store.path) / 1e6
    print(
        f"{label:<28} file {file_mb:7.1f} MB  used {used / 1e6:7.1f} MB  spans {rows:>9,}  "
        f"daily_costs {rollups:>9,}  {seconds:5.1f} s"
    )


def charged(store: DuckDBStore, period: TimeRange) -> dict[str, object]:
    return dataclasses.asdict(chargeback(store, period, "tenant"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2_000_000)
    parser.add_argument("--keep", type=int, default=15)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    path = args.db or Path(tempfile.mkdtemp()) / "retention.duckdb"
    print(__doc__.split("Usage:")[0].strip(), end="\n\n")
    loaded = load(path, args.calls, days=30)
    with DuckDBStore(path) as store:
        state(store, f"loaded {args.calls:,} calls", loaded)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        period = TimeRange(now - dt.timedelta(days=40), now + dt.timedelta(days=1))
        before = charged(store, period)
        start = time.perf_counter()
        report = apply_retention(store, Policy(calls=args.keep))
        state(
            store,
            f"kept {args.keep} days ({len(report.days.get('spans', []))} dropped)",
            time.perf_counter() - start,
        )
        assert charged(store, period) == before, "chargeback changed"
        cap = backend_for(store).size_bytes() // 4
        start = time.perf_counter()
        report = apply_retention(store, Policy(max_disk=cap))
        state(store, f"cap {cap / 1e6:.1f} MB ({len(report.cap_days)} dropped)", time.perf_counter() - start)
        for note in report.notes:
            print(f"  note: {note}")
        assert charged(store, period) == before, "chargeback changed"
        print("chargeback by tenant over the whole range: identical before and after")


if __name__ == "__main__":
    main()
