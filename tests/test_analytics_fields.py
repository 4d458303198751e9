"""Identifiers reach the typed queries' SQL only from fixed tables: every name in a table works on a real
store, and a name outside it is refused with BadRequest (a ValueError: 400 at the API, exit 1 at the CLI)
before any SQL holding it is built."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tokentrail.analytics.calls import list_calls
from tokentrail.analytics.chargeback import CHARGEBACK_BY, chargeback
from tokentrail.analytics.compare import compare, period_compare
from tokentrail.analytics.dashboard import breakdowns, top_values
from tokentrail.analytics.fields import DIMENSIONS, FILTERS, SORTS, where
from tokentrail.analytics.ranges import TimeRange
from tokentrail.analytics.summary import summary
from tokentrail.exceptions import BadRequest
from tokentrail.model import DAILY_COST_DIMENSIONS, Call
from tokentrail.retention import Policy, apply_retention
from tokentrail.store import QueryResult
from tokentrail.store.duckdb import DuckDBStore

NOW = dt.datetime(2026, 11, 21, 12)
RANGE = TimeRange(NOW - dt.timedelta(days=1), NOW + dt.timedelta(hours=1))
OLD_DAYS = TimeRange(NOW - dt.timedelta(days=10), NOW + dt.timedelta(hours=1))  # holds deleted days
HOSTILE = "tenant) OR 1=1; DROP TABLE spans --"


class Recording:
    """A real store that keeps the text of every SQL statement it is asked to run."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store, self.sql = store, list[str]()
        self.dialect = store.dialect

    def query(self, sql: str, params: Sequence[Any] | None = None, **options: Any) -> QueryResult:
        self.sql.append(sql)
        return self.store.query(sql, params, **options)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBStore]:
    """A few calls today, and a few 8 days ago whose day retention has rolled up and deleted."""
    path: Path = tmp_path_factory.mktemp("fields") / "fields.duckdb"
    with DuckDBStore(path) as duck:
        duck.write([_call(i, NOW - dt.timedelta(hours=i)) for i in range(6)])
        duck.write([_call(10 + i, NOW - dt.timedelta(days=8, hours=i)) for i in range(3)])
        apply_retention(duck, Policy(calls=5), now=NOW)
        yield duck


def _call(i: int, start: dt.datetime) -> Call:
    return Call(
        trace_id=f"{i + 1:032x}",
        span_id=f"{i + 1:016x}",
        kind="llm",
        name="chat",
        start_time=start,
        tenant=f"t{i % 2}",
        request_model="gpt-4o",
        status="ok",
        cost_usd=0.01 * (i + 1),
        duration_ms=100.0 + i,
    )


def test_the_old_days_were_rolled_up(store: DuckDBStore) -> None:
    assert store.query("SELECT count(*) FROM daily_costs").rows[0][0] > 0
    assert store.query("SELECT count(*) FROM calls").rows[0][0] == 6


def test_every_dimension_groups_and_every_field_filters(store: DuckDBStore) -> None:
    for name in DIMENSIONS:
        rows = summary(store, RANGE, [name]).dicts()
        assert sum(r["calls"] for r in rows) == 6, name
    for name in FILTERS:
        assert list_calls(store, RANGE, {name: "no such value"}).rows == [], name
    assert [r["tenant"] for r in summary(store, RANGE, ["tenant"], {"tenant": "t1"}).dicts()] == ["t1"]


def test_every_sort_column_sorts(store: DuckDBStore) -> None:
    for name in SORTS:
        assert len(list_calls(store, RANGE, sort=name).rows) == 6, name
    costs = [r["cost_usd"] for r in list_calls(store, RANGE, sort="cost_usd", descending=False).dicts()]
    assert costs == sorted(costs)


def test_every_chargeback_label_charges_kept_and_deleted_calls(store: DuckDBStore) -> None:
    for by in CHARGEBACK_BY:
        result = chargeback(store, RANGE, by)
        assert result.total["calls"] == 6 and sum(r["calls"] for r in result.rows) == 6, by
    for by in DAILY_COST_DIMENSIONS:  # the labels the daily rollup of deleted calls keeps
        result = chargeback(store, OLD_DAYS, by, {"tenant": "t0"})
        assert result.total["calls"] == 5 and sum(r["calls"] for r in result.rows) == 5, by


Query = Callable[..., object]
REFUSALS: dict[str, tuple[Query, str]] = {
    "summary by": (lambda s, n: summary(s, RANGE, [n]), "cannot group by"),
    "summary filter": (lambda s, n: summary(s, RANGE, ["tenant"], {n: "x"}), "cannot filter on"),
    "call list sort": (lambda s, n: list_calls(s, RANGE, sort=n), "cannot sort by"),
    "call list filter": (lambda s, n: list_calls(s, RANGE, {n: "x"}), "cannot filter on"),
    "breakdowns": (lambda s, n: breakdowns(s, RANGE, ["model", n]), "cannot group by"),
    "period compare by": (lambda s, n: period_compare(s, RANGE, [n]), "cannot group by"),
    "period compare filter": (lambda s, n: period_compare(s, RANGE, (), {n: "x"}), "cannot filter on"),
    "compare by": (lambda s, n: compare(s, RANGE, n, ["a"]), "cannot group by"),
    "top values": (lambda s, n: top_values(s, RANGE, n), "cannot group by"),
    "chargeback by": (lambda s, n: chargeback(s, RANGE, n), "cannot charge back by"),
    "chargeback filter": (lambda s, n: chargeback(s, RANGE, "tenant", {n: "x"}), "cannot filter on"),
    "chargeback over deleted days": (lambda s, n: chargeback(s, OLD_DAYS, n), "cannot charge back by"),
    "chargeback filter over deleted days": (
        lambda s, n: chargeback(s, OLD_DAYS, "tenant", {n: "x"}),
        "cannot filter on",
    ),
}


@pytest.mark.parametrize("name", [HOSTILE, "password", ""])
@pytest.mark.parametrize("entry", list(REFUSALS))
def test_an_unknown_name_is_refused_before_any_sql_holds_it(
    store: DuckDBStore, entry: str, name: str
) -> None:
    query, message = REFUSALS[entry]
    recording = Recording(store)
    with pytest.raises(BadRequest, match=re.escape(f"{message} {name!r}; ")) as err:
        query(recording, name)
    assert isinstance(err.value, ValueError)
    assert not [sql for sql in recording.sql if name and name in sql]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            lambda s: summary(s, RANGE, ["trace_id"]),
            "cannot group by 'trace_id'",
        ),  # a column, not a dimension
        (lambda s: list_calls(s, RANGE, {"hour": "x"}), "cannot filter on 'hour'"),  # a dimension only
        (lambda s: list_calls(s, RANGE, sort="metadata"), "cannot sort by 'metadata'"),  # JSON, not sortable
        (lambda s: chargeback(s, RANGE, "status"), "cannot charge back by 'status'"),
        (lambda s: chargeback(s, OLD_DAYS, "user_id"), "cannot group or filter by 'user_id' over days"),
    ],
    ids=["group-by-column", "filter-on-dimension", "sort-by-json", "charge-by-status", "rollup-by-user"],
)
def test_a_real_column_outside_its_table_is_refused(store: DuckDBStore, query: Query, message: str) -> None:
    with pytest.raises(BadRequest, match=re.escape(message)):
        query(store)


def test_a_filter_names_its_column_from_the_table_not_from_the_request() -> None:
    clause, params = where(RANGE, {"model": "gpt-4o", "trace_id": "ab"})
    assert clause.endswith(f"{FILTERS['model']} = ? AND trace_id = ?")
    assert params[2:] == ["gpt-4o", "ab"]
    with pytest.raises(BadRequest, match="cannot filter on 'day'"):
        where(RANGE, {"day": "2026-11-21"})  # a dimension to group by, not a field to filter on
