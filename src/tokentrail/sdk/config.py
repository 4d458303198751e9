"""SDK settings, resolved once: argument > environment > default.

Environment variables (documented constants below):

    TOKENTRAIL_ENDPOINT            collector base URL (default http://127.0.0.1:4318)
    TOKENTRAIL_INGEST_KEY          sent as ``Authorization: Bearer <key>`` when set
    TOKENTRAIL_SERVICE_NAME        ``service.name`` (falls back to OTEL_SERVICE_NAME)
    TOKENTRAIL_ENVIRONMENT         ``deployment.environment.name`` on the resource
    TOKENTRAIL_SEND                ``0``/``false`` keeps spans in-process (no exporter thread)
    TOKENTRAIL_SPOOL_DIR           where batches wait while the collector is unreachable
    TOKENTRAIL_SPOOL_MAX_MB        size cap of the spool (default 64)
    TOKENTRAIL_CACHE_DIR           disk copies of prompts (default ~/.cache/tokentrail)
    TOKENTRAIL_OPENAI_STREAM_USAGE ``0`` stops asking streamed OpenAI Chat Completions for usage (default on)
    TOKENTRAIL_PROPAGATE_THREADS   ``0`` stops carrying labels and the trace into threads (default on)
    TOKENTRAIL_CAPTURE_CONTENT     ``1`` sends prompts and responses as GenAI content attributes (default off)

The SDK runs inside host applications, so this module is deliberately plain (a frozen dataclass and
``os.environ``) instead of pydantic-settings, which the server uses: importing ``tokentrail`` stays cheap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

ENV_ENDPOINT: Final = "TOKENTRAIL_ENDPOINT"
ENV_INGEST_KEY: Final = "TOKENTRAIL_INGEST_KEY"
ENV_SERVICE_NAME: Final = "TOKENTRAIL_SERVICE_NAME"
ENV_OTEL_SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
ENV_ENVIRONMENT: Final = "TOKENTRAIL_ENVIRONMENT"
ENV_SEND: Final = "TOKENTRAIL_SEND"
ENV_SPOOL_DIR: Final = "TOKENTRAIL_SPOOL_DIR"
ENV_SPOOL_MAX_MB: Final = "TOKENTRAIL_SPOOL_MAX_MB"
ENV_OPENAI_STREAM_USAGE: Final = "TOKENTRAIL_OPENAI_STREAM_USAGE"
ENV_PROPAGATE_THREADS: Final = "TOKENTRAIL_PROPAGATE_THREADS"
ENV_CACHE_DIR: Final = "TOKENTRAIL_CACHE_DIR"
ENV_CAPTURE_CONTENT: Final = "TOKENTRAIL_CAPTURE_CONTENT"

DEFAULT_ENDPOINT: Final = "http://127.0.0.1:4318"
DEFAULT_SERVICE_NAME: Final = "unknown_service"

CaptureHook = Callable[[Mapping[str, Any], Any, "str | None"], None]
"""``capture_content(attributes, request_messages, response_text)``: called once per finished LLM call whose
content is captured."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    endpoint: str = DEFAULT_ENDPOINT
    ingest_key: str | None = None
    service_name: str = DEFAULT_SERVICE_NAME
    environment: str | None = None
    send_to_collector: bool = True
    span_processors: tuple[SpanProcessor, ...] = ()
    use_global_provider: bool = True
    set_global_provider: bool = False
    capture_content: bool | CaptureHook = False
    """Send each call's prompt and response as GenAI content attributes (``gen_ai.input.messages``, ...), for
    the collector to sample and redact. Off by default; ``labels(..., capture_content=...)`` overrides it for
    a block. A function is called with (attributes, request messages, response text) too, and turns capture
    on."""
    hash_user_id: bool = False
    openai_stream_usage: bool = True
    """Add ``stream_options={"include_usage": True}`` to streamed OpenAI Chat Completions requests that set no
    ``stream_options`` (a request that sets them is sent as it is), so their spans carry token counts and
    cost. The usage-only last chunk this makes the API send (``choices == []``) is read and then hidden from
    the application, which iterates exactly the chunks it would have without tokentrail."""
    propagate_threads: bool = True
    """``instrument()`` makes ``threading.Thread.start`` and ``ThreadPoolExecutor.submit`` carry the
    caller's context (labels, the current trace and span) into the thread (`tokentrail.sdk.threads`)."""
    raise_internal_errors: bool | None = None
    spool_dir: Path | None = None
    cache_dir: Path | None = None
    spool_max_bytes: int = 64 * 1024 * 1024
    queue_max_spans: int = 20_000  # bounds the span worker's queue and the exporter's, each
    batch_max_spans: int = 512
    flush_interval_s: float = 1.0
    export_timeout_s: float = 10.0
    retry_deadline_s: float = 30.0
    shutdown_timeout_s: float = 5.0
    metrics_interval_s: float = 60.0

    @property
    def raises(self) -> bool:
        """Internal errors raise under pytest (or when asked), and are logged otherwise."""
        if self.raise_internal_errors is not None:
            return self.raise_internal_errors
        return "PYTEST_CURRENT_TEST" in os.environ

    def cache_path(self) -> Path:
        """Where the SDK keeps disk copies (prompts): TOKENTRAIL_CACHE_DIR or the user's cache folder."""
        return self.cache_dir or _default_cache_dir()

    def spool_path(self) -> Path:
        """The spool folder of this endpoint (one per endpoint, so batches go where they were meant to)."""
        base = self.spool_dir or _default_cache_dir() / "spool"
        digest = hashlib.sha256(self.endpoint.encode()).hexdigest()[:12]
        return base / digest


def _default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "tokentrail"


def _env_bool(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip().lower() not in ("0", "false", "no", "off")


def resolve(
    *,
    endpoint: str | None = None,
    ingest_key: str | None = None,
    service_name: str | None = None,
    environment: str | None = None,
    send_to_collector: bool | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    span_processors: Sequence[SpanProcessor] = (),
    **rest: Any,
) -> Settings:
    """Build the settings: each argument wins over its environment variable, which wins over the default."""
    env = os.environ
    spool = spool_dir if spool_dir is not None else env.get(ENV_SPOOL_DIR)
    if "cache_dir" not in rest and env.get(ENV_CACHE_DIR):
        rest["cache_dir"] = Path(env[ENV_CACHE_DIR])
    spool_mb = env.get(ENV_SPOOL_MAX_MB)
    if spool_mb and "spool_max_bytes" not in rest:
        rest["spool_max_bytes"] = int(float(spool_mb) * 1024 * 1024)
    send = send_to_collector if send_to_collector is not None else _env_bool(ENV_SEND)
    for key, name in (
        ("openai_stream_usage", ENV_OPENAI_STREAM_USAGE),
        ("propagate_threads", ENV_PROPAGATE_THREADS),
        ("capture_content", ENV_CAPTURE_CONTENT),
    ):
        if key not in rest and _env_bool(name) is not None:
            rest[key] = _env_bool(name)
    return Settings(
        endpoint=(endpoint or env.get(ENV_ENDPOINT) or DEFAULT_ENDPOINT).rstrip("/"),
        ingest_key=ingest_key or env.get(ENV_INGEST_KEY) or None,
        service_name=service_name
        or env.get(ENV_SERVICE_NAME)
        or env.get(ENV_OTEL_SERVICE_NAME)
        or DEFAULT_SERVICE_NAME,
        environment=environment or env.get(ENV_ENVIRONMENT) or None,
        send_to_collector=True if send is None else send,
        spool_dir=Path(spool) if spool else None,
        span_processors=tuple(span_processors),
        **rest,
    )
