"""The Store protocol shared by every backend, and its errors.

Errors:
    StoreError            base class
    ├── StoreBusy         the write queue is full; try again later (the collector answers 503)
    ├── QueryTimeout      a query ran past its time limit
    └── QueryFailed       the backend rejected a query (bad SQL, bad types); carries the backend's message
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from tokentrail.exceptions import TokentrailError
from tokentrail.model import Call

if TYPE_CHECKING:
    from tokentrail.store.backlog import Backlog

DEFAULT_QUERY_TIMEOUT_S = 30.0


class StoreError(TokentrailError):
    pass


class StoreBusy(StoreError):
    pass


class QueryTimeout(StoreError):
    pass


class QueryFailed(StoreError):
    pass


KINDS = ("string", "integer", "float", "boolean", "timestamp", "list", "object")
"""The value types a query result's columns are reported in, whatever the backend."""


@dataclasses.dataclass(slots=True)
class QueryResult:
    """Rows and, in the same order, each column's name and value type (one of `KINDS`, taken from the
    backend's own column types, so a result with no rows still has types)."""

    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]

    def described_columns(self) -> list[dict[str, str]]:
        """``[{"name": ..., "type": ...}, ...]``: how the API and ``--format json`` describe the columns."""
        return [{"name": c, "type": t} for c, t in zip(self.columns, self.types, strict=True)]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class Store(Protocol):
    dialect: str

    def write(self, calls: Sequence[Call]) -> int:
        """Store the calls; block until committed. Returns how many were new (idempotent on ids)."""
        ...

    def write_metrics(self, points: Sequence[tuple[Any, ...]]) -> int: ...

    def submit(self, calls: Sequence[Call]) -> concurrent.futures.Future[int]:
        """Queue calls for the writer without waiting; raises StoreBusy when the queue is full."""
        ...

    def submit_arrow(self, table: Any) -> concurrent.futures.Future[int]:
        """Like submit, for spans already in the Arrow form of model.COLUMNS."""
        ...

    def submit_metrics(self, points: Sequence[tuple[Any, ...]]) -> concurrent.futures.Future[int]: ...

    def submit_samples(self, table: Any) -> concurrent.futures.Future[int]:
        """The samples (the `sample` struct of `calls_to_arrow`) of spans already stored, each span's first
        sample only; resolves to the count of samples added."""
        ...

    def submit_log_records(self, table: Any) -> concurrent.futures.Future[int]:
        """Log records in the Arrow form of model.LOG_RECORD_COLUMNS; resolves to the count added (a
        record_id already stored, or repeated in the table, adds nothing)."""
        ...

    def expected_wait_s(self) -> float:
        """How long rows submitted now would wait for their commit (0 until a commit rate is measured)."""
        ...

    @property
    def upstream(self) -> Backlog:
        """Work on its way to the writer, counted by the caller (the collector: request bodies being
        decoded); a group waits briefly for it (store/writer.py)."""
        ...

    def replace(self, calls: Sequence[Call]) -> int:
        """Overwrite stored spans that have the same ids (e.g. after repricing); returns rows written."""
        ...

    def query(
        self, sql: str, params: Sequence[Any] = (), timeout_s: float | None = None, dialect: str = "duckdb"
    ) -> QueryResult:
        """Run read SQL written in `dialect` (transpiled when it is not the store's own) with `?` values."""
        ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """A small write outside the span path (budget definitions), in the DuckDB dialect."""
        ...

    def run_task(self, task: Callable[[Any], int]) -> concurrent.futures.Future[int]:
        """Run `task` on the writer's own connection, alone between batches (maintenance such as retention).

        The connection is a DuckDB cursor on DuckDB and the ClickHouse engine on ClickHouse."""
        ...

    def close(self) -> None: ...
