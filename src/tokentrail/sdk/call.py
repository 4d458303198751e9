"""One LLM call: what the caller's thread records, cheaply, and the span the span worker builds from it.

The provider integrations create a `CallRecord` with `start_call` at their choke point and end it exactly
once. On the caller's thread it takes only what must be taken then: the start time (wall clock and
monotonic), a copy of the context (contextvars are copied in O(1): the parent span, the labels, a
``degraded`` block, and whatever an application's span processor reads), the attempts and their HTTP
statuses, and at the end the end time and a reference to the response, the stream's timer or the exception.
`end` hands the record to the span worker (`tokentrail.sdk.worker`), which calls `CallRecord.finish` in the
copied context: the provider's reader reads the response, the attributes are built, and the span is created
and ended with the measured start and end times, as a child of the span that was current when the call began.

The worker reads the response object after it was returned to the application; an application that changes
a response in place right away (a Bedrock response is a plain dict) may change what is recorded. With content
capture on, the request's message list is copied at the start, since applications append to it.

**Trade-off:** the LLM span does not exist while the call runs (its id is made on the worker), so spans that
other instrumentations open during the call (an httpx or botocore span, say) are children of the enclosing
span (the trace, tool or round, or the application's own span), siblings of the LLM span rather than its
children.

Attributes use GenAI semantic convention names where they exist and ``tokentrail.*`` extras otherwise
(`tokentrail.semconv`).
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import re
from collections.abc import Callable, Mapping
from time import perf_counter_ns, time_ns
from typing import TYPE_CHECKING, Any, Final, Protocol

from opentelemetry.sdk.trace import sampling
from opentelemetry.trace import SpanKind as OtelSpanKind
from opentelemetry.trace import Status, StatusCode

from tokentrail import semconv as sc
from tokentrail.errors import FILTERED_STOP_REASONS, classify_error
from tokentrail.model import ErrorClass, Source, SpanKind
from tokentrail.sdk import content
from tokentrail.sdk import context as ctx
from tokentrail.sdk.errors import TypeTable, classify, internal_error
from tokentrail.sdk.stream import StreamTimer, read_kept, stream_attributes
from tokentrail.sdk.types import Classifier, Observer, Reader, Shown

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from tokentrail.sdk.config import Settings
    from tokentrail.sdk.worker import SpanWorker

ACTIVE_CALL: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar(
    "tokentrail_call", default=None
)
"""The call whose HTTP attempts are being made right now (read by the per-attempt hooks)."""
ENTERED: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "tokentrail_entered", default=None
)
"""(wall ns, perf ns) when the application entered the SDK's public method (``create``) now running: a call
started inside it is timed from there, so the SDK's own request building counts, as the application waits
for it."""

USAGE_ATTRIBUTES = (
    ("input_tokens", sc.GEN_AI_USAGE_INPUT_TOKENS),
    ("output_tokens", sc.GEN_AI_USAGE_OUTPUT_TOKENS),
    ("cache_read_tokens", sc.GEN_AI_USAGE_CACHE_READ),
    ("cache_write_tokens", sc.GEN_AI_USAGE_CACHE_WRITE),
    ("reasoning_tokens", sc.GEN_AI_USAGE_REASONING),
)
"""Usage as GenAI attributes (current names only)."""


SCALARS: Final = frozenset({str, int, float, bool})

_LLM: Final = SpanKind.LLM.value
_SDK: Final = Source.SDK.value
"""An enum member's ``value`` is a Python property: read once, not per span."""


def add_attributes(span: Span, attrs: Mapping[str, Any]) -> None:
    """Add what was read after the call to its span, just started.

    The OpenTelemetry SDK checks every value it is given, an array element by element, under a lock: for a
    50-chunk stream (its timeline is an array of 50 numbers) that was some 40 % of the worker's time per
    span. Values of these types need no check, and only strings could be cut, by a length limit: when the
    SDK span's attribute mapping has no such limit and room for them all, a value that is a str, int,
    float or bool, or a tuple or list of them, goes straight into it (a list as a tuple, as the SDK stores
    it). Anything else, and any other span (another SDK, span limits set), goes through the SDK's checks.
    Set after the start, like the attributes of a span made while its call runs, the sampler sees only
    what was known when the call began (and, when it reads none, `reads_attributes`, not even that)."""
    bounded = getattr(span, "_attributes", None)
    store = getattr(bounded, "_dict", None)
    maxlen = getattr(bounded, "maxlen", None)
    unlimited = maxlen is None or (isinstance(maxlen, int) and len(store or ()) + len(attrs) <= maxlen)
    if type(store) is not dict or getattr(bounded, "max_value_len", 0) is not None or not unlimited:
        span.set_attributes(attrs)
        return
    for key, value in attrs.items():
        kind = type(value)
        if kind in SCALARS:
            store[key] = value
        elif (kind is tuple or kind is list) and SCALARS.issuperset(map(type, value)):
            store[key] = tuple(value)
        else:
            span.set_attribute(key, value)


_BLIND_PARENT_BASED: Final = re.compile(
    r"ParentBased\{(?:\w+:(?:AlwaysOnSampler|AlwaysOffSampler|TraceIdRatioBased\{[^{}]*\}),?)+\}"
).fullmatch


def reads_attributes(sampler: object) -> bool:
    """Whether `sampler` may decide on the attributes a span starts with (None, the tracer of another SDK:
    assumed so). The OpenTelemetry SDK's own samplers (those OTEL_TRACES_SAMPLER names: always on or off,
    trace id ratio, each parent-based or not) decide on the trace id and the parent alone, so the attributes
    known at the start can go in after it, through `add_attributes`: ~5 µs a span less than the SDK's checks
    of nine of them (then a span processor's ``on_start`` sees none). Any other sampler may read them, and
    need not be hashable (a dataclass is not), so only the parent-based ones' answer is cached."""
    if type(sampler) in (sampling.StaticSampler, sampling.TraceIdRatioBased):
        return False
    if type(sampler) in (sampling.ParentBased, sampling.ParentBasedTraceIdRatio):
        return _parent_based_reads(sampler)
    return True


@functools.lru_cache(maxsize=16)
def _parent_based_reads(sampler: Any) -> bool:
    """Whether a parent-based sampler (the SDK's class: hashable) delegates to one that may read attributes;
    its description names them all."""
    return not _BLIND_PARENT_BASED(sampler.get_description())


class Engine(Protocol):
    """What a call needs from its tokentrail instance."""

    @property
    def settings(self) -> Settings: ...

    @property
    def tracer(self) -> Tracer: ...

    @property
    def worker(self) -> SpanWorker: ...


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderErrors:
    """How a provider's exceptions map to error classes (see `tokentrail.sdk.errors.classify`)."""

    types: TypeTable
    info: Callable[[BaseException], tuple[int | None, str | None]]  # (HTTP status, provider error code)


@dataclasses.dataclass(slots=True)
class Request:
    """What the provider module read from the request (pure data)."""

    provider: str
    operation: str
    model: str | None
    stream: bool
    read: Reader[CallRecord]  # reads a complete response into the call (on the worker)
    observe: Observer[CallRecord] | None = None  # reads one kept stream chunk (on the worker)
    classify: Classifier | None = None  # sorts each stream chunk (on the caller); None keeps every chunk
    messages: Any = None  # request content, only handed to the capture hook
    body: Any = None  # the request body, read for content capture (`tokentrail.sdk.content`)
    content_format: str | None = None  # which of `content.FORMATS` the body and response are in
    attributes: Mapping[str, Any] | None = None  # extra span attributes known at the start
    server: tuple[str | None, int | None] = (None, None)
    client: Any = None  # a Stainless client: the worker reads `server` from its base_url (~1 us for openai)
    body_changes: dict[str, Any] | None = None  # what to add to the request body (e.g. stream_options)
    shown: Shown | None = None
    """What the app sees of a stream chunk (None: hidden) when body_changes changed the stream (the timer
    reads every chunk as it came)."""


def capturing(settings: Settings) -> bool:
    """Whether this call's content is captured: the labels block's ``capture_content``, else the setting."""
    chosen = ctx.current_labels().capture
    return bool(settings.capture_content) if chosen is None else chosen


def start_call(engine: Engine, request: Request, errors: ProviderErrors) -> CallRecord:
    """Start recording a call (the span is made by the worker when the call ends)."""
    return CallRecord(engine, request, errors)


class CallRecord:
    __slots__ = (
        "_active_token",
        "attempting",
        "attempts",
        "capture",
        "closed",
        "context",
        "end_ns",
        "ended",
        "errors",
        "exc",
        "extra",
        "failure_code",
        "http_status",
        "request",
        "response",
        "response_id",
        "response_model",
        "scratch",
        "settings",
        "start_ns",
        "start_wall_ns",
        "stop_reason",
        "text",
        "timer",
        "tool_names",
        "tracer",
        "usage",
        "worker",
    )

    def __init__(self, engine: Engine, request: Request, errors: ProviderErrors) -> None:
        # --- taken on the caller's thread
        self.settings = settings = engine.settings
        self.tracer = engine.tracer
        self.worker = engine.worker
        self.request = request
        self.errors = errors
        self.context = contextvars.copy_context()
        self.attempts = 0
        self.attempting = False  # an attempt is being sent (stacked patches count it once)
        self.http_status: int | None = None
        self.extra: dict[str, Any] = {}
        self.timer: StreamTimer | None = None
        self.ended = False
        self._active_token: contextvars.Token[CallRecord | None] | None = None
        self.capture = capturing(settings)
        if self.capture:  # applications append to their message lists after the call
            if isinstance(request.messages, list):
                request.messages = list(request.messages)
            if isinstance(request.body, dict):
                request.body = {k: list(v) if isinstance(v, list) else v for k, v in request.body.items()}
        self.start_wall_ns, self.start_ns = ENTERED.get() or (time_ns(), perf_counter_ns())

    # --- the call's extent on the caller's side ------------------------------------------------------

    def enter(self) -> None:
        """Make this the active call (read by the per-attempt hooks) for the duration of the SDK call."""
        self._active_token = ACTIVE_CALL.set(self)

    def leave(self) -> None:
        if self._active_token is not None:
            ACTIVE_CALL.reset(self._active_token)
            self._active_token = None

    def internal_error(self) -> None:
        internal_error(self.settings.raises)

    def attempt(self, status: int | None) -> None:
        self.attempting = False
        self.attempts += 1
        if status is not None:
            self.http_status = status

    def attempt_failed(self, exc: BaseException) -> None:
        self.attempting = False
        self.attempts += 1
        status, _ = self.errors.info(exc)
        if status is not None:
            self.http_status = status

    # --- ending (on the caller's thread) ---------------------------------------------------------------

    def end(self, response: Any = None, exc: BaseException | None = None, closed: bool = False) -> None:
        """The call is over (`exc`: the SDK call raised, after its own retries; `closed`: the user closed the
        stream early): hand it to the worker, with the `response` for the provider's reader."""
        if self.ended:
            return
        self.ended = True
        self.end_ns = perf_counter_ns()
        self.response = response
        self.exc = exc
        self.closed = closed
        self.worker.submit(self)

    # --- what the provider said (the readers, on the worker) ---------------------------------------------

    def add_tool(self, name: object) -> None:
        if name:
            self.tool_names.append(str(name))

    # --- the span (on the worker) ----------------------------------------------------------------------

    def finish(self, report: Callable[[], None]) -> None:
        """Read the response, then create and end the span, in the caller's context. `report` is called
        inside ``except`` for an internal error; the span is ended regardless."""
        try:
            self.context.run(self._finish, report)
        finally:  # let go of the response, the chunks and the timer (which refers back to this record)
            self.response = self.timer = self.exc = None

    def _finish(self, report: Callable[[], None]) -> None:
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.stop_reason: str | None = None
        self.failure_code: str | None = None  # an error the response reported in its body (no exception)
        self.usage: Mapping[str, int | None] | None = None
        self.tool_names: list[str] = []
        self.scratch: dict[str, Any] = {}  # provider-private state across stream chunks
        self.text: list[str] | None = [] if self.capture else None
        ended: dict[str, Any] = {}
        try:
            stamps = self._read(report)
            ended = self._end_attributes(stamps)
            error = self._outcome(ended)
            if self.capture:
                ended.update(self._content())
        except Exception:
            report()
            error = None
        request = self.request
        name = f"{request.operation} {request.model}" if request.model else request.operation
        tracer, start = self.tracer, self._start_attributes()
        seen = start if reads_attributes(getattr(tracer, "sampler", None)) else None
        span = tracer.start_span(
            name, kind=OtelSpanKind.CLIENT, attributes=seen, start_time=self.start_wall_ns
        )
        add_attributes(span, ended if seen is not None else start | ended)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=self.start_wall_ns + (self.end_ns - self.start_ns))
        hook = self.settings.capture_content
        if self.capture and callable(hook):
            try:
                text = "".join(self.text) if self.text else None
                hook(getattr(span, "attributes", None) or {}, request.messages, text)
            except Exception:
                report()

    def _read(self, report: Callable[[], None]) -> list[int] | None:
        """Read the response (or the stream's kept chunks); a stream's output arrival times."""
        timer, observe = self.timer, self.request.observe
        if timer is not None and observe is not None:
            return read_kept(timer, observe, report)
        if self.response is not None:
            try:
                self.request.read(self.response, self)
            except Exception:
                report()
        return None

    def _content(self) -> dict[str, Any]:
        """The content attributes (`tokentrail.sdk.content`), with a stream's output as the worker read it."""
        request = self.request
        streamed = None
        if self.timer is not None:
            streamed = content.stream_output(self.text, self.tool_names, self.stop_reason)
        return content.attributes(request.content_format, request.body, self.response, streamed)

    def _start_attributes(self) -> dict[str, Any]:
        request = self.request
        attrs: dict[str, Any] = {
            sc.TT_KIND: _LLM,
            sc.TT_SOURCE: _SDK,
            sc.GEN_AI_OPERATION_NAME: request.operation,
            sc.GEN_AI_PROVIDER_NAME: request.provider,
            **ctx.current_labels().attributes,
        }
        if request.attributes:
            attrs.update(request.attributes)
        if request.model:
            attrs[sc.GEN_AI_REQUEST_MODEL] = request.model
        if request.stream:
            attrs[sc.GEN_AI_REQUEST_STREAM] = True
        host, port = request.server
        if request.client is not None:
            url = request.client.base_url
            host, port = url.host or None, url.port
        if host:
            attrs[sc.SERVER_ADDRESS] = host
            if port:
                attrs[sc.SERVER_PORT] = port
        degraded = ctx.DEGRADED_VAR.get()
        if degraded:
            attrs[sc.TT_DEGRADED] = degraded
        return attrs

    def _end_attributes(self, stamps: list[int] | None) -> dict[str, Any]:
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
        if stamps is not None:  # a plain call's tokens per second: the collector divides by the duration
            output = usage.get("output_tokens") if usage else None
            attrs.update(stream_attributes(stamps, self.start_ns, self.end_ns, output))
        if self.extra:
            attrs.update(self.extra)
        return attrs

    def _outcome(self, attrs: dict[str, Any]) -> str | None:
        """Set the error class and type for a failed call; returns the error type (None: no error)."""
        exc = self.exc
        if exc is not None:
            status, code = self.errors.info(exc)
            if status is not None and self.http_status is None:
                attrs[sc.TT_HTTP_STATUS] = status
            error_class = classify(exc, self.errors.types, code, status, self.request.provider)
            error_type = type(exc).__name__
        elif self.failure_code is not None:
            error_class = classify_error(self.failure_code, None, self.request.provider)
            error_type = self.failure_code
        elif self.closed:
            error_class, error_type = ErrorClass.CANCELLED, "stream_closed"
        elif self.stop_reason in FILTERED_STOP_REASONS:
            error_class, error_type = ErrorClass.CONTENT_FILTERED, self.stop_reason
        else:
            return None
        attrs[sc.TT_ERROR_CLASS] = error_class.value
        attrs[sc.ERROR_TYPE] = error_type
        return error_type
