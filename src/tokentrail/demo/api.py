"""Reading the collector over its HTTP API (the DuckDB file is locked by the collector process)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx

from tokentrail.demo.options import DemoError
from tokentrail.store import QueryResult


def iso(when: dt.datetime) -> str:
    """Naive ISO-8601 UTC, as the API reads it."""
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def custom_range(start: dt.datetime, end: dt.datetime) -> dict[str, str]:
    return {"since": "custom", "start": iso(start), "end": iso(end)}


class CollectorApi:
    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, **params: Any) -> Any:
        response = self._client.get(path, params={k: v for k, v in params.items() if v is not None})
        if response.status_code != 200:
            raise DemoError(f"the collector answered {response.status_code} to {path}: {response.text[:300]}")
        return response.json()

    def summary(
        self, start: dt.datetime, end: dt.datetime, by: str | None = None, **filters: str
    ) -> QueryResult:
        data = self.get("/api/summary", start=iso(start), end=iso(end), by=by, **filters)
        columns: list[str] = data["columns"]
        rows = [tuple(row.get(c) for c in columns) for row in data["rows"]]
        return QueryResult(columns, [""] * len(columns), rows)

    def llm_calls(self, start: dt.datetime, end: dt.datetime) -> int:
        result = self.summary(start, end)
        return int(result.dicts()[0]["calls"] or 0) if result.rows else 0

    def wait_for_calls(self, start: dt.datetime, end: dt.datetime, expected: int, timeout_s: float) -> int:
        """Poll until the collector holds `expected` LLM calls in the range; returns the last count seen."""
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self.llm_calls(start, end)
            if seen >= expected or time.monotonic() >= deadline:
                return seen
            time.sleep(0.2)
