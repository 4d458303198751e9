"""Budgets: an amount in USD per tenant, team, feature or app, for a day or a month (UTC), and their status
with a run-rate forecast.

Definitions live in the store's `budgets` table; they are set from a TOML file, the CLI or the API. The
status compares what the scope spent so far in the current period with the amount, and projects the
period's end from the run rate so far:

    forecast = spent / elapsed * period length
    days_to_exhaustion = (amount - spent) / (spent per day), or 0 when already over

A budget file::

    [[budget]]
    scope = "tenant"      # tenant, team, feature or app
    value = "acme"
    period = "month"      # day or month
    amount_usd = 250.0

SDKs read `status` through GET /api/budgets/status and refuse or degrade calls of a scope over budget.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

from tokentrail.exceptions import InputError
from tokentrail.store import Store, rollup_reads, rollups

SCOPES = ("tenant", "team", "feature", "app")
PERIODS = ("day", "month")


class BudgetError(InputError):
    """A budget definition is invalid; the message says which field and why."""


@dataclasses.dataclass(frozen=True, slots=True)
class Budget:
    scope: str
    value: str
    period: str
    amount_usd: float

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise BudgetError(f"scope must be one of {', '.join(SCOPES)}, not {self.scope!r}")
        if self.period not in PERIODS:
            raise BudgetError(f"period must be day or month, not {self.period!r}")
        if not isinstance(self.value, str) or not self.value:
            raise BudgetError("value must be a non-empty string (e.g. the tenant's id)")
        amount = self.amount_usd
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not 0 < amount < 1e12:
            raise BudgetError(f"amount_usd must be a positive number, not {amount!r}")

    @classmethod
    def from_mapping(cls, data: Any, where: str = "budget") -> Budget:
        if not isinstance(data, dict):
            raise BudgetError(f"{where}: must be a table with scope, value, period and amount_usd")
        missing = [k for k in ("scope", "value", "period", "amount_usd") if k not in data]
        if missing:
            raise BudgetError(f"{where}: missing {', '.join(missing)}")
        unknown = sorted(set(data) - {"scope", "value", "period", "amount_usd"})
        if unknown:
            raise BudgetError(f"{where}: unknown keys {', '.join(unknown)}")
        try:
            return cls(data["scope"], data["value"], data["period"], data["amount_usd"])
        except BudgetError as exc:
            raise BudgetError(f"{where}: {exc}") from None


def load_file(path: Path) -> list[Budget]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BudgetError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BudgetError(f"{path}: not valid TOML: {exc}") from None
    items = data.get("budget", [])
    if not isinstance(items, list) or set(data) - {"budget"}:
        raise BudgetError(f"{path}: expected only [[budget]] tables")
    return [Budget.from_mapping(item, f"{path}: budget[{i + 1}]") for i, item in enumerate(items)]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def set_budget(store: Store, budget: Budget) -> None:
    delete_budget(store, budget.scope, budget.value, budget.period)
    store.execute(
        "INSERT INTO budgets VALUES (?, ?, ?, ?, ?)",
        [budget.scope, budget.value, budget.period, float(budget.amount_usd), utcnow()],
    )


def delete_budget(store: Store, scope: str, value: str, period: str) -> bool:
    existed = any(b.scope == scope and b.value == value and b.period == period for b in list_budgets(store))
    if existed:
        store.execute(
            "DELETE FROM budgets WHERE scope = ? AND value = ? AND period = ?", [scope, value, period]
        )
    return existed


def list_budgets(store: Store) -> list[Budget]:
    rows = store.query(
        "SELECT scope, value, period, amount_usd FROM budgets ORDER BY scope, value, period"
    ).rows
    return [Budget(str(s), str(v), str(p), float(a)) for s, v, p, a in rows]


def period_bounds(period: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        start = start.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1)
    else:
        end = start + dt.timedelta(days=1)
    return start, end


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetStatus:
    budget: Budget
    period_start: dt.datetime
    period_end: dt.datetime
    spent_usd: float
    forecast_usd: float
    remaining_usd: float
    days_to_exhaustion: float | None  # None: no spend yet, so no run rate
    exceeded: bool
    forecast_exceeded: bool

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(dataclasses.asdict(self.budget))
        del out["budget"]
        out["period_start"] = self.period_start.isoformat() + "Z"
        out["period_end"] = self.period_end.isoformat() + "Z"
        return out


def budget_status(budget: Budget, spent: float, now: dt.datetime) -> BudgetStatus:
    start, end = period_bounds(budget.period, now)
    elapsed_days = max((now - start).total_seconds() / 86400, 1 / 1440)  # at least a minute
    period_days = (end - start).total_seconds() / 86400
    rate = spent / elapsed_days
    remaining = budget.amount_usd - spent
    forecast = rate * period_days
    to_exhaustion = 0.0 if remaining <= 0 else (remaining / rate if rate > 0 else None)
    return BudgetStatus(
        budget,
        start,
        end,
        spent,
        forecast,
        remaining,
        to_exhaustion,
        spent >= budget.amount_usd,
        forecast >= budget.amount_usd,
    )


def status(store: Store, now: dt.datetime | None = None) -> list[BudgetStatus]:
    """Every budget's status in its current period."""
    now = now or utcnow()
    out = []
    for budget in list_budgets(store):
        start, _ = period_bounds(budget.period, now)
        out.append(budget_status(budget, spent(store, budget, start, now), now))
    return out


def spent(store: Store, budget: Budget, start: dt.datetime, now: dt.datetime) -> float:
    """The cost in the budget's scope since `start`: from the rollups once the period has run more than 24 h
    (exact: integer nano-dollars, `tokentrail.store.rollup_reads`), else from the calls."""
    if rollup_reads.usable(store, start, now, {budget.scope}):
        nano = rollup_reads.sums(store, start, now, (), {budget.scope: budget.value})[0]["cost_nusd"]
        return int(nano or 0) / rollups.NANO
    row = store.query(
        f"SELECT coalesce(sum(cost_usd), 0) FROM calls WHERE {budget.scope} = ? AND start_time >= ? "
        "AND start_time < ?",
        [budget.value, start, now],
    ).rows[0]
    return float(row[0])
