"""Pure parts of the dashboard: formatting, view parameters, stall rule, waterfall order, bucket widths."""

from __future__ import annotations

import datetime as dt

import pytest

from tokentrail.analytics.dashboard import bucket_step
from tokentrail.analytics.ranges import TimeRange
from tokentrail.exceptions import BadRequest
from tokentrail.server import dashboard_format as fmt
from tokentrail.server.dashboard_params import canonical, needs_redirect, parse_view
from tokentrail.server.dashboard_views import stalled, timeline, trace_rows

T0 = dt.datetime(2026, 11, 21, 12, 0, 0)


def test_money_durations_and_changes() -> None:
    assert (fmt.usd(1234.5), fmt.usd(0.01234), fmt.usd(None)) == ("$1,234.50", "$0.0123", "\u2013")
    assert (fmt.ms(250.4), fmt.ms(1500.0), fmt.pct(0.125), fmt.num(12345)) == (
        "250 ms",
        "1.50 s",
        "12.5%",
        "12,345",
    )
    assert fmt.change(1.25, 1.0).text == "+$0.2500 (+25%)"
    assert fmt.change(0.5, 1.0).text == "\u2212$0.5000 (\u221250%)"
    assert (fmt.change(2.0, None).direction, fmt.change(None, 2.0).direction) == ("new", "gone")
    assert fmt.change(0.0, 0.0).direction == "flat"


def test_canonical_query_strings() -> None:
    form = [
        ("since", "24h"),
        ("start", "2026-01-01T00:00"),
        ("end", ""),
        ("add_field", "tenant"),
        ("add_value", "a"),
    ]
    assert canonical(form) == [("since", "24h"), ("tenant", "a")]
    custom = [("since", "custom"), ("start", "2026-01-01T00:00"), ("end", "")]
    assert canonical(custom) == [("since", "custom"), ("start", "2026-01-01T00:00")]
    assert needs_redirect(form) and not needs_redirect(canonical(form)) and not needs_redirect([])


def test_views_parse_ranges_filters_and_options() -> None:
    view = parse_view(
        [
            ("since", "custom"),
            ("start", "2026-01-01T00:00"),
            ("end", "2026-01-02T00:00"),
            ("feature", "x"),
            ("pick", "a"),
            ("pick", "b"),
        ]
    )
    assert view.time_range == TimeRange(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2))
    assert view.filters == {"feature": "x"} and view.option_list("pick") == ["a", "b"]
    assert view.query({"feature": None, "tenant": "t"}) == (
        "since=custom&start=2026-01-01T00%3A00&end=2026-01-02T00%3A00&tenant=t"
    )
    assert parse_view([]).since == "24h"
    with pytest.raises(BadRequest, match="custom range needs a start"):
        parse_view([("since", "custom")])
    with pytest.raises(BadRequest, match="cannot filter on 'nope'"):
        parse_view([("nope", "1")])


@pytest.mark.parametrize(
    ("longest", "median", "expected"),
    [
        (900.0, 25.0, True),
        (240.0, 10.0, False),
        (1000.0, 300.0, False),
        (None, 20.0, False),
        (300.0, None, True),
    ],
)
def test_stall_rule(longest: float | None, median: float | None, expected: bool) -> None:
    assert stalled({"itl_max_ms": longest, "itl_p50_ms": median}) is expected


def test_timeline_of_an_unstreamed_call() -> None:
    line = timeline({"duration_ms": 800.0, "ttft_ms": None, "ttlt_ms": None, "itl_max_ms": None})
    assert (
        line is not None and [s["cls"] for s in line["segments"]] == ["whole"] and line["longest_gap"] is None
    )
    assert timeline({"duration_ms": None, "ttlt_ms": None}) is None


def span(span_id: str, parent: str | None, kind: str, at_ms: int, length_ms: int) -> dict[str, object]:
    start = T0 + dt.timedelta(milliseconds=at_ms)
    return {
        "span_id": span_id,
        "parent_span_id": parent,
        "kind": kind,
        "start_time": start,
        "end_time": start + dt.timedelta(milliseconds=length_ms),
        "duration_ms": float(length_ms),
    }


def test_waterfall_order_depth_and_rounds() -> None:
    spans = [
        span("t2", "root", "tool", 300, 100),
        span("root", None, "agent", 0, 1000),
        {**span("l1", "root", "llm", 0, 250), "tool_names": ["search"]},  # asks; the tool t2 follows
        span("l2", "root", "llm", 450, 500),
        span("orphan", "missing", "llm", 100, 50),
        span("inner", "t2", "other", 310, 20),
    ]
    rows = trace_rows(spans)  # type: ignore[arg-type]
    order = [(r["span"]["span_id"], r["depth"], r["round"]) for r in rows]
    assert order == [
        ("root", 0, None),
        ("l1", 1, 1),
        ("t2", 1, 1),
        ("inner", 2, None),
        ("l2", 1, 2),
        ("orphan", 0, None),
    ]
    assert rows[4]["left"] == pytest.approx(45.0) and rows[4]["width"] == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("hours", "step"), [(1, 60), (24, 900), (24 * 7, 3600), (24 * 30, 6 * 3600), (24 * 365, 7 * 86400)]
)
def test_bucket_widths(hours: int, step: int) -> None:
    assert bucket_step(TimeRange(T0, T0 + dt.timedelta(hours=hours))) == step
