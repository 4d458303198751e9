"""The collector a replay records through: it stores the new calls (sent by the SDK), answers the comparison's
queries, and serves the prompt registry. Requests carry ``TOKENTRAIL_INGEST_KEY`` as a bearer key when set
(with keys configured it needs the ``ingest`` and ``read`` scopes, and ``prompts:read`` for ``--prompt``)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any
from urllib.parse import quote

import httpx

from tokentrail.exceptions import ExternalError

Rows = list[dict[str, Any]]
MEMBER_BATCH = 5000


class CollectorError(ExternalError):
    """The collector cannot be reached or refuses; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Collector:
    url: str
    key: str | None = dataclasses.field(
        default_factory=lambda: os.environ.get("TOKENTRAIL_INGEST_KEY") or None
    )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        try:
            response = httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)
        except httpx.TransportError as exc:
            raise CollectorError(
                f"no collector answers at {self.url} ({type(exc).__name__}); a replay records its calls "
                "through one: start `tokentrail serve`, or pass --server URL (or set TOKENTRAIL_ENDPOINT)"
            ) from None
        if response.status_code in (401, 403):
            raise CollectorError(
                f"the collector at {self.url} refused {method} {path} (HTTP {response.status_code}): set "
                "TOKENTRAIL_INGEST_KEY to a key with the ingest and read scopes (prompts:read for --prompt)"
            )
        return response

    def check(self) -> None:
        """Fail early, before anything is sent, when no collector answers."""
        self.request("GET", "/healthz")

    def query(self, text: str) -> Rows:
        response = self.request("POST", "/api/query", json={"query": text, "since": "36500d"})
        response.raise_for_status()
        body = response.json()
        names = [c["name"] for c in body["columns"]]
        return [dict(zip(names, row, strict=True)) for row in body["rows"]]

    def prompt(self, name: str) -> dict[str, Any]:
        """GET /api/prompts/{name}; LookupError when there is no such prompt."""
        response = self.request("GET", f"/api/prompts/{quote(name, safe='')}")
        if response.status_code == 404:
            raise LookupError(f"the collector at {self.url} has no prompt named {name!r}")
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def add_members(self, experiment: str, variant: str, ids: list[tuple[str, str]]) -> None:
        """Count the stored calls `ids` in the experiment's variant (POST /api/experiments/{name}/members)."""
        for at in range(0, len(ids), MEMBER_BATCH):
            calls = [list(pair) for pair in ids[at : at + MEMBER_BATCH]]
            path = f"/api/experiments/{quote(experiment, safe='')}/members"
            self.request("POST", path, json={"variant": variant, "calls": calls}).raise_for_status()
