"""Budget guard: refuse, downgrade or flag LLM calls of a tenant (team, feature, app) over budget, in-process.

``with tokentrail.budget_guard(on_exceeded="raise"):`` (also a decorator, sync or async) applies to every
LLM call made inside. At each SDK choke point, where the call record starts, the labels in force (`tenant`,
`team`, `feature`, `app`) are looked up among the budgets the collector last reported as exceeded; on a hit:

- ``"raise"``: `BudgetExceeded` is raised before any request is sent. The refused call is still recorded:
  a span with status error, ``error.type`` ``BudgetExceeded`` and error class ``other``.
- ``"degrade"``: the model is swapped through ``degrade_to`` (e.g. ``{"gpt-4o": "gpt-4o-mini"}``) before the
  request is sent (openai/anthropic body ``model``, Bedrock ``modelId``; a model not in the map is sent as
  asked), and the call is marked degraded with reason ``budget_exceeded`` (``tokentrail.degraded``).
- ``"warn"``: a warning is logged once per scope per refresh; the call proceeds.

Every such call carries ``tokentrail.budget_exceeded = "<scope>=<value>"``. Outside a guard the choke points
read one contextvar and nothing else; inside, a call costs one dict lookup per label.

**No call waits on the network.** Statuses come from ``GET {endpoint}/api/budgets/status`` (with the ingest
key as a Bearer token when set), fetched by one daemon thread per `Tokentrail` instance, started when a guard
is first entered and polling every ``refresh_s`` (the shortest asked for), counted from the last fetch,
the application's own ``refresh_budgets()`` included. Until a fetch succeeds, budgets are *unknown and
calls are allowed*; call ``refresh_budgets()`` at start-up for a first fetch. A failed fetch keeps the last
statuses, is counted (``sdk_stats()["budget_refresh_failures"]``) and logged at most once a minute; a
budget reported exceeded stops counting as such at the end of its period (a new day or month starts within
budget). The thread stops at ``shutdown()`` and restarts in a forked child on first use.
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import json
import math
import os
import threading
import time
import weakref
from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal

from opentelemetry import context as otel_context

from tokentrail import semconv as sc
from tokentrail.exceptions import TokentrailError
from tokentrail.sdk import context as ctx
from tokentrail.sdk.errors import internal_error, log
from tokentrail.sdk.spans import count_degraded
from tokentrail.sdk.stats import Stats

if TYPE_CHECKING:
    from tokentrail.sdk.call import CallRecord, Engine

STATUS_PATH: Final = "/api/budgets/status"
SCOPES: Final = ("tenant", "team", "feature", "app")  # checked in this order; the first hit wins
ACTIONS: Final = ("warn", "raise", "degrade")
DEGRADED_REASON: Final = "budget_exceeded"
COUNTERS: Final = ("budget_refreshes", "budget_refresh_failures")
FAILURE_LOG_INTERVAL_S: Final = 60.0

OnExceeded = Literal["warn", "raise", "degrade"]


class BudgetExceeded(TokentrailError):
    """A guarded LLM call was refused: the scope (e.g. tenant ``acme``) is over its budget for the period."""

    def __init__(self, scope: str, value: str, period: str, spent_usd: float, amount_usd: float) -> None:
        super().__init__(
            f"{scope} {value!r} is over its {period} budget: spent ${spent_usd:.6g} of ${amount_usd:.6g}"
        )
        self.scope = scope
        self.value = value
        self.period = period
        self.spent_usd = spent_usd
        self.amount_usd = amount_usd


# --- statuses --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Over:
    """One budget the collector reported exceeded."""

    scope: str
    value: str
    period: str
    spent_usd: float
    amount_usd: float
    until: float  # the end of its period (epoch seconds): a new period starts within budget

    @property
    def key(self) -> str:
        return f"{self.scope}={self.value}"

    def error(self) -> BudgetExceeded:
        return BudgetExceeded(self.scope, self.value, self.period, self.spent_usd, self.amount_usd)

    @classmethod
    def from_status(cls, item: Mapping[str, Any]) -> Over:
        try:
            return cls(
                str(item["scope"]),
                str(item["value"]),
                str(item["period"]),
                float(item["spent_usd"]),
                float(item["amount_usd"]),
                _epoch(str(item["period_end"])),
            )
        except KeyError as exc:
            raise ValueError(f"a budget status without {exc}") from None
        except TypeError as exc:
            raise ValueError(f"a budget status with a bad field: {exc}") from None


def _epoch(text: str) -> float:
    when = dt.datetime.fromisoformat(text)
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """The exceeded budgets of one successful fetch: ``(scope, {value: Over})`` for the scopes that have
    any, in `SCOPES` order, so a call looks up only the labels that could match."""

    over: tuple[tuple[str, Mapping[str, Over]], ...]
    fetched: bool
    warned: set[tuple[str, str]] = dataclasses.field(default_factory=set)  # "warn" logs once per snapshot

    def find(self, labels: Mapping[str, str]) -> Over | None:
        for scope, values in self.over:
            value = labels.get(scope)
            if value is not None:
                hit = values.get(value)
                if hit is not None and hit.until > time.time():
                    return hit
        return None


UNKNOWN: Final = Snapshot((), fetched=False)


def parse(body: bytes) -> Snapshot:
    """The reply of GET /api/budgets/status; ValueError when it is not what the collector sends."""
    data = json.loads(body)
    items = data.get("budgets") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError('expected {"budgets": [{...}, ...]}')
    over: dict[str, dict[str, Over]] = {scope: {} for scope in SCOPES}
    for item in items:
        if item.get("exceeded") is True:
            entry = Over.from_status(item)
            values = over.setdefault(entry.scope, {})
            found = values.get(entry.value)
            if found is None or entry.until > found.until:  # over for a day and a month: the month holds
                values[entry.value] = entry
    return Snapshot(tuple((s, MappingProxyType(v)) for s, v in over.items() if v), fetched=True)


def fetch(endpoint: str, ingest_key: str | None, timeout: float) -> Snapshot:
    """One blocking GET of the statuses; raises OSError, http.client.HTTPException or ValueError."""
    from tokentrail.sdk.export import Transport

    status, body = Transport(endpoint, ingest_key).get(STATUS_PATH, timeout)
    if status != 200:
        raise ValueError(f"GET {STATUS_PATH} answered HTTP {status}")
    return parse(body)


# --- the refresher ---------------------------------------------------------------------------------------


class BudgetWatch:
    """The latest statuses of one `Tokentrail` instance, refreshed by one daemon thread."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.snapshot = UNKNOWN
        self._interval = math.inf
        self._closed = False
        self._fork_hooked = False
        self._logged_at = -math.inf
        self._tried_at = -math.inf  # the last fetch (monotonic), by the thread or by `refresh`
        self._init_state()

    def _init_state(self) -> None:
        self.stats = Stats(COUNTERS)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, refresh_s: float) -> None:
        """Have the thread running, polling at least every `refresh_s`; cheap when it already is."""
        if self._thread is not None and refresh_s >= self._interval:
            return
        with self._lock:
            self._interval = min(self._interval, refresh_s)
            if self._thread is not None or self._closed:
                return
            if not self._fork_hooked:
                from tokentrail.sdk.worker import weak_caller

                os.register_at_fork(after_in_child=weak_caller(weakref.WeakMethod(self._init_state)))
                self._fork_hooked = True
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name="tokentrail-budgets", daemon=True
            )
            self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
        while True:
            due = self._tried_at + self._interval - time.monotonic()
            if due > 0:  # also when the application has just called `refresh` itself
                if stop.wait(due):
                    return
                continue
            try:
                self.refresh()
            except Exception:
                internal_error(self._engine.settings.raises)

    def refresh(self) -> bool:
        """Fetch the statuses now (blocking); False when the collector could not tell."""
        import http.client

        self._tried_at = time.monotonic()
        settings = self._engine.settings
        try:
            snapshot = fetch(settings.endpoint, settings.ingest_key, settings.export_timeout_s)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.stats.add("budget_refresh_failures")
            self._log_failure(settings.endpoint, exc)
            return False
        self.snapshot = snapshot
        self.stats.add("budget_refreshes")
        return True

    def _log_failure(self, endpoint: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._logged_at < FAILURE_LOG_INTERVAL_S:
            return
        self._logged_at = now
        known = "keeping the last statuses" if self.snapshot.fetched else "budgets unknown, calls allowed"
        log.warning(
            "tokentrail: cannot refresh budgets from %s%s (%s); %s", endpoint, STATUS_PATH, exc, known
        )

    def close(self, timeout_s: float) -> None:
        """Stop the thread (waiting up to `timeout_s` for a fetch in flight); guards keep the statuses."""
        with self._lock:
            self._closed = True
            self._stop.set()
            thread, self._thread = self._thread, None
            self._stop = threading.Event()
        if thread is not None:
            thread.join(max(timeout_s, 0.0))

    def reopen(self) -> None:
        self._closed = False


# --- the guard -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one call over budget."""

    action: str
    over: Over
    model: str | None  # the model to send instead ("degrade" with a mapping)

    def apply(self, call: CallRecord) -> None:
        """Mark the call just started; for "raise", end it as refused and raise `BudgetExceeded`."""
        call.extra[sc.TT_BUDGET_EXCEEDED] = self.over.key
        if self.action == "raise":
            exc = self.over.error()
            call.end(exc=exc)
            raise exc
        if self.action == "degrade":
            call.extra[sc.TT_DEGRADED] = DEGRADED_REASON
            count_degraded(DEGRADED_REASON)


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    watch: BudgetWatch
    action: str
    degrade_to: Mapping[str, str]
    refresh_s: float

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"on_exceeded must be one of {', '.join(ACTIONS)}, not {self.action!r}")
        if self.degrade_to and self.action != "degrade":
            raise ValueError('degrade_to is only used with on_exceeded="degrade"')
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.degrade_to.items()):
            raise ValueError("degrade_to must map model names to model names")
        if isinstance(self.refresh_s, bool) or not 0 < self.refresh_s < math.inf:
            raise ValueError(f"refresh_s must be a positive number of seconds, not {self.refresh_s!r}")

    def check(self, model: str | None) -> Verdict | None:
        snapshot = self.watch.snapshot
        if not snapshot.over:
            return None
        over = snapshot.find(ctx.current_labels().labels)
        if over is None:
            return None
        if self.action == "warn" and (over.scope, over.value) not in snapshot.warned:
            snapshot.warned.add((over.scope, over.value))
            log.warning(
                "tokentrail: %s %r is over its %s budget (spent $%.6g of $%.6g); calls proceed (warn)",
                over.scope,
                over.value,
                over.period,
                over.spent_usd,
                over.amount_usd,
            )
        swap = self.degrade_to.get(model) if self.action == "degrade" and model else None
        return Verdict(self.action, over, swap if swap != model else None)


GUARD_VAR: contextvars.ContextVar[Policy | None] = contextvars.ContextVar("tokentrail_budget", default=None)


def check(model: str | None) -> Verdict | None:
    """At a choke point, before the call starts: what to do, or None (outside a guard, or within budget)."""
    policy = GUARD_VAR.get()
    return None if policy is None else policy.check(model)


class budget_guard(ctx._Scope):
    """Apply a budget policy to the LLM calls inside (a context manager, and a decorator)."""

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self.policy = policy

    def _fresh(self) -> budget_guard:
        return budget_guard(self.policy)

    def __enter__(self) -> budget_guard:
        self.policy.watch.start(self.policy.refresh_s)
        self._tokens.append(GUARD_VAR.set(self.policy))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        GUARD_VAR.reset(self._tokens.pop())
