"""Times and durations as typed: one reader for the API's ranges, the CLI and the alert rules."""

from __future__ import annotations

import datetime as dt

import pytest

from tokentrail.analytics.ranges import TimeRange
from tokentrail.exceptions import BadRequest
from tokentrail.times import DurationError, format_duration, parse_duration, parse_time

NOW = dt.datetime(2026, 12, 3, 12, 0, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21T00:00:00Z", dt.datetime(2026, 11, 21)),
        ("2026-11-21T02:00:00+02:00", dt.datetime(2026, 11, 21)),
        ("2026-11-21", dt.datetime(2026, 11, 21)),
        ("1764892800000", dt.datetime(2025, 12, 5)),
        (" 2026-11-21T00:00:00 ", dt.datetime(2026, 11, 21)),
    ],
)
def test_absolute_times_read_the_same_everywhere(text: str, expected: dt.datetime) -> None:
    assert parse_time(text) == expected
    assert parse_time(text, NOW) == expected


def test_now_and_a_duration_ago_need_a_now() -> None:
    assert parse_time("now", NOW) == NOW
    assert parse_time("30d", NOW) == NOW - dt.timedelta(days=30)
    with pytest.raises(DurationError, match="bad time 'now'"):
        parse_time("now")
    with pytest.raises(DurationError, match="bad time '30d'"):
        parse_time("30d")


@pytest.mark.parametrize("text", ["soon", "", "2026-13-01", "-5", "99999999999999999999999"])
def test_a_bad_time_is_a_bad_request_saying_what_was_expected(text: str) -> None:
    with pytest.raises(BadRequest, match=r"bad time .*expected an ISO 8601 time.*epoch milliseconds"):
        parse_time(text, NOW)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("1.5m", 90), ("24h", 86400), ("2w", 1209600)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


def test_a_bad_duration_names_the_value() -> None:
    with pytest.raises(DurationError, match="bad window 'soon': window must be a number and a unit"):
        parse_duration("soon", "window")


def test_a_range_reads_times_as_the_alerts_do() -> None:
    window = TimeRange.resolve(start="2025-12-04T00:00:00+00:00", end="1764892800000")
    assert (window.start, window.end) == (dt.datetime(2025, 12, 4), dt.datetime(2025, 12, 5))
    with pytest.raises(BadRequest, match="bad time 'soon'"):
        TimeRange.resolve(start="soon")
