"""Running a replay: pick archived samples, re-send each through its provider's instrumented client (labels
experiment=replay-<id>, variant=candidate), and mark each one done once its span reached the collector."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tokentrail.archive.files import Row
from tokentrail.archive.reader import read_samples, since_time
from tokentrail.archive.target import open_target
from tokentrail.replay.prompts import Chosen, PromptMismatch
from tokentrail.replay.providers import make_client, send
from tokentrail.replay.requests import PROVIDERS, Doc, output_text
from tokentrail.replay.similarity import jaccard
from tokentrail.replay.state import ReplayState
from tokentrail.replay.where import compile_where
from tokentrail.sdk.instance import Tokentrail


@dataclasses.dataclass
class Options:
    source: str
    server: str
    since: str | None = None
    where: str | None = None
    limit: int | None = None
    model: str | None = None
    provider: str | None = None
    concurrency: int = 8
    endpoint: str | None = None
    s3_endpoint: str | None = None
    prompt: str | None = None  # NAME@VERSION


def key(row: Row) -> str:
    return f"{row['trace_id']}:{row['span_id']}"


def pick(options: Options, chosen: Chosen | None = None) -> list[Row]:
    """The archived samples to replay, oldest first, filtered by --where (and, with --prompt, to the calls
    of that prompt), cut at --limit."""
    where = compile_where(options.where) if options.where else (lambda _row: True)

    def keep(row: Row) -> bool:
        return where(row) and (chosen is None or chosen.uses(json.loads(row["document"])))

    target = open_target(options.source, options.s3_endpoint)
    rows = sorted((r for r in read_samples(target, since_time(options.since)) if keep(r)), key=_order)
    return rows[: options.limit] if options.limit is not None else rows


def _order(row: Row) -> tuple[Any, str]:
    return row["start_time"], key(row)


def skipped(row: Row, reason: str) -> dict[str, Any]:
    return {"sample": key(row), "error": True, "similarity": None, "skipped": reason}


class Replayer:
    def __init__(self, options: Options, state: ReplayState, chosen: Chosen | None = None) -> None:
        self.options, self.state, self.chosen = options, state, chosen
        self.experiment = f"replay-{state.id}"
        self.tt = Tokentrail(
            endpoint=options.server,
            service_name="tokentrail-replay",
            use_global_provider=False,
            capture_content=False,  # the replayed answers are compared in memory, never stored
        )
        self.tt.instrument()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, provider: str) -> Any:
        with self._lock:
            if provider not in self._clients:
                self._clients[provider] = make_client(provider, self.options.endpoint)
            return self._clients[provider]

    def request(self, row: Row) -> tuple[Doc, str | None, str | None]:
        """The document to send (with the chosen prompt version), its provider and model."""
        doc = json.loads(row["document"])
        if self.chosen is not None:
            doc = self.chosen.apply(doc)
        provider = self.options.provider or doc.get("provider")
        model = self.options.model or (self.chosen and self.chosen.model) or doc.get("model")
        return doc, provider, model

    def one(self, row: Row) -> dict[str, Any]:
        try:
            doc, provider, model = self.request(row)
        except PromptMismatch as exc:
            return skipped(row, str(exc))
        if provider not in PROVIDERS or not model:
            return skipped(row, f"provider {provider}")
        labels = {k: row.get(k) for k in ("app", "feature", "tenant") if row.get(k)}
        labels |= self.chosen.labels() if self.chosen is not None else {}
        try:
            with self.tt.labels(experiment=self.experiment, variant="candidate", **labels):
                text = send(provider, self.client(provider), doc, model)
        except Exception:  # the provider's error is recorded on the call's span; the replay goes on
            text = None
        self.tt.force_flush()
        similarity = None if text is None else jaccard(output_text(doc), text)
        return {"sample": key(row), "error": text is None, "similarity": similarity}

    def run(self, rows: list[Row], advance: Callable[[], None]) -> None:
        def task(row: Row) -> None:
            self.state.mark(self.one(row))
            advance()

        with ThreadPoolExecutor(max_workers=self.options.concurrency) as pool:
            for future in [pool.submit(task, row) for row in rows]:
                future.result()
        self.tt.shutdown()
