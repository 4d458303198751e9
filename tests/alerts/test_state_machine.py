"""The state machine and the conditions over a real DuckDB store, one evaluation at a time: `for` keeps a
group pending before it fires, `keep_firing_for` holds a firing after the condition stops, each `no_data`
option, `min_calls`, and `change` against the previous window and against the same window last week."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from tokentrail.alerts import engine, state
from tokentrail.alerts.rules import parse_rules
from tokentrail.model import Call
from tokentrail.store.duckdb import DuckDBStore

T0 = dt.datetime(2026, 11, 2, 10, 0)
M = dt.timedelta(minutes=1)


def calls(times: list[dt.datetime], ms: float = 500.0) -> list[Call]:
    return [
        Call(
            trace_id=f"{i + 1:032x}",
            span_id=f"{i + 1:016x}",
            kind="llm",
            start_time=t,
            duration_ms=ms,
            feature="summarize",
        )
        for i, t in enumerate(times)
    ]


def states_over(tmp_path: Path, rule: str, written: list[Call], minutes: list[int]) -> list[str]:
    """The rule's state after an evaluation at each of T0 + `minutes` (one group, ungrouped rule)."""
    ruleset = parse_rules(
        tomllib.loads(f'[[rule]]\nname = "r"\nnotify = ["log"]\n{rule}\n[notifier.log]\nkind = "log"\n'),
        "test",
    )
    out = []
    with DuckDBStore(tmp_path / f"s{len(list(tmp_path.iterdir()))}.duckdb") as store:
        store.write(written)
        for minute in minutes:
            engine.evaluate(store, ruleset, T0 + minute * M)
            found = state.load_states(store, "r").get("{}")
            out.append(found.state if found else "normal")  # a state is stored once it leaves normal
        delivered = store.query("SELECT event FROM alert_deliveries ORDER BY sent_at").rows
    return [*out, ",".join(e for (e,) in delivered)]


EVERY_MINUTE = calls([T0 + i * M for i in range(40)])  # calls from T0 to T0 + 40m


def test_for_keeps_a_group_pending_before_it_fires(tmp_path: Path) -> None:
    rule = 'metric = "calls"\nwindow = "10m"\ncondition = "> 0"\nfor = "20m"'
    assert states_over(tmp_path, rule, EVERY_MINUTE, [10, 20, 30, 40, 50]) == [
        "pending",  # holds since 10
        "pending",  # 10 minutes of the 20
        "firing",  # 20 minutes: fires, notified once
        "firing",
        "resolved",  # no calls in (40, 50]
        "firing,resolved",
    ]
    short = calls([T0 + i * M for i in range(15)])  # holds at 10 and 20 only: never long enough
    assert states_over(tmp_path, rule, short, [10, 20, 30]) == ["pending", "pending", "normal", ""]


def test_keep_firing_for_holds_a_firing_after_the_condition_stops(tmp_path: Path) -> None:
    burst = calls([T0 + i * M for i in range(10)])
    rule = 'metric = "calls"\nwindow = "10m"\ncondition = "> 5"\nkeep_firing_for = "20m"'
    assert states_over(tmp_path, rule, burst, [10, 20, 30]) == [
        "firing",
        "firing",  # stopped holding 10 minutes ago
        "resolved",  # 20 minutes without holding
        "firing,resolved",
    ]
    rule = 'metric = "calls"\nwindow = "10m"\ncondition = "> 5"'  # default 0: resolves at once
    assert states_over(tmp_path, rule, burst, [10, 20]) == ["firing", "resolved", "firing,resolved"]


@pytest.mark.parametrize(
    ("option", "after_firing", "after_quiet"),
    [
        ("ok", "resolved", "normal"),  # no data is "does not hold"
        ("keep", "firing", "normal"),  # no data leaves the state as it is
        ("alert", "firing", "pending"),  # no data is "holds" (pending: for = 5m)
    ],
)
def test_no_data_options(tmp_path: Path, option: str, after_firing: str, after_quiet: str) -> None:
    slow, fast = calls([T0 + i * M for i in range(10)], 500.0), calls([T0 + i * M for i in range(10)], 50.0)
    rule = f'metric = "latency_p95_ms"\nwindow = "10m"\ncondition = "> 100"\nno_data = "{option}"'
    assert states_over(tmp_path, rule, slow, [10, 20])[:2] == ["firing", after_firing]
    waiting = rule + '\nfor = "5m"'
    assert states_over(tmp_path, waiting, fast, [10, 20])[:2] == ["normal", after_quiet]


def test_no_data_without_any_call_and_below_min_calls(tmp_path: Path) -> None:
    rule = 'metric = "error_rate"\nwindow = "10m"\ncondition = "> 0.5"\nno_data = "alert"'
    assert states_over(tmp_path, rule, [], [10]) == ["firing", "firing"]  # an empty store is no data too
    few = calls([T0 + i * M for i in range(3)])
    rule = 'metric = "latency_p95_ms"\nwindow = "10m"\ncondition = "> 100"\nmin_calls = 5'
    assert states_over(tmp_path, rule, few, [10]) == ["normal", ""]  # 3 calls < 5: no data, "ok"
    rule = rule.replace("min_calls = 5", "min_calls = 3")
    assert states_over(tmp_path, rule, few, [10]) == ["firing", "firing"]


def test_change_against_the_previous_window(tmp_path: Path) -> None:
    hour = dt.timedelta(hours=1)
    traffic = [T0 + i * 6 * M for i in range(10)]  # 10 calls in [T0, T0 + 1h)
    traffic += [T0 + hour + i * 3 * M for i in range(20)]  # 20 in the next hour: +100 %
    traffic += [T0 + 2 * hour + i * 3 * M for i in range(20)]  # 20 again: +0 %
    rule = 'metric = "calls"\nwindow = "1h"\ncondition = "change > 50%"'
    assert states_over(tmp_path, rule, calls(traffic), [120, 180]) == [
        "firing",
        "resolved",
        "firing,resolved",
    ]
    falling = 'metric = "calls"\nwindow = "1h"\ncondition = "change < -40%"'
    assert states_over(tmp_path, falling, calls(traffic), [120, 180, 240]) == [
        "normal",
        "normal",
        "firing",
        "firing",
    ]


def test_change_against_the_same_window_last_week(tmp_path: Path) -> None:
    week, hour = dt.timedelta(days=7), dt.timedelta(hours=1)
    traffic = [T0 - week + i * 6 * M for i in range(10)]  # 10 calls a week before
    traffic += [T0 - hour + i * 2 * M for i in range(30)]  # 30 in the hour before
    traffic += [T0 + i * 2 * M for i in range(30)]  # 30 now: +200 % on last week, +0 % on the previous hour
    base = 'metric = "calls"\nwindow = "1h"\ncondition = "change > 100%"'
    assert states_over(tmp_path, base + '\ncompare = "last_week"', calls(traffic), [60]) == [
        "firing",
        "firing",
    ]
    assert states_over(tmp_path, base, calls(traffic), [60]) == ["normal", ""]
    with DuckDBStore(tmp_path / "explain.duckdb") as store:
        store.write(calls(traffic))
        ruleset = parse_rules(tomllib.loads(f'[[rule]]\nname = "r"\n{base}\ncompare = "last_week"\n'), "t")
        (change,) = engine.evaluate(store, ruleset, T0 + hour)
        (found,) = state.load_states(store, "r").values()
    assert change["to"] == "firing"
    assert (found.value, found.expected_low, found.expected_high) == (30.0, 10.0, 10.0)
    assert "+200.0% against 10 (last_week window)" in found.explanation


def test_a_firing_is_repeated_every_repeat_interval_and_evaluating_twice_sends_nothing_new(
    tmp_path: Path,
) -> None:
    rule = 'metric = "calls"\nwindow = "10m"\ncondition = "> 0"\nrepeat_interval = "15m"'
    assert states_over(tmp_path, rule, EVERY_MINUTE, [10, 20, 25, 25, 30, 40, 50]) == [
        "firing",  # notified at 10
        "firing",  # 10 minutes later: not yet
        "firing",  # 15 minutes: repeated
        "firing",  # the same time again: deduplicated
        "firing",
        "firing",  # 15 minutes after the repeat: again
        "resolved",
        "firing,repeat,repeat,resolved",
    ]
