"""The demo's parts on their own: moving spans into the past, picking start times, expected retries, and
bad input (a clear message and a non-zero exit before anything starts)."""

from __future__ import annotations

import datetime as dt
import random
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tokentrail.demo.options import DemoError, DemoOptions, free_port
from tokentrail.demo.providers import expected_attempts
from tokentrail.demo.timeshift import MARGIN, Calendar, TimeShift, shifted, to_ns

from .conftest import run_demo

WEDNESDAY = dt.datetime(2026, 11, 18, 10, 30, tzinfo=dt.UTC)


def test_time_shift_moves_spans_and_their_events_keeping_durations() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(TimeShift())  # before the exporter, as the demo configures it
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    target = dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.UTC)
    with shifted(target), tracer.start_as_current_span("outer") as outer:
        outer.add_event("first token")
        with tracer.start_as_current_span("inner"):
            pass
    with tracer.start_as_current_span("unshifted"):
        pass
    inner, outer_span, unshifted = memory.get_finished_spans()
    assert abs(outer_span.start_time - to_ns(target)) < 50_000_000  # within 50 ms of the target
    assert outer_span.start_time <= inner.start_time <= inner.end_time <= outer_span.end_time
    assert outer_span.end_time - outer_span.start_time < 50_000_000  # the measured duration is kept
    assert outer_span.events[0].timestamp - outer_span.start_time < 50_000_000
    assert unshifted.start_time > to_ns(dt.datetime.now(dt.UTC)) - 10**9


def test_calendar_spreads_over_business_hours_never_in_the_future() -> None:
    cal = Calendar(WEDNESDAY, days=7)
    starts = cal.spread(random.Random(1), 4000)
    assert min(starts) >= cal.day(6) and max(starts) <= WEDNESDAY - MARGIN
    assert sum(1 for t in starts if 8 <= t.hour < 18) > 0.7 * len(starts)
    per_day = {d: sum(1 for t in starts if t.date() == cal.day(d).date()) for d in range(7)}
    assert per_day[1] > 2 * per_day[3]  # Tuesday against Sunday
    assert per_day[0] < per_day[1]  # today is only half over
    assert cal.yesterday() == (
        dt.datetime(2026, 11, 17, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 18, tzinfo=dt.UTC),
    )


def test_calendar_just_after_midnight_puts_nothing_today() -> None:
    cal = Calendar(dt.datetime(2026, 11, 18, 0, 5, tzinfo=dt.UTC), days=3)
    assert cal.day_weight(0) == 0
    assert all(t < cal.day(0) for t in cal.spread(random.Random(2), 500))


@pytest.mark.parametrize(
    ("fail", "attempts"),
    [
        (None, 1),
        ([], 1),
        ([429], 2),
        ([429, 429], 3),
        ([529, 529, 529], 3),
        ([400], 1),
        (["content_filter"], 1),
    ],
)
def test_expected_attempts_follow_the_sdk_retry_policy(fail: list[object] | None, attempts: int) -> None:
    assert expected_attempts(None if fail is None else {"fail": fail}) == attempts


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"days": 2}, "--days must be 3..90"),
        ({"scale": 0.0}, "--scale must be > 0"),
        ({"db": "{tmp}/missing/d.duckdb"}, "the folder {tmp}/missing does not exist"),
        ({"db": "{tmp}"}, "is a directory"),
        ({"db": "clickhouse://localhost:8123/x"}, "must be a DuckDB file path"),
    ],
)
def test_bad_options_are_refused(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"db": "{tmp}/d.duckdb", "port": free_port(), "days": 7, "scale": 1.0, **change}
    db = values["db"].replace("{tmp}", str(tmp_path))
    with pytest.raises(DemoError, match=re.escape(message.replace("{tmp}", str(tmp_path)))):
        DemoOptions.build(db, values["port"], values["days"], values["scale"], 1, False)


def test_taken_port_is_a_clear_error_from_the_cli(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        out = run_demo("--db", str(tmp_path / "d.duckdb"), "--no-serve", "--port", str(port), timeout=60)
    assert out.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken" in out.stderr
    assert not (tmp_path / "d.duckdb").exists()  # nothing started


def test_unwritable_db_is_a_clear_error_from_the_cli(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    db = tmp_path / "a-file" / "d.duckdb"
    out = run_demo("--db", str(db), "--no-serve", "--port", str(free_port()), timeout=60)
    assert out.returncode == 2
    assert f"cannot write --db {db}" in out.stderr
