"""The official clients the demo drives (openai, anthropic, boto3 bedrock-runtime) pointed at the simulator,
and the bookkeeping every call shares: the simulator directive and the ledger entry.

A directive (``x-tokentrail-sim`` header, e.g. ``{"fail": [429, 429]}``) goes as ``extra_headers`` to
openai and anthropic, and through a botocore ``before-sign`` hook, fed by a contextvar, to Bedrock.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

from tokentrail.demo.ledger import Entry, Ledger
from tokentrail.errors import FILTERED_STOP_REASONS

DIRECTIVE_HEADER: Final = "x-tokentrail-sim"
MAX_ATTEMPTS: Final = 3  # each SDK's own retry policy below: the first try and two retries
RETRIED: Final = frozenset({408, 409, 429, 500, 502, 503, 504, 529})  # statuses all three SDKs retry

Directive = Mapping[str, Any]
_BEDROCK_DIRECTIVE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tokentrail_demo_bedrock_directive", default=None
)


class Providers:
    """One client per provider, shared by every thread (all three are thread-safe), and the ledger."""

    def __init__(self, sim_url: str, ledger: Ledger, pool_size: int = 32) -> None:
        import anthropic
        import boto3
        import openai
        from botocore.config import Config

        self.ledger = ledger
        # Typed Any: the scenarios pass plain dicts, which the SDKs' TypedDict overloads do not describe.
        self.openai: Any = openai.OpenAI(
            base_url=sim_url + "/v1", api_key="demo", max_retries=MAX_ATTEMPTS - 1
        )
        self.anthropic: Any = anthropic.Anthropic(
            base_url=sim_url, api_key="demo", max_retries=MAX_ATTEMPTS - 1
        )
        config = Config(
            retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}, max_pool_connections=pool_size
        )
        self.bedrock: Any = boto3.client(
            "bedrock-runtime",
            endpoint_url=sim_url,
            region_name="us-east-1",
            aws_access_key_id="demo",
            aws_secret_access_key="demo",
            config=config,
        )
        self.bedrock.meta.events.register("before-sign.bedrock-runtime.*", _add_bedrock_directive)

    def close(self) -> None:
        self.openai.close()
        self.anthropic.close()
        self.bedrock.close()

    def __enter__(self) -> Providers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def call(
        self, provider: str, model: str, api: str, stream: bool, directive: Directive | None
    ) -> Iterator[Entry]:
        """Record one call in the ledger: expected attempts and the outcome (tokens stay 0 on failure)."""
        entry = self.ledger.start(provider, model, api, stream)
        entry.attempts = expected_attempts(directive)
        token = _BEDROCK_DIRECTIVE.set(json.dumps(directive) if directive else None)
        try:
            yield entry
            if entry.error in FILTERED_STOP_REASONS:
                entry.status = "error"
        except Exception as exc:
            entry.status, entry.error = "error", type(exc).__name__
            entry.input_tokens = entry.output_tokens = entry.cache_read_tokens = entry.cache_write_tokens = 0
            raise
        finally:
            _BEDROCK_DIRECTIVE.reset(token)
            self.ledger.add(entry)


def headers(directive: Directive | None) -> dict[str, str] | None:
    """``extra_headers`` for openai and anthropic."""
    return {DIRECTIVE_HEADER: json.dumps(directive)} if directive else None


def expected_attempts(directive: Directive | None) -> int:
    """Attempts the SDK makes when its first `n` attempts fail with a retried status: n + 1, at most
    MAX_ATTEMPTS (a content filter or a non-retried status ends the call at that attempt)."""
    failing = 0
    for entry in (directive or {}).get("fail") or ():
        if not (isinstance(entry, int) and entry in RETRIED):
            break
        failing += 1
    return min(failing + 1, MAX_ATTEMPTS)


def _add_bedrock_directive(request: Any, **_: Any) -> None:
    directive = _BEDROCK_DIRECTIVE.get()
    if directive:
        request.headers[DIRECTIVE_HEADER] = directive
