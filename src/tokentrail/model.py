"""The canonical records: the one place where the fields of a stored span are defined.

A `Call` is one span. LLM calls have ``kind = 'llm'``; tool executions, agent loops and app spans share
the table, so a whole trace is ``WHERE trace_id = ?``. Units are in the column names (``_ms``, ``_usd``,
``_tokens``, ``_per_s``); times are UTC.

`COLUMNS` lists every column with a logical type; each store turns the logical types into its own
dialect, so DuckDB and ClickHouse hold the same logical schema.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import operator
from typing import Any, Final


class ErrorClass(enum.StrEnum):
    """The closed set of error classes; dashboards group on these."""

    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    AUTH = "auth"
    INVALID_REQUEST = "invalid_request"
    CONTENT_FILTERED = "content_filtered"
    CANCELLED = "cancelled"
    OTHER = "other"


class SpanKind(enum.StrEnum):
    LLM = "llm"
    TOOL = "tool"
    AGENT = "agent"
    CHAIN = "chain"
    OTHER = "other"


class Source(enum.StrEnum):
    SDK = "sdk"
    OTLP = "otlp"
    BEDROCK_LOG = "bedrock-log"
    METRIC_LINE = "metric-line"
    JSONL = "jsonl"


def error_class_for_status(status: int | None) -> ErrorClass | None:
    """Map an HTTP status code to an error class (None for success or no status)."""
    if status is None or status < 400:
        return None
    if status == 429:
        return ErrorClass.THROTTLED
    if status in (401, 403):
        return ErrorClass.AUTH
    if status in (408, 504):
        return ErrorClass.TIMEOUT
    if status == 499:
        return ErrorClass.CANCELLED
    if status >= 500:
        return ErrorClass.SERVER_ERROR
    return ErrorClass.INVALID_REQUEST


# Logical column types. Stores map these to their own SQL types.
STR, INT, FLOAT, BOOL, TIME, STR_LIST, JSON = "str", "int", "float", "bool", "time", "str_list", "json"
INT_LIST, FLOAT_LIST = "int_list", "float_list"

LABELS: Final = (
    "app",
    "feature",
    "tenant",
    "user_id",
    "team",
    "cost_center",
    "environment",
    "experiment",
    "variant",
    "prompt_name",
    "prompt_version",
    "conversation_id",
    "prompt_content_id",
)
# Labels stored after every other column: added by a later migration (store/schema.py ADDED_IN).
LATE_LABELS: Final = ("prompt_content_id",)

# (name, logical type, description). The order is the storage order.
COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    # identity
    ("trace_id", STR, "32 hex chars"),
    ("span_id", STR, "16 hex chars"),
    ("parent_span_id", STR, "16 hex chars, null for a root span"),
    ("name", STR, "span name"),
    ("kind", STR, "llm, tool, agent, chain or other"),
    ("service", STR, "service.name of the resource"),
    # time
    ("start_time", TIME, "UTC, microseconds"),
    ("end_time", TIME, "UTC, microseconds"),
    ("duration_ms", FLOAT, "end-to-end latency"),
    # streaming
    ("stream", BOOL, "the response was streamed"),
    ("ttft_ms", FLOAT, "time to the first chunk carrying output"),
    ("ttlt_ms", FLOAT, "time to the last chunk"),
    ("stream_duration_ms", FLOAT, "first to last chunk"),
    ("chunks", INT, "chunks received"),
    ("itl_p50_ms", FLOAT, "median gap between chunks"),
    ("itl_p95_ms", FLOAT, "95th percentile gap between chunks"),
    ("itl_max_ms", FLOAT, "longest stall"),
    ("output_tokens_per_s", FLOAT, "output tokens over the streaming duration (or the latency)"),
    # model
    ("provider", STR, "gen_ai.provider.name value"),
    ("operation", STR, "chat, embeddings, ...; for aws.bedrock the API name: Converse, InvokeModel, ..."),
    ("request_model", STR, "model asked for"),
    ("response_model", STR, "model that answered"),
    ("server_address", STR, "host called"),
    ("response_id", STR, "the provider's id of the response or request"),
    # usage
    ("input_tokens", INT, "all input, cache included"),
    ("output_tokens", INT, "all output, reasoning included"),
    ("cache_read_tokens", INT, "subset of input"),
    ("cache_write_tokens", INT, "subset of input"),
    ("reasoning_tokens", INT, "subset of output"),
    # cost
    ("cost_usd", FLOAT, "total; null when unpriced"),
    ("input_cost_usd", FLOAT, "non-cached input"),
    ("output_cost_usd", FLOAT, "output, reasoning included"),
    ("cache_cost_usd", FLOAT, "cache reads and writes"),
    ("price_source", STR, "e.g. 'genai-prices 0.2.3', 'override', 'unknown'"),
    # outcome
    ("status", STR, "ok or error"),
    ("error_class", STR, "one of ErrorClass"),
    ("http_status", INT, "last HTTP status"),
    ("stop_reason", STR, "provider's finish or stop reason"),
    ("attempts", INT, "HTTP attempts, retries included"),
    ("degraded", STR, "reason the app fell back, or null"),
    # labels
    *((label, STR, "label") for label in LABELS if label not in LATE_LABELS),
    # tools
    ("tool_names", STR_LIST, "names of tools the model asked for"),
    ("tool_calls", INT, "number of tool calls asked for"),
    # prompt shape
    ("prompt_chars", INT, "characters of prompt sent"),
    ("compression_ratio", FLOAT, "context compression ratio the app reported"),
    # rest
    ("metadata", JSON, "request metadata, string to string"),
    ("attributes", JSON, "everything else"),
    ("source", STR, "sdk, otlp, bedrock-log, metric-line or jsonl"),
    ("received_at", TIME, "when the collector stored it"),
    ("source_record", JSON, "the imported log record as logged, prompt and response content removed"),
    ("prompt_content_id", STR, "label: content id of the prompt version (tokentrail.prompt)"),
)

COLUMN_NAMES: Final = tuple(name for name, _, _ in COLUMNS)
COLUMN_TYPES: Final = {name: kind for name, kind, _ in COLUMNS}
NUMERIC_COLUMNS: Final = frozenset(name for name, kind, _ in COLUMNS if kind in (INT, FLOAT))


TIMELINE_MAX_POINTS: Final = 256
"""The most points a stream's arrival timeline keeps (see `StreamTimeline`)."""

# A stream's arrival timeline, stored apart from the spans (table stream_timelines), so scans of calls never
# read it; the page of one call and the API's trace detail do.
TIMELINE_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("trace_id", STR, "32 hex chars"),
    ("span_id", STR, "16 hex chars"),
    ("start_time", TIME, "the span's start, UTC (bounds the duplicate check)"),
    ("chunks", INT_LIST, "output chunk numbers, from 0, ascending"),
    ("offsets_ms", FLOAT_LIST, "each chunk's arrival, in ms from the start of the call"),
)


@dataclasses.dataclass(frozen=True, slots=True)
class StreamTimeline:
    """When a stream's output chunks arrived: chunk numbers and their offsets in ms from the start of the
    call (the TTFT origin). Every chunk for a stream of at most `TIMELINE_MAX_POINTS` chunks; for a longer
    one, the first and the last, the two on either side of the longest gap (so that gap, ``itl_max_ms``,
    stays exact and in place) and the rest evenly spread by chunk number."""

    chunks: list[int]
    offsets_ms: list[float]

    def longest_gap(self) -> tuple[int, float] | None:
        """(number of the chunk after the longest gap between consecutive chunks, the gap in ms)."""
        pairs = zip(self.chunks, self.chunks[1:], self.offsets_ms, self.offsets_ms[1:], strict=False)
        gaps = [(t1 - t0, c1) for c0, c1, t0, t1 in pairs if c1 == c0 + 1]
        if not gaps:
            return None
        gap, chunk = max(gaps, key=lambda g: g[0])
        return chunk, gap


# A sampled, redacted prompt/response pair (table samples), joined to its call by (trace_id, span_id). Its
# `document` is the request as sent and the response, redacted (`tokentrail.samples.content`), so an archive
# can read samples by day and a replay can rebuild the provider request.
SAMPLE_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("trace_id", STR, "32 hex chars"),
    ("span_id", STR, "16 hex chars"),
    ("start_time", TIME, "the call's start, UTC (retention and the duplicate check)"),
    ("app", STR, "the call's app label"),
    ("feature", STR, "the call's feature label"),
    ("tenant", STR, "the call's tenant label"),
    ("provider", STR, "gen_ai.provider.name"),
    ("request_model", STR, "the model asked for"),
    ("reason", STR, "why it was kept: error, latency, ttft, cost or rate"),
    ("input_chars", INT, "characters of the redacted system instructions and input messages"),
    ("output_chars", INT, "characters of the redacted output messages"),
    ("document", JSON, "the redacted request and response (a versioned JSON document)"),
    ("redaction", JSON, "what redaction replaced: entity type -> count (never the values)"),
)


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """The redacted content of one call, ready to store (see SAMPLE_COLUMNS)."""

    reason: str
    input_chars: int
    output_chars: int
    document: dict[str, Any]
    redaction: dict[str, int]


@dataclasses.dataclass(slots=True)
class Call:
    """One stored span. Field order and names follow `COLUMNS`, then `stream_timeline` and `sample`, which
    are stored in tables of their own, then `content`, the raw content document read from the span, which is
    only held in memory until sampling and redaction decide what becomes of it (never stored, never shown)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    name: str = ""
    kind: str = SpanKind.OTHER
    service: str | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    duration_ms: float | None = None
    stream: bool = False
    ttft_ms: float | None = None
    ttlt_ms: float | None = None
    stream_duration_ms: float | None = None
    chunks: int | None = None
    itl_p50_ms: float | None = None
    itl_p95_ms: float | None = None
    itl_max_ms: float | None = None
    output_tokens_per_s: float | None = None
    provider: str | None = None
    operation: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    server_address: str | None = None
    response_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None
    input_cost_usd: float | None = None
    output_cost_usd: float | None = None
    cache_cost_usd: float | None = None
    price_source: str | None = None
    status: str = "ok"
    error_class: str | None = None
    http_status: int | None = None
    stop_reason: str | None = None
    attempts: int | None = None
    degraded: str | None = None
    app: str | None = None
    feature: str | None = None
    tenant: str | None = None
    user_id: str | None = None
    team: str | None = None
    cost_center: str | None = None
    environment: str | None = None
    experiment: str | None = None
    variant: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    conversation_id: str | None = None
    tool_names: list[str] = dataclasses.field(default_factory=list)
    tool_calls: int | None = None
    prompt_chars: int | None = None
    compression_ratio: float | None = None
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = Source.OTLP
    received_at: dt.datetime | None = None
    source_record: dict[str, Any] | None = None
    prompt_content_id: str | None = None
    stream_timeline: StreamTimeline | None = None
    sample: Sample | None = dataclasses.field(default=None, repr=False)
    content: dict[str, Any] | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def model(self) -> str | None:
        return self.response_model or self.request_model

    def row(self) -> tuple[Any, ...]:
        """The values in storage order."""
        values: tuple[Any, ...] = _ROW_GETTER(self)
        return values

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Call:
        """Build a Call from a row mapping (as a store returns it), ignoring unknown keys."""
        return cls(**{k: v for k, v in values.items() if k in _FIELD_SET})


_ROW_GETTER = operator.attrgetter(*COLUMN_NAMES)
_FIELD_SET = frozenset(COLUMN_NAMES)

_CALL_FIELDS = (*COLUMN_NAMES, "stream_timeline", "sample", "content")
if tuple(f.name for f in dataclasses.fields(Call)) != _CALL_FIELDS:  # pragma: no cover - guards edits
    raise RuntimeError("Call fields and COLUMNS are out of step")


# Metric data points from OTLP /v1/metrics: one row per data point.
METRIC_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("name", STR, "metric name"),
    ("unit", STR, "unit"),
    ("type", STR, "gauge, sum, histogram, exponential_histogram or summary"),
    ("time", TIME, "data point time, UTC"),
    ("start_time", TIME, "start of the aggregation interval"),
    ("value", FLOAT, "gauge or sum value; histogram sum"),
    ("count", INT, "histogram or summary count"),
    ("min", FLOAT, "histogram min"),
    ("max", FLOAT, "histogram max"),
    ("bucket_counts", JSON, "histogram bucket counts"),
    ("explicit_bounds", JSON, "histogram bucket bounds"),
    ("temporality", STR, "delta or cumulative"),
    ("service", STR, "service.name of the resource"),
    ("attributes", JSON, "data point attributes"),
    ("received_at", TIME, "when the collector stored it"),
)
METRIC_COLUMN_NAMES: Final = tuple(name for name, _, _ in METRIC_COLUMNS)

# Daily chargeback rollup: what retention keeps of the calls it deletes (one row per day and label set per
# deletion; readers sum them). Costs are integer nano-dollars, as chargeback sums them, so totals stay exact.
# user_id is left out: it can have as many values a day as there are calls, and the rollup would not shrink.
DAILY_COST_DIMENSIONS: Final = (
    "tenant",
    "cost_center",
    "team",
    "app",
    "feature",
    "environment",
    "provider",
    "model",
)
DAILY_COST_MEASURES: Final = (
    "calls",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "input_cost_nusd",
    "cache_cost_nusd",
    "output_cost_nusd",
    "cost_nusd",
    "priced_calls",
    "unpriced_calls",
)
DAILY_COST_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("day", TIME, "UTC day the calls started"),
    *((name, STR, "label") for name in DAILY_COST_DIMENSIONS),
    *((name, INT, "sum over the day's calls") for name in DAILY_COST_MEASURES),
)
