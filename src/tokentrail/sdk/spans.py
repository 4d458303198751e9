"""Application spans: traces (agent runs), tool executions, tool-loop rounds; and degradation markers.

``with tokentrail.trace("support_agent"):`` opens a parent span (kind ``agent``, ``invoke_agent <name>``);
every LLM call inside becomes its child, so each round of a tool loop (one LLM call, then the tools it
asked for) is visible as its own child span in order. ``with tokentrail.tool("search"):`` wraps a tool
execution (kind ``tool``, ``execute_tool <name>``). ``with tokentrail.round():`` optionally groups one round
(kind ``chain``, ``round <n>``, attribute ``tokentrail.round``). All three also decorate sync and async
functions, and follow asyncio tasks (contextvars); and threads (`tokentrail.sdk.threads`).

``tokentrail.degraded(reason)`` records that the application fell back (smaller model, cached answer,
static reply). Called, it sets ``tokentrail.degraded`` on the current span (the tool or trace in progress)
and on the trace root, whose ``tokentrail.degraded_count`` counts fallbacks per trace. Used as a
context manager, every LLM call made inside also carries the reason, so degraded calls are counted per call.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode

from tokentrail import semconv as sc
from tokentrail.model import Source, SpanKind
from tokentrail.sdk import context as ctx
from tokentrail.sdk.errors import classify

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from tokentrail.sdk.call import Engine


class span_scope(ctx._Scope):
    """One application span; the outermost ``agent`` span of a context is the trace root."""

    def __init__(self, engine: Engine, kind: SpanKind, name: str, attributes: dict[str, Any]) -> None:
        super().__init__()
        self._engine = engine
        self._kind = kind
        self._name = name
        self._attributes = attributes

    def _fresh(self) -> span_scope:
        return span_scope(self._engine, self._kind, self._name, self._attributes)

    def __enter__(self) -> Span:
        attrs = {sc.TT_KIND: self._kind.value, sc.TT_SOURCE: Source.SDK.value, **self._attributes}
        attrs.update(ctx.current_labels().attributes)
        state = ctx.TRACE_VAR.get()
        if self._kind is SpanKind.CHAIN and sc.TT_ROUND in attrs and state is not None:
            state.rounds += 1
            attrs[sc.TT_ROUND] = state.rounds
        name = f"{self._name} {attrs[sc.TT_ROUND]}" if sc.TT_ROUND in attrs else self._name
        span = self._engine.tracer.start_span(name, attributes=attrs)
        token = otel_context.attach(otel_trace.set_span_in_context(span))
        trace_token = None
        if state is None and self._kind is SpanKind.AGENT:
            trace_token = ctx.TRACE_VAR.set(ctx.TraceState(span))
        self._tokens.append((span, token, trace_token))
        return span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        span, token, trace_token = self._tokens.pop()
        if exc is not None:
            error_class = classify(exc, {})
            span.set_attributes({sc.TT_ERROR_CLASS: error_class.value, sc.ERROR_TYPE: type(exc).__name__})
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        if trace_token is not None:
            ctx.TRACE_VAR.reset(trace_token)
        otel_context.detach(token)
        span.end()


def trace_scope(engine: Engine, name: str) -> span_scope:
    attrs = {sc.GEN_AI_OPERATION_NAME: "invoke_agent", sc.GEN_AI_AGENT_NAME: name}
    return span_scope(engine, SpanKind.AGENT, f"invoke_agent {name}", attrs)


def tool_scope(engine: Engine, name: str) -> span_scope:
    attrs = {sc.GEN_AI_OPERATION_NAME: "execute_tool", sc.GEN_AI_TOOL_NAME: name}
    return span_scope(engine, SpanKind.TOOL, f"execute_tool {name}", attrs)


def round_scope(engine: Engine) -> span_scope:
    return span_scope(engine, SpanKind.CHAIN, "round", {sc.TT_ROUND: 1})


class degraded(ctx._Scope):
    """Mark a fallback: now on the current span and the trace root; as a block, on every call inside."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = str(reason)
        mark_degraded(self.reason)

    def _fresh(self) -> degraded:
        return degraded(self.reason)

    def __call__(self, fn: Any) -> Any:
        raise TypeError("degraded() marks a fallback when called or as a `with` block; it is not a decorator")

    def __enter__(self) -> str:
        self._tokens.append(ctx.DEGRADED_VAR.set(self.reason))
        return self.reason

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        ctx.DEGRADED_VAR.reset(self._tokens.pop())


def mark_degraded(reason: str) -> None:
    """Set the reason on the current span and count it on the trace root."""
    current = otel_trace.get_current_span()
    if current.is_recording():
        current.set_attribute(sc.TT_DEGRADED, reason)
    count_degraded(reason)


def count_degraded(reason: str) -> None:
    """Count a fallback on the trace root (an LLM call's own span gets the reason from its record)."""
    state = ctx.TRACE_VAR.get()
    if state is not None:
        state.degraded += 1
        state.root.set_attributes({sc.TT_DEGRADED: reason, sc.TT_DEGRADED_COUNT: state.degraded})
