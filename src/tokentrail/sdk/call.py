"""One LLM call in flight: what was asked, what each attempt and the response said; it becomes one span.

The provider integrations create a `CallRecord` with `start_call` at their choke point, feed it (attempts,
usage, model, stop reason, tools, stream chunks) and end it exactly once. Attributes use GenAI semantic
convention names where they exist and ``tokentrail.*`` extras otherwise (`tokentrail.semconv`).
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Callable, Mapping
from time import perf_counter_ns, time_ns
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind as OtelSpanKind
from opentelemetry.trace import Status, StatusCode

from tokentrail import semconv as sc
from tokentrail.model import ErrorClass, Source, SpanKind
from tokentrail.sdk import context as ctx
from tokentrail.sdk.errors import TypeTable, classify, internal_error

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from tokentrail.sdk.config import Settings
    from tokentrail.sdk.stream import Observer, StreamTimer

ACTIVE_CALL: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar(
    "tokentrail_call", default=None
)
"""The call whose HTTP attempts are being made right now (read by the per-attempt hooks)."""

FILTERED_STOP_REASONS = frozenset({"content_filter", "content_filtered", "guardrail_intervened", "refusal"})
USAGE_ATTRIBUTES = (
    ("input_tokens", sc.GEN_AI_USAGE_INPUT_TOKENS),
    ("output_tokens", sc.GEN_AI_USAGE_OUTPUT_TOKENS),
    ("cache_read_tokens", sc.GEN_AI_USAGE_CACHE_READ),
    ("cache_write_tokens", sc.GEN_AI_USAGE_CACHE_WRITE),
    ("reasoning_tokens", sc.GEN_AI_USAGE_REASONING),
)
"""Usage as GenAI attributes (current names only: each attribute costs the caller ~1-2 us)."""


class Engine(Protocol):
    """What a call needs from its tokentrail instance."""

    @property
    def settings(self) -> Settings: ...

    @property
    def tracer(self) -> Tracer: ...


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderErrors:
    """How a provider's exceptions map to error classes (see `tokentrail.sdk.errors.classify`)."""

    types: TypeTable
    codes: Mapping[str, ErrorClass]
    info: Callable[[BaseException], tuple[int | None, str | None]]  # (HTTP status, provider error code)


@dataclasses.dataclass(slots=True)
class Request:
    """What the provider module read from the request (pure data)."""

    provider: str
    operation: str
    model: str | None
    stream: bool
    read: Callable[[Any, CallRecord], None]  # reads a complete response into the call
    observe: Observer | None = None  # reads one stream chunk
    messages: Any = None  # request content, only handed to the capture hook
    attributes: Mapping[str, Any] | None = None  # extra span attributes known at the start
    server: tuple[str | None, int | None] = (None, None)


def start_call(engine: Engine, request: Request, errors: ProviderErrors) -> CallRecord:
    """Open the call span (a child of the current span) and make it the active call."""
    labels = ctx.current_labels()
    attrs: dict[str, Any] = {
        sc.TT_KIND: SpanKind.LLM.value,
        sc.TT_SOURCE: Source.SDK.value,
        sc.GEN_AI_OPERATION_NAME: request.operation,
        sc.GEN_AI_PROVIDER_NAME: request.provider,
        **labels.attributes,
    }
    if request.attributes:
        attrs.update(request.attributes)
    if request.model:
        attrs[sc.GEN_AI_REQUEST_MODEL] = request.model
    if request.stream:
        attrs[sc.GEN_AI_REQUEST_STREAM] = True
    host, port = request.server
    if host:
        attrs[sc.SERVER_ADDRESS] = host
        if port:
            attrs[sc.SERVER_PORT] = port
    degraded = ctx.DEGRADED_VAR.get()
    if degraded:
        attrs[sc.TT_DEGRADED] = degraded
    name = f"{request.operation} {request.model}" if request.model else request.operation
    wall, perf = time_ns(), perf_counter_ns()
    span = engine.tracer.start_span(name, kind=OtelSpanKind.CLIENT, attributes=attrs, start_time=wall)
    return CallRecord(engine, request, errors, span, wall, perf)


class CallRecord:
    __slots__ = (
        "_active_token",
        "_context_token",
        "attempting",
        "attempts",
        "ended",
        "engine",
        "errors",
        "extra",
        "failure_code",
        "http_status",
        "request",
        "response_id",
        "response_model",
        "scratch",
        "span",
        "start_ns",
        "start_wall_ns",
        "stop_reason",
        "text",
        "timer",
        "tool_names",
        "usage",
    )

    def __init__(
        self, engine: Engine, request: Request, errors: ProviderErrors, span: Span, wall: int, perf: int
    ) -> None:
        self.engine = engine
        self.request = request
        self.errors = errors
        self.span = span
        self.start_wall_ns = wall
        self.start_ns = perf
        self.attempts = 0
        self.attempting = False  # an attempt is being sent (stacked patches count it once)
        self.http_status: int | None = None
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.stop_reason: str | None = None
        self.tool_names: list[str] = []
        self.usage: Mapping[str, int | None] | None = None
        self.extra: dict[str, Any] = {}
        self.failure_code: str | None = None  # an error the response reported in its body (no exception)
        self.scratch: dict[str, Any] = {}  # provider-private state across stream chunks
        self.timer: StreamTimer | None = None
        self.text: list[str] | None = [] if engine.settings.capture_content else None
        self.ended = False
        self._active_token: contextvars.Token[CallRecord | None] | None = None
        self._context_token: object = None

    # --- the call's extent on the caller's side ------------------------------------------------------

    def enter(self) -> None:
        """Make this the active call and its span the current span, for the duration of the SDK call."""
        self._active_token = ACTIVE_CALL.set(self)
        self._context_token = otel_context.attach(trace.set_span_in_context(self.span))

    def leave(self) -> None:
        if self._context_token is not None:
            otel_context.detach(self._context_token)  # type: ignore[arg-type]
            self._context_token = None
        if self._active_token is not None:
            ACTIVE_CALL.reset(self._active_token)
            self._active_token = None

    def internal_error(self) -> None:
        internal_error(self.engine.settings.raises)

    # --- what the provider said ----------------------------------------------------------------------

    def attempt(self, status: int | None) -> None:
        self.attempts += 1
        if status is not None:
            self.http_status = status

    def attempt_failed(self, exc: BaseException) -> None:
        self.attempts += 1
        status, _ = self.errors.info(exc)
        if status is not None:
            self.http_status = status

    def add_tool(self, name: object) -> None:
        if name:
            self.tool_names.append(str(name))

    # --- ending ----------------------------------------------------------------------------------------

    def fail(self, exc: BaseException) -> None:
        """The SDK call raised (after its own retries)."""
        self.end(exc=exc)

    def end_stream(self, timer: StreamTimer, exc: BaseException | None, closed: bool) -> None:
        self.end(exc=exc, timer=timer, closed=closed)

    def end(
        self, exc: BaseException | None = None, timer: StreamTimer | None = None, closed: bool = False
    ) -> None:
        if self.ended:
            return
        self.ended = True
        end_perf = perf_counter_ns()
        try:
            attrs = self._end_attributes(end_perf, timer)
            self._outcome(attrs, exc, closed)
            self.span.set_attributes(attrs)
        except Exception:
            self.internal_error()
        self.span.end(end_time=self.start_wall_ns + (end_perf - self.start_ns))
        hook = self.engine.settings.capture_content
        if hook is not None:
            try:
                text = "".join(self.text) if self.text else None
                hook(getattr(self.span, "attributes", None) or {}, self.request.messages, text)
            except Exception:
                self.internal_error()

    def _end_attributes(self, end_perf: int, timer: StreamTimer | None) -> dict[str, Any]:
        attrs: dict[str, Any] = {sc.TT_ATTEMPTS: self.attempts}
        if self.http_status is not None:
            attrs[sc.TT_HTTP_STATUS] = self.http_status
        if self.response_model:
            attrs[sc.GEN_AI_RESPONSE_MODEL] = self.response_model
        if self.response_id:
            attrs[sc.GEN_AI_RESPONSE_ID] = self.response_id
        if self.stop_reason:
            attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = (self.stop_reason,)
        if self.tool_names:
            attrs[sc.TT_TOOL_NAMES] = tuple(self.tool_names)
        usage = self.usage
        if usage:
            for field, name in USAGE_ATTRIBUTES:
                value = usage.get(field)
                if value is not None:
                    attrs[name] = value
        if timer is not None:  # a plain call's tokens per second: the collector divides by the duration
            attrs.update(
                timer.attributes(self.start_ns, end_perf, usage.get("output_tokens") if usage else None)
            )
        if self.extra:
            attrs.update(self.extra)
        return attrs

    def _outcome(self, attrs: dict[str, Any], exc: BaseException | None, closed: bool) -> None:
        if exc is not None:
            status, code = self.errors.info(exc)
            if status is not None and self.http_status is None:
                attrs[sc.TT_HTTP_STATUS] = status
            error_class = classify(exc, self.errors.types, self.errors.codes, code, status)
            error_type = type(exc).__name__
        elif self.failure_code is not None:
            error_class = self.errors.codes.get(self.failure_code, ErrorClass.OTHER)
            error_type = self.failure_code
        elif closed:
            error_class, error_type = ErrorClass.CANCELLED, "stream_closed"
        elif self.stop_reason in FILTERED_STOP_REASONS:
            error_class, error_type = ErrorClass.CONTENT_FILTERED, self.stop_reason
        else:
            return
        attrs[sc.TT_ERROR_CLASS] = error_class.value
        attrs[sc.ERROR_TYPE] = error_type
        self.span.set_status(Status(StatusCode.ERROR, error_type))
