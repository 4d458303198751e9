"""The converters the OTLP normaliser and the importers share (`tokentrail.ingest.values`): one rule for a
value, whichever way it arrived."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tokentrail.ingest.importers import jsonl
from tokentrail.ingest.normalize import to_call
from tokentrail.ingest.values import MAX_NUMBER, to_bool, to_float, to_int, to_time


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, 12),
        (12.0, 12),
        ("12", 12),
        (" 12.0 ", 12),
        ("1e3", 1000),
        (0, 0),
        (MAX_NUMBER, MAX_NUMBER),
        (MAX_NUMBER + 1, None),  # sums of counts must fit in 64 bits
        ("99999999999999999999", None),
        (10**400, None),
        (-1, None),  # a negative count is garbage
        ("-3", None),
        (12.5, None),  # so is a fractional one
        ("12.5", None),
        (True, None),
        ("NaN", None),
        ("Infinity", None),
        ("1_000", None),
        ("twelve", None),
        (None, None),
        ([1], None),
    ],
)
def test_counts(value: Any, expected: int | None) -> None:
    assert to_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (812, 812.0),
        (-0.5, -0.5),
        ("-0.5", -0.5),
        ("+2.5e2", 250.0),
        (".5", 0.5),
        (float("nan"), None),
        (float("inf"), None),
        ("inf", None),
        (1e300, None),
        (False, None),
        ("", None),
        ({}, None),
    ],
)
def test_measures(value: Any, expected: float | None) -> None:
    assert to_float(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(True, True), ("TRUE", True), ("yes", True), ("y", True), (1, True), ("1", True)],
        *[(False, False), ("false", False), ("No", False), ("0", False), (0, False)],
        *[("banana", None), (None, None), ("", None)],
    ],
)
def test_flags(value: Any, expected: bool | None) -> None:
    assert to_bool(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-15T14:30:00Z", dt.datetime(2025, 1, 15, 14, 30)),
        ("2025-01-15T16:30:00+02:00", dt.datetime(2025, 1, 15, 14, 30)),
        ("2025-01-15 14:30:00", dt.datetime(2025, 1, 15, 14, 30)),
        (1736951400, dt.datetime(2025, 1, 15, 14, 30)),
        ("1736951400000", dt.datetime(2025, 1, 15, 14, 30)),
        (1736951400000000, dt.datetime(2025, 1, 15, 14, 30)),
        (1736951400000000000, dt.datetime(2025, 1, 15, 14, 30)),
        (5, None),  # too early to be a time
        (True, None),
        ("soon", None),
    ],
)
def test_times(value: Any, expected: dt.datetime | None) -> None:
    assert to_time(value) == expected


def _span(**attrs: Any) -> Any:
    return to_call(dict(attrs), trace_id="a" * 32, span_id="b" * 16, parent_span_id=None, name="chat m",
                   start_ns=1, end_ns=2)  # fmt: skip


def _line(**fields: Any) -> Any:
    return jsonl.parse_record(json.dumps(fields), "key", dt.datetime(2025, 1, 1))


@pytest.mark.parametrize("value", [-5, 12.5, "12.5", "1e3", 2**60, "7"])
def test_a_span_and_an_imported_line_read_a_count_alike(value: Any) -> None:
    span = _span(**{"gen_ai.usage.output_tokens": value, "tokentrail.chunks": value})
    line = _line(output_tokens=value, chunks=value)
    assert (span.output_tokens, span.chunks) == (line.output_tokens, line.chunks) == (to_int(value),) * 2


@pytest.mark.parametrize("value", ["1", "yes", "no", "banana", 1])
def test_a_span_and_an_imported_line_read_a_flag_alike(value: Any) -> None:
    span = _span(**{"gen_ai.request.stream": value})
    line = _line(stream=value)
    assert span.stream == line.stream == bool(to_bool(value))
