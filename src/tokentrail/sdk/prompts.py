"""`tokentrail.prompt(name, stage="prod")`: the version a stage holds, served from a local cache.

- The first use fetches ``GET /api/prompts/{name}`` from the collector (authenticated with
  ``TOKENTRAIL_INGEST_KEY``, which then needs the ``read`` or ``prompts:read`` scope). When the collector
  cannot answer, the disk copy of the last fetch is used (``TOKENTRAIL_CACHE_DIR``, default
  ``~/.cache/tokentrail``, under ``prompts/``), and without one the ``fallback=`` (a template string, or
  a mapping with ``template`` or ``messages``). With none of these the first use raises `PromptUnavailable`.
- After that the application never waits on the network: a read older than ``cache_ttl_s`` starts one
  background refresh and answers from the cache (stale-while-revalidate). So a promotion or a rollback
  reaches a running application within one TTL of its next use.
- Calls made inside ``with p:`` (or after ``p.bind()`` in that context) carry the labels ``prompt_name``,
  ``prompt_version`` (the sequence number) and ``prompt_content_id``.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from tokentrail.exceptions import TokentrailError
from tokentrail.sdk import context as ctx

log = logging.getLogger(__name__)


class PromptUnavailable(TokentrailError):
    """No prompt could be had: the collector did not answer, no disk copy, no fallback."""


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """One version as served: the fields of GET /api/prompts/{name}'s version entry."""

    version: int | None
    content_id: str | None
    template: str | None
    messages: tuple[Mapping[str, str], ...] | None
    model: str | None
    params: Mapping[str, Any]

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Snapshot:
        messages = body.get("messages")
        return cls(
            body.get("version"),
            body.get("content_id"),
            body.get("template"),
            tuple(messages) if messages is not None else None,
            body.get("model"),
            body.get("params") or {},
        )

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["messages"] = list(self.messages) if self.messages is not None else None
        return out


def pick(body: Mapping[str, Any], stage: str | None, version: int | None) -> Snapshot:
    """The version `stage` holds (or version `version`) in a GET /api/prompts/{name} answer."""
    wanted = version if version is not None else (body.get("stages") or {}).get(stage)
    if wanted is None:
        raise PromptUnavailable(f"stage {stage!r} of prompt {body.get('name')!r} holds no version")
    for entry in body.get("versions") or []:
        if entry.get("version") == wanted:
            return Snapshot.from_json(entry)
    raise PromptUnavailable(f"prompt {body.get('name')!r} has no version {wanted}")


def as_fallback(value: str | Mapping[str, Any]) -> Snapshot:
    return Snapshot.from_json({"template": value} if isinstance(value, str) else value)


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    endpoint: str
    ingest_key: str | None
    cache_dir: Path
    timeout_s: float

    def fetch(self, name: str) -> dict[str, Any]:
        """One blocking GET; raises OSError, http.client.HTTPException or ValueError."""
        from tokentrail.sdk.export import Transport

        status, body = Transport(self.endpoint, self.ingest_key).get(
            f"/api/prompts/{quote(name)}", self.timeout_s
        )
        if status != 200:
            raise ValueError(f"GET /api/prompts/{name} answered HTTP {status}")
        found: dict[str, Any] = json.loads(body)
        return found

    def disk_path(self, name: str, selector: str) -> Path:
        where = hashlib.sha256(self.endpoint.encode()).hexdigest()[:12]
        key = hashlib.sha256(f"{name}\0{selector}".encode()).hexdigest()[:24]
        return self.cache_dir / "prompts" / where / f"{key}.json"


class Prompt:
    """A prompt version served from cache; see the module docstring. Thread-safe."""

    def __init__(
        self,
        source: Source,
        name: str,
        stage: str | None = "prod",
        version: int | None = None,
        cache_ttl_s: float = 60.0,
        fallback: str | Mapping[str, Any] | None = None,
    ) -> None:
        self.name, self.stage, self._wanted, self.cache_ttl_s = name, stage, version, cache_ttl_s
        self._source = source
        self._selector = f"v{version}" if version is not None else f"stage:{stage}"
        self._lock = threading.Lock()
        self._refreshing = False
        self._tokens: contextvars.ContextVar[tuple[contextvars.Token[ctx.LabelSet], ...]] = (
            contextvars.ContextVar(f"tokentrail_prompt_{id(self)}", default=())
        )
        self._snapshot, self._fetched_at = self._first(fallback), time.monotonic()

    # -- loading
    def _first(self, fallback: str | Mapping[str, Any] | None) -> Snapshot:
        try:
            return self._load()
        except Exception as exc:  # the collector is down or refuses: the disk copy, else the fallback
            error = exc
        path = self._source.disk_path(self.name, self._selector)
        try:
            return Snapshot.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pass
        if fallback is not None:
            return as_fallback(fallback)
        raise PromptUnavailable(f"cannot fetch prompt {self.name!r} ({error}) and have no copy or fallback")

    def _load(self) -> Snapshot:
        snapshot = pick(self._source.fetch(self.name), self.stage, self._wanted)
        self._save(snapshot)
        return snapshot

    def _save(self, snapshot: Snapshot) -> None:
        path = self._source.disk_path(self.name, self._selector)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(snapshot.to_json()), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            log.warning("tokentrail: cannot keep a disk copy of prompt %r: %s", self.name, exc)

    def _current(self) -> Snapshot:
        if time.monotonic() - self._fetched_at >= self.cache_ttl_s:
            with self._lock:
                start, self._refreshing = not self._refreshing, True
            if start:
                threading.Thread(target=self._refresh, name="tokentrail-prompt", daemon=True).start()
        return self._snapshot

    def _refresh(self) -> None:
        try:
            self._snapshot = self._load()
        except Exception as exc:
            log.warning(
                "tokentrail: cannot refresh prompt %r, serving the cached version: %s", self.name, exc
            )
        finally:
            self._fetched_at = time.monotonic()
            with self._lock:
                self._refreshing = False

    # -- the version
    @property
    def text(self) -> str | None:
        return self._current().template

    @property
    def messages(self) -> list[dict[str, str]] | None:
        found = self._current().messages
        return [dict(m) for m in found] if found is not None else None

    @property
    def version(self) -> int | None:
        return self._current().version

    @property
    def content_id(self) -> str | None:
        return self._current().content_id

    @property
    def model(self) -> str | None:
        return self._current().model

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._current().params)

    def format(self, **values: Any) -> Any:
        """The template filled in (a string), or the messages with each content filled in (a list)."""
        snapshot = self._current()
        if snapshot.messages is None:
            return (snapshot.template or "").format(**values)
        return [{**m, "content": m["content"].format(**values)} for m in snapshot.messages]

    # -- labels
    def labels(self) -> dict[str, object]:
        snapshot = self._current()
        return {
            "prompt_name": self.name,
            "prompt_version": snapshot.version,
            "prompt_content_id": snapshot.content_id,
        }

    def bind(self) -> Prompt:
        """Label the calls made from here on in this context (thread or task) with this version."""
        ctx.LABELS_VAR.set(ctx.LABELS_VAR.get().merged(self.labels()))
        return self

    def __enter__(self) -> Prompt:
        token = ctx.LABELS_VAR.set(ctx.LABELS_VAR.get().merged(self.labels()))
        self._tokens.set((*self._tokens.get(), token))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        *rest, token = self._tokens.get()
        self._tokens.set(tuple(rest))
        ctx.LABELS_VAR.reset(token)
