"""Every SQL difference between DuckDB and ClickHouse that sqlglot does not already cover, in one place.

Each method returns a sqlglot expression; values arrive as sqlglot expressions or as Python values that
become sqlglot literals, never as SQL text.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Final

from sqlglot import exp

# Insights period units → (SQL interval unit, seconds).
PERIOD_UNITS: Final = {
    "ms": ("MILLISECOND", 0.001),
    "s": ("SECOND", 1),
    "m": ("MINUTE", 60),
    "h": ("HOUR", 3600),
    "d": ("DAY", 86400),
    "w": ("WEEK", 604800),
}
_EPOCH: Final = dt.datetime(1970, 1, 1)
_FIRST_MONDAY: Final = dt.datetime(1970, 1, 5)  # weeks start on Monday, as in ClickHouse


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _interval(amount: int, unit: str) -> exp.Interval:
    return exp.Interval(this=exp.Literal.string(str(amount)), unit=exp.var(PERIOD_UNITS[unit][0]))


def _text(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def to_utc_naive(value: dt.datetime) -> dt.datetime:
    """Stored times are naive UTC: convert an aware datetime, keep a naive one as it is."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


class Dialect:
    """The DuckDB spelling; `ClickHouse` overrides what differs."""

    name: ClassVar[str] = "duckdb"

    def timestamp(self, value: dt.datetime) -> exp.Expr:
        text = to_utc_naive(value).isoformat(sep=" ", timespec="microseconds")
        return exp.cast(_text(text), "TIMESTAMP")

    def json_lookup(self, column: exp.Expr, key: str) -> exp.Expr:
        """The string value of a top-level key of a JSON object column (null when missing)."""
        return _fn("json_extract_string", column, _text(f'$."{key}"'))

    def json_path(self, column: exp.Expr, keys: list[str], number: str | None = None) -> exp.Expr:
        """The value at a key path of a JSON object column: as ``number`` (``BIGINT`` or ``DOUBLE``; null
        when it is not one) if given, else text (an object or array as JSON text); null when missing."""
        path = "$" + "".join(f'."{key}"' for key in keys)
        text = _fn("json_extract_string", column, _text(path))
        return exp.TryCast(this=text, to=exp.DataType.build(number)) if number else text

    def bucket(self, ts: exp.Expr, amount: int, unit: str) -> exp.Expr:
        """Start of the ``amount``-``unit`` bucket of ``ts``, aligned on the Unix epoch (weeks on Monday)."""
        origin = _FIRST_MONDAY if unit == "w" else _EPOCH
        return _fn("time_bucket", _interval(amount, unit), ts, self.timestamp(origin))

    def shift(self, ts: exp.Expr, amount: int, unit: str) -> exp.Expr:
        return exp.Add(this=ts, expression=_interval(amount, unit))

    def to_millis(self, ts: exp.Expr) -> exp.Expr:
        # epoch_ms() rounds to the nearest millisecond; truncate like ClickHouse does
        return exp.IntDiv(this=_fn("epoch_us", ts), expression=exp.Literal.number(1000))

    def from_millis(self, millis: exp.Expr) -> exp.Expr:
        return _fn("epoch_ms", exp.cast(millis, "BIGINT"))

    def to_number(self, text: exp.Expr) -> exp.Expr:
        """A text value as a double, null when it is not a number."""
        return exp.TryCast(this=text, to=exp.DataType.build("DOUBLE"))

    def percentile(self, value: exp.Expr, fraction: float) -> exp.Expr:
        return exp.PercentileCont(this=value, expression=exp.Literal.number(fraction))

    def regexp_extract(self, text: exp.Expr, pattern: str, group: int) -> exp.Expr:
        return exp.RegexpExtract(this=text, expression=_text(pattern), group=exp.Literal.number(group))

    def format_time(self, ts: exp.Expr) -> exp.Expr:
        """ISO 8601 text with microseconds and a Z."""
        return _fn("strftime", ts, _text("%Y-%m-%dT%H:%M:%S.%fZ"))

    def json_object(self, pairs: list[tuple[str, exp.Expr]]) -> exp.Expr:
        """A JSON object text from (key, text value) pairs, keys in order, nulls kept."""
        args = [item for key, value in pairs for item in (_text(key), value)]
        return exp.cast(_fn("json_object", *args), "TEXT")


_CLICKHOUSE_NUMBERS: Final = {"BIGINT": "toInt64OrNull", "DOUBLE": "toFloat64OrNull"}


class ClickHouse(Dialect):
    name: ClassVar[str] = "clickhouse"

    def timestamp(self, value: dt.datetime) -> exp.Expr:
        text = to_utc_naive(value).isoformat(sep=" ", timespec="microseconds")
        return _fn("toDateTime64", _text(text), exp.Literal.number(6), _text("UTC"))

    def json_lookup(self, column: exp.Expr, key: str) -> exp.Expr:
        # JSONExtractString answers '' for a missing key.
        return exp.Nullif(this=_fn("JSONExtractString", column, _text(key)), expression=_text(""))

    def json_path(self, column: exp.Expr, keys: list[str], number: str | None = None) -> exp.Expr:
        def call(name: str) -> exp.Expr:
            return _fn(name, column.copy(), *(_text(key) for key in keys))

        if number:
            return _fn(_CLICKHOUSE_NUMBERS[number], call("JSONExtractRaw"))
        # JSONExtractString answers '' for anything but a string: numbers, booleans, objects and arrays
        # read as their raw JSON, as DuckDB's json_extract_string gives them; a missing key or null is null.
        kind = exp.cast(call("JSONType"), "TEXT")
        return (
            exp.case()
            .when(exp.EQ(this=kind, expression=_text("String")), call("JSONExtractString"))
            .when(exp.NEQ(this=kind.copy(), expression=_text("Null")), call("JSONExtractRaw"))
        )

    def bucket(self, ts: exp.Expr, amount: int, unit: str) -> exp.Expr:
        # toStartOfInterval aligns hours within the day; minutes align on the epoch like DuckDB.
        if unit == "h":
            amount, unit = amount * 60, "m"
        start = _fn("toStartOfInterval", ts, _interval(amount, unit))
        return _fn("toDateTime64", start, exp.Literal.number(6), _text("UTC"))

    def to_millis(self, ts: exp.Expr) -> exp.Expr:
        return _fn("toUnixTimestamp64Milli", _fn("toDateTime64", ts, exp.Literal.number(6), _text("UTC")))

    def from_millis(self, millis: exp.Expr) -> exp.Expr:
        return _fn("fromUnixTimestamp64Milli", _fn("toInt64", millis), _text("UTC"))

    def to_number(self, text: exp.Expr) -> exp.Expr:
        return _fn("toFloat64OrNull", text)

    def percentile(self, value: exp.Expr, fraction: float) -> exp.Expr:
        # ClickHouse's quantile() samples (exact up to 8192 values), as Insights' pct is approximate.
        return exp.Quantile(this=value, quantile=exp.Literal.number(fraction))

    def regexp_extract(self, text: exp.Expr, pattern: str, group: int) -> exp.Expr:
        return _fn("regexpExtract", text, _text(pattern), exp.Literal.number(group))

    def format_time(self, ts: exp.Expr) -> exp.Expr:
        return _fn("formatDateTime", ts, _text("%Y-%m-%dT%H:%i:%S.%fZ"))

    def json_object(self, pairs: list[tuple[str, exp.Expr]]) -> exp.Expr:
        args = [item for key, value in pairs for item in (_text(key), value)]
        return _fn("toJSONString", _fn("map", *args))


DIALECTS: Final[dict[str, Dialect]] = {"duckdb": Dialect(), "clickhouse": ClickHouse()}
