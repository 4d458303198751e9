"""Labels and trace state in contextvars.

``with labels(feature="search", tenant="acme"):`` sets labels for every call made inside; nested blocks
merge (the inner value wins, ``None`` removes a label). Known labels (`tokentrail.model.LABELS`) become
``tokentrail.<label>`` span attributes; any other keyword is free metadata, ``tokentrail.metadata.<key>``,
except ``capture_content``, which turns content capture on or off for the calls inside
(`tokentrail.sdk.content`).

**Threads.** contextvars follow ``await`` and ``asyncio`` tasks (each task starts with a copy of the context
that created it), but a ``threading.Thread`` or a ``ThreadPoolExecutor`` worker starts with an *empty*
context. ``tokentrail.instrument()`` therefore carries the context into work submitted to thread pools and
into threads started (`tokentrail.sdk.threads`; on by default). Where that is switched off, wrap the
function with `propagate`, which runs it in a copy of the context current when it was wrapped::

    with tokentrail.labels(feature="batch"):
        pool.submit(tokentrail.propagate(work), item)       # work() sees feature="batch"

The OpenTelemetry context is a contextvar too, so the parent span travels along the same way.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from tokentrail import semconv as sc
from tokentrail.model import LABELS

if TYPE_CHECKING:
    from opentelemetry.trace import Span

P = ParamSpec("P")
R = TypeVar("R")

KNOWN_LABELS = frozenset(LABELS)
CAPTURE_KEY = "capture_content"
"""Not a label: ``labels(capture_content=True)`` turns content capture on (False: off) inside the block."""


@dataclasses.dataclass(frozen=True, slots=True)
class LabelSet:
    """The labels in force; `attributes` is computed once per block, not once per call."""

    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    attributes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    derived: dict[object, Any] = dataclasses.field(default_factory=dict, compare=False)
    """Values computed from these labels once per block (e.g. Bedrock requestMetadata entries)."""
    capture: bool | None = None
    """``capture_content`` of the innermost block that set it (None: the instance's setting decides)."""

    def merged(self, values: Mapping[str, object]) -> LabelSet:
        labels = dict(self.labels)
        metadata = dict(self.metadata)
        capture = self.capture
        for key, value in values.items():
            if key == CAPTURE_KEY:
                capture = None if value is None else bool(value)
                continue
            target = labels if key in KNOWN_LABELS else metadata
            if value is None:
                target.pop(key, None)
            else:
                target[key] = str(value)
        return LabelSet(labels, metadata, _attributes(labels, metadata), capture=capture)


def _attributes(labels: Mapping[str, str], metadata: Mapping[str, str]) -> Mapping[str, str]:
    attrs = {sc.label_attribute(k): v for k, v in labels.items()}
    attrs.update({sc.TT_METADATA_PREFIX + k: v for k, v in metadata.items()})
    if "conversation_id" in labels:
        attrs[sc.GEN_AI_CONVERSATION_ID] = labels["conversation_id"]
    return MappingProxyType(attrs)


EMPTY_LABELS = LabelSet()
LABELS_VAR: contextvars.ContextVar[LabelSet] = contextvars.ContextVar(
    "tokentrail_labels", default=EMPTY_LABELS
)


def current_labels() -> LabelSet:
    return LABELS_VAR.get()


class _Scope:
    """A context manager that can also decorate sync and async functions (a fresh scope per call)."""

    def __init__(self) -> None:
        self._tokens: list[Any] = []

    def _fresh(self) -> _Scope:
        raise NotImplementedError

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await fn(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with self._fresh():
                return fn(*args, **kwargs)

        return run

    def __enter__(self) -> Any:
        raise NotImplementedError

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        raise NotImplementedError


class labels(_Scope):
    """Set labels (and free metadata) for every call made inside the block or decorated function."""

    def __init__(self, **values: object) -> None:
        super().__init__()
        self._values = values

    def _fresh(self) -> labels:
        return labels(**self._values)

    def __enter__(self) -> LabelSet:
        merged = LABELS_VAR.get().merged(self._values)
        self._tokens.append(LABELS_VAR.set(merged))
        return merged

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        LABELS_VAR.reset(self._tokens.pop())


def propagate(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` (later, maybe in another thread) in a copy of the current context (labels, parent span)."""
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # A fresh copy per call: one Context object cannot be entered by two threads at once.
        return captured.copy().run(fn, *args, **kwargs)

    return run


# --- trace state ------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class TraceState:
    """The root span of the current `trace` block, with per-trace counters."""

    root: Span
    degraded: int = 0
    rounds: int = 0


TRACE_VAR: contextvars.ContextVar[TraceState | None] = contextvars.ContextVar(
    "tokentrail_trace", default=None
)
DEGRADED_VAR: contextvars.ContextVar[str | None] = contextvars.ContextVar("tokentrail_degraded", default=None)
