"""`Tokentrail`: one SDK instance (settings, tracer, span worker, exporter, patches). The package's
module-level functions (``tokentrail.configure``, ``tokentrail.instrument``, ...) are bound to `DEFAULT`;
tests build isolated instances, e.g. ``Tokentrail(send_to_collector=False, span_processors=[...])``.

Tracer provider: when the application already set a real OpenTelemetry SDK ``TracerProvider`` globally,
tokentrail adds its span processor to it (so tokentrail receives the application's other spans as well,
and nothing of the application's set-up is replaced); otherwise it builds its own provider, which it sets
globally only when asked (``configure(set_global_provider=True)``). Our processors sit behind one relay
processor, so a later ``configure`` can detach them even from a provider that is not ours.

LLM call spans are built on the instance's span worker thread (`tokentrail.sdk.worker`): ``force_flush``,
``shutdown``, ``configure`` and the exit of the interpreter drain it first.
"""

from __future__ import annotations

import atexit
import importlib.util
import threading
import time
import weakref
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tokentrail import semconv as sc
from tokentrail.sdk import budget, prompts, spans
from tokentrail.sdk import context as ctx
from tokentrail.sdk.config import Settings, resolve
from tokentrail.sdk.errors import internal_error
from tokentrail.sdk.patching import PatchSet
from tokentrail.sdk.worker import SpanWorker, weak_caller

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
    from opentelemetry.trace import Tracer

    from tokentrail.sdk.export import OtlpExporter

INSTRUMENTATION_NAME = "tokentrail"
PROVIDERS = (("openai", "openai"), ("anthropic", "anthropic"), ("bedrock", "botocore"))


class Tokentrail:
    def __init__(self, **config: Any) -> None:
        self._config = config
        self._lock = threading.RLock()
        self._settings: Settings | None = None
        self._tracer: Tracer | None = None
        self._relay: _Relay | None = None
        self._exporter: OtlpExporter | None = None
        self._patches = PatchSet()
        self._budgets = budget.BudgetWatch(self)
        self._prompts: dict[tuple[str, str | None, int | None, float], prompts.Prompt] = {}
        self._worker = SpanWorker()
        self._at_exit = weak_caller(weakref.WeakMethod(self.shutdown))

    # --- configuration --------------------------------------------------------------------------------

    def configure(self, **config: Any) -> Tokentrail:
        """Resolve settings (argument > env > default) and set up export; see `tokentrail.sdk.config`.

        Options: ``endpoint``, ``ingest_key``, ``service_name``, ``environment``, ``send_to_collector``,
        ``span_processors`` (extra OTel processors, e.g. an in-memory exporter for tests),
        ``use_global_provider``, ``set_global_provider``, ``capture_content`` (True, or a hook),
        ``hash_user_id``, ``openai_stream_usage``, ``propagate_threads``, ``raise_internal_errors``,
        ``spool_dir``, ``spool_max_bytes`` and the exporter's pacing.
        """
        with self._lock:
            self._teardown()
            self._prompts.clear()
            self._config = config
            self._build()
            self._budgets.reopen()
            self._worker.reopen()
        return self

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            with self._lock:
                if self._settings is None:
                    self._build()
        assert self._settings is not None
        return self._settings

    @property
    def tracer(self) -> Tracer:
        if self._tracer is None:
            with self._lock:
                if self._tracer is None:
                    self._build()
        assert self._tracer is not None
        return self._tracer

    @property
    def worker(self) -> SpanWorker:
        return self._worker

    def _build(self) -> None:
        from opentelemetry import trace as otel_trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        from tokentrail.sdk.export import OtlpExporter

        settings = resolve(**self._config)
        resource_attrs = {sc.SERVICE_NAME: settings.service_name}
        if settings.environment:
            resource_attrs[sc.DEPLOYMENT_ENVIRONMENT] = settings.environment
        current = otel_trace.get_tracer_provider()
        owned = not (settings.use_global_provider and isinstance(current, TracerProvider))
        if isinstance(current, TracerProvider) and not owned:
            provider = current
        else:
            provider = TracerProvider(resource=Resource.create(resource_attrs))
            if settings.set_global_provider:
                otel_trace.set_tracer_provider(provider)
        processors = list(settings.span_processors)
        self._exporter = OtlpExporter(settings, provider.resource) if settings.send_to_collector else None
        if self._exporter is not None:
            processors.append(self._exporter)
        if (
            owned or processors
        ):  # our own provider: processors go straight in (each relay hop costs the caller)
            self._relay = _Relay(processors, provider if owned else None)
            for processor in [*processors] if owned else [self._relay]:
                provider.add_span_processor(processor)  # type: ignore[arg-type]  # _Relay is duck-typed
        self._tracer = provider.get_tracer(INSTRUMENTATION_NAME, _version())
        self._worker.configure(settings)
        self._settings = settings
        atexit.unregister(self._at_exit)  # registered after the exporter's, so it runs before it
        atexit.register(self._at_exit)

    def _teardown(self) -> None:
        if self._settings is not None:
            self._worker.drain(self._settings.shutdown_timeout_s)  # to the processors it was meant for
        if self._relay is not None:
            self._relay.shutdown()
        self._relay = self._exporter = self._tracer = self._settings = None

    # --- instrumentation ------------------------------------------------------------------------------

    def instrument(self) -> list[str]:
        """Patch every supported SDK that is installed; returns their names. Idempotent. Unless
        ``propagate_threads`` is off, also carry the caller's context into threads (`instrument_threads`)."""
        done = []
        for name, module in PROVIDERS:
            if importlib.util.find_spec(module) is None:
                continue
            try:
                getattr(self, f"instrument_{name}")()
                done.append(name)
            except Exception:
                internal_error(self.settings.raises)
        if self.settings.propagate_threads:
            self.instrument_threads()
        return done

    def instrument_openai(self, client: Any = None) -> bool:
        """Patch every OpenAI client (class level), or only `client`. False when already patched."""
        from tokentrail.sdk import openai, stainless

        self._ready()
        return stainless.instrument(self, self._patches, openai.target(), client)

    def instrument_anthropic(self, client: Any = None) -> bool:
        from tokentrail.sdk import anthropic, stainless

        self._ready()
        return stainless.instrument(self, self._patches, anthropic.target(), client)

    def instrument_bedrock(self, client: Any = None) -> bool:
        """Patch botocore (every ``bedrock-runtime`` client), or only `client`."""
        from tokentrail.sdk import bedrock

        self._ready()
        return bedrock.instrument(self, self._patches, client)

    def instrument_threads(self) -> bool:
        """Carry labels and the current trace into ``ThreadPoolExecutor`` work items and ``threading.Thread``s
        (`tokentrail.sdk.threads`). False when already patched."""
        from tokentrail.sdk import threads

        return threads.instrument(self._patches)

    def _ready(self) -> None:
        """Do now what the first LLM call would otherwise wait for: settings, tracer provider, exporter, and
        the span worker's thread."""
        with self._lock:
            if self._tracer is None:
                self._build()
        self._worker.start()

    def uninstrument(self) -> int:
        """Undo every patch this instance made; returns how many."""
        return self._patches.revert()

    # --- context --------------------------------------------------------------------------------------

    def labels(self, **values: object) -> ctx.labels:
        """``with labels(feature=..., tenant=..., **metadata):`` for every call inside (also a decorator)."""
        return ctx.labels(**values)

    def trace(self, name: str) -> spans.span_scope:
        """A parent span (kind agent) for an agent run; a context manager and a decorator."""
        return spans.trace_scope(self, name)

    def tool(self, name: str) -> spans.span_scope:
        """A tool execution span (kind tool); a context manager and a decorator."""
        return spans.tool_scope(self, name)

    def round(self) -> spans.span_scope:
        """Optional: one round of a tool loop (kind chain, numbered within the trace)."""
        return spans.round_scope(self)

    def degraded(self, reason: str) -> spans.degraded:
        """Mark that the application fell back; see `tokentrail.sdk.spans`."""
        return spans.degraded(reason)

    propagate = staticmethod(ctx.propagate)

    # --- budgets --------------------------------------------------------------------------------------

    def budget_guard(
        self,
        on_exceeded: budget.OnExceeded = "warn",
        degrade_to: Mapping[str, str] | None = None,
        refresh_s: float = 30.0,
    ) -> budget.budget_guard:
        """Refuse (``"raise"``: `BudgetExceeded`), downgrade (``"degrade"``, through ``degrade_to``, e.g.
        ``{"gpt-4o": "gpt-4o-mini"}``) or flag (``"warn"``) the LLM calls made inside whose labels (tenant,
        team, feature, app) are over a budget; a context manager and a decorator (sync and async).

        Statuses are refreshed from the collector every `refresh_s` by a background thread, so no call
        waits on the network. Until the first refresh succeeds, budgets are unknown and calls are allowed:
        call `refresh_budgets` at start-up to fetch them first. See `tokentrail.sdk.budget`.
        """
        degrade = MappingProxyType(dict(degrade_to or {}))
        return budget.budget_guard(budget.Policy(self._budgets, on_exceeded, degrade, refresh_s))

    def refresh_budgets(self) -> bool:
        """Fetch budget statuses from the collector now (blocking, up to ``export_timeout_s``); True on
        success. Failures are counted in `sdk_stats` and leave the last statuses in force."""
        try:
            return self._budgets.refresh()
        except Exception:
            internal_error(self.settings.raises)
            return False

    # --- export ---------------------------------------------------------------------------------------

    def prompt(
        self,
        name: str,
        stage: str | None = "prod",
        version: int | None = None,
        cache_ttl_s: float = 60.0,
        fallback: str | Mapping[str, Any] | None = None,
    ) -> prompts.Prompt:
        """The version `stage` holds (or version `version`) of prompt `name`, cached locally and refreshed in
        the background every `cache_ttl_s`; ``with p:`` labels calls with it. See `tokentrail.sdk.prompts`.
        The same arguments give the same object, so only its first use waits on the network."""
        key = (name, stage if version is None else None, version, cache_ttl_s)
        with self._lock:
            found = self._prompts.get(key)
            if found is None:
                s = self.settings
                source = prompts.Source(s.endpoint, s.ingest_key, s.cache_path(), s.export_timeout_s)
                found = prompts.Prompt(source, name, stage, version, cache_ttl_s, fallback)
                self._prompts[key] = found
            return found

    def sdk_stats(self) -> dict[str, int]:
        """Spans exported, spooled, dropped and retried by this instance's exporter (zeros without one), and
        budget status refreshes and failed refreshes. ``dropped`` also counts LLM calls the span worker's
        full queue turned away."""
        if self._exporter is None:
            stats = {"exported": 0, "spooled": 0, "dropped": 0, "retried": 0}
        else:
            stats = self._exporter.stats.snapshot()
        stats["dropped"] += self._worker.stats.snapshot()["dropped"]
        return stats | self._budgets.stats.snapshot()

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        """Turn the finished calls into spans, then flush the span processors; True when done in time.
        Raises an internal error of the span worker's when internal errors raise (under pytest)."""
        deadline = time.monotonic() + timeout_s
        done = self._worker.drain(timeout_s)
        relay = self._relay
        if relay is not None:
            done = relay.force_flush(int(max(deadline - time.monotonic(), 0) * 1000)) and done
        self._worker.raise_kept()
        return done

    def shutdown(self, timeout_s: float | None = None) -> None:
        """Turn the finished calls into spans, flush and stop the exporter within `timeout_s` (what is left
        goes to the disk spool), and stop the budget refresher (guards keep the last statuses). Calls that
        end later are dropped (counted in `sdk_stats`) until the next ``configure``."""
        settings = self._settings or Settings()  # never built: nothing to flush, no reason to build
        timeout = settings.shutdown_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        atexit.unregister(self._at_exit)
        self._worker.close(timeout)
        with self._lock:
            if self._exporter is not None:
                self._exporter.shutdown(max(deadline - time.monotonic(), 0))
        self._budgets.close(deadline - time.monotonic())  # unlocked: its thread may be reading settings


class _Relay:
    """Our processors. On a provider that is not ours, it is the one processor added, and forwards spans until
    shut down (a provider offers no way to remove a processor); on our own provider, `shutdown` shuts it."""

    def __init__(self, processors: list[SpanProcessor], owned: TracerProvider | None = None) -> None:
        self._processors = tuple(processors)
        self._owned = owned

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        for processor in self._processors:
            processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for processor in self._processors:
            processor.on_end(span)

    def _on_ending(self, span: Span) -> None:
        for processor in self._processors:
            processor._on_ending(span)

    def shutdown(self) -> None:
        processors, self._processors = self._processors, ()
        if self._owned is not None:
            self._owned.shutdown()
            return
        for processor in processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all(processor.force_flush(timeout_millis) for processor in self._processors)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tokentrail")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


DEFAULT = Tokentrail()
"""The instance behind the module-level functions of the ``tokentrail`` package."""
