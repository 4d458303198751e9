"""Settings, resolved once: argument > environment (TOKENTRAIL_*) > default.

Environment variables:
    TOKENTRAIL_DB              store URL or DuckDB path (default ./tokentrail.duckdb; commands that only
                               read use ./tokentrail-demo.duckdb when that is the only one there)
    TOKENTRAIL_HOST            bind address of `tokentrail serve` (default 127.0.0.1)
    TOKENTRAIL_PORT            port (default 4318, the OTLP/HTTP default)
    TOKENTRAIL_GRPC_PORT       OTLP/gRPC port of `tokentrail serve` (default 4317; 0 turns gRPC off)
    TOKENTRAIL_GRPC_MAX_MESSAGE_BYTES  largest accepted gRPC message after decompression (default 64 MiB)
    TOKENTRAIL_INGEST_KEY      a single ingest-only key: OTLP ingest requires `Authorization: Bearer <key>`,
                               and, as with any key configured, every read needs a named key with `read`
    TOKENTRAIL_ALLOWED_HOSTS   extra Host names (comma-separated) a loopback-bound `serve` answers for
    TOKENTRAIL_SESSION_HOURS   lifetime of a dashboard session cookie (default 12)
    TOKENTRAIL_QUERY_CONCURRENCY  user queries (POST /api/query) run at once; more get 429 (default 2)
    TOKENTRAIL_MAX_BODY_BYTES  largest accepted request body after decompression (default 64 MiB)
    TOKENTRAIL_QUERY_TIMEOUT_S time limit of each user query (default 30 s)
    TOKENTRAIL_PRICES_FILE     TOML file of price overrides
    TOKENTRAIL_INGEST_WORKERS  processes that decode OTLP (`serve` defaults to one per core; 0 = threads)
    TOKENTRAIL_SAMPLING        TOML file of the content sampling and redaction policy (docs/samples.md)
    TOKENTRAIL_RETENTION_CALLS          days of calls (and their traces' spans) to keep (default: all)
    TOKENTRAIL_RETENTION_SAMPLES        days of sampled prompt/response pairs to keep (default: all)
    TOKENTRAIL_RETENTION_METRIC_POINTS  days of OTLP metric points to keep (default: all)
    TOKENTRAIL_RETENTION_ROLLUPS        days of the daily chargeback rollup to keep (default: all)
    TOKENTRAIL_MAX_DISK                 size cap of the store, e.g. 500MB or 2GiB; oldest days go first
    TOKENTRAIL_RETENTION_INTERVAL_S     seconds between `serve`'s retention runs (default 3600)
    TOKENTRAIL_PROMPT_STAGES   prompt stages in order, comma-separated (default dev,staging,prod); the last
                               one always requires an approved version
    TOKENTRAIL_PROMPT_APPROVAL_STAGES  other stages that require an approved version (default none)
    TOKENTRAIL_MAX_SPANS_PER_REQUEST  spans (or metric data points, or log records) one OTLP request may
                               hold; more: 413
                               (default 50,000)
    TOKENTRAIL_CONTENT_WAIT_S  how long GenAI content from the logs signal waits in memory for its span to
                               arrive before it is dropped (default 60 s; docs/samples.md)
    TOKENTRAIL_CONTENT_WAIT_MAX_BYTES  memory that content waiting for its span may take; past it the oldest
                               is dropped (default 64 MiB)
    TOKENTRAIL_KEEP_LOGS       keep OTLP log records that are not GenAI events, redacted, in `log_records`
                               (`serve --keep-logs`; default off: counted and dropped; docs/samples.md)
    TOKENTRAIL_KEEP_LOGS_MIN_SEVERITY  with TOKENTRAIL_KEEP_LOGS, keep only records of this OTLP severity
                               number or above (9 INFO, 13 WARN, 17 ERROR; default 0: all)
    TOKENTRAIL_MAX_INGEST_WAIT_S  an OTLP request that would wait longer than this for the work queued
                               ahead of it gets 429 with Retry-After (gRPC: RESOURCE_EXHAUSTED) at once
                               (default 1 s)
    TOKENTRAIL_ARCHIVE_TO      `serve` archives the samples to this dir or s3://bucket/prefix (docs/replay.md)
    TOKENTRAIL_ARCHIVE_INTERVAL_S  seconds between `serve`'s archive runs (default 3600)
(The retention values stay text here; tokentrail.retention.policy parses them with clear errors.)
    TOKENTRAIL_ALERTS          TOML file of alert rules and notifiers (docs/alerts.md)
    TOKENTRAIL_ALERTS_INTERVAL_S  how often `serve` evaluates the rules (default 60 s; 0 = never)
    TOKENTRAIL_METRICS_LABELS  labels of the /metrics series (default provider,model,app,feature)
    TOKENTRAIL_METRICS_MAX_SERIES  label combinations per metric before the rest go to "__overflow__"
                               (default 1000)
    TOKENTRAIL_CLOUDWATCH_NAMESPACE  when set, `serve` publishes to CloudWatch under it (docs/exporters.md)
    TOKENTRAIL_CLOUDWATCH_DIMENSIONS  dimensions of the published metrics (default Model)
    TOKENTRAIL_CLOUDWATCH_INTERVAL_S  the publisher's period, and the size of each window (default 60 s)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from tokentrail.exceptions import InputError

DEFAULT_DB = "tokentrail.duckdb"
DEMO_DB = "tokentrail-demo.duckdb"  # `tokentrail demo`'s own file; read-only commands fall back to it


class SettingsError(InputError):
    """A TOKENTRAIL_* setting that cannot be read as its type; the message names it and says why."""


def describe(exc: ValidationError) -> str:
    """One clause per bad setting: its variable, what was expected, and the value given (shortened)."""
    return "; ".join(
        f"TOKENTRAIL_{'_'.join(str(p) for p in e['loc']).upper()}={str(e['input'])[:40]!r}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOKENTRAIL_", extra="ignore")

    def __init__(self, **values: Any) -> None:
        """Raises SettingsError (not pydantic's traceback-sized ValidationError) for a bad value."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None

    db: str = DEFAULT_DB
    host: str = "127.0.0.1"
    port: int = 4318
    grpc_port: int = 4317
    grpc_max_message_bytes: int = 64 * 1024 * 1024
    ingest_key: str | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    max_pending_batches: int = 256
    query_timeout_s: float = 30.0
    prices_file: Path | None = None
    sampling: Path | None = None  # content sampling policy; None: the defaults of samples.policy.Policy
    archive_to: str | None = None  # where `serve` archives samples on a schedule; None: it does not
    archive_interval_s: float = 3600.0
    ingest_workers: int = 0  # processes that decode spans; 0 decodes in threads of the server process
    retention_calls: str | None = None
    retention_samples: str | None = None
    retention_metric_points: str | None = None
    retention_rollups: str | None = None
    max_disk: str | None = None
    retention_interval_s: str | None = None
    max_spans_per_request: int = 50_000
    max_ingest_wait_s: float = 1.0
    alerts: Path | None = None
    alerts_interval_s: float = 60.0
    metrics_labels: str = "provider,model,app,feature"
    metrics_max_series: int = 1000
    cloudwatch_namespace: str | None = None
    cloudwatch_dimensions: str = "Model"
    cloudwatch_interval_s: float = 60.0
    content_wait_s: float = 60.0
    content_wait_max_bytes: int = 64 * 1024 * 1024
    keep_logs: bool = False
    keep_logs_min_severity: Annotated[int, Field(ge=0, le=24)] = 0
    allowed_hosts: str = ""
    session_hours: float = 12.0
    query_concurrency: int = 2
    prompt_stages: str = "dev,staging,prod"
    prompt_approval_stages: str = ""

    @property
    def keep_logs_from(self) -> int | None:
        """The lowest severity number of the log records kept, or None when none are."""
        return self.keep_logs_min_severity if self.keep_logs else None

    @property
    def allowed_host_list(self) -> list[str]:
        return [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]
