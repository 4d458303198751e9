"""Running queries against a store: the query language, and read-only SQL for power users."""

from __future__ import annotations

from tokentrail.analytics.ranges import TimeRange
from tokentrail.query.compiler import DEFAULT_LIMIT, compile_query
from tokentrail.query.errors import QueryError
from tokentrail.query.readonly import check_read_only
from tokentrail.store import QueryResult, Store

TOO_DEEP = "the query nests too deeply (an expression of several hundred terms)"


def run_query(
    store: Store, text: str, time_range: TimeRange, limit: int = DEFAULT_LIMIT, timeout_s: float | None = None
) -> QueryResult:
    """Compile for the store's dialect, run under the time limit, name the columns as the query did."""
    try:
        compiled = compile_query(
            text, dialect=store.dialect, start=time_range.start, end=time_range.end, limit=limit
        )
        result = store.query(compiled.sql, compiled.params, timeout_s=timeout_s, dialect=store.dialect)
    except RecursionError:  # a chain of hundreds of terms nests deeper than the compiler recurses
        raise QueryError(TOO_DEEP, hint="split the expression, or use `in [...]` for many values") from None
    if len(compiled.columns) == len(result.columns):
        result.columns = list(compiled.columns)
    return result


def run_sql(store: Store, sql: str, timeout_s: float | None = None) -> QueryResult:
    """One read-only statement in the store's own dialect; anything else raises QueryError."""
    checked = check_read_only(sql, store.dialect)
    return store.query(checked, timeout_s=timeout_s, dialect=store.dialect)
