"""The view state of a dashboard page or dashboard API call, read from the query string.

Pages and the JSON their charts request share one set of parameters, so a page's URL can be shared and its
charts ask for the same view:

    since=1h|24h|7d|30d|<n><unit>|custom   the range ends now; with `custom`, start= and end= apply
    start=, end=                           ISO-8601 (naive means UTC) or epoch milliseconds
    <field>=<value>                        an equality filter on any filterable field (analytics.FILTERABLE)
    add_field=<field>&add_value=<value>    the filter form's pair; pages redirect to <field>=<value>
    sort, order, limit, offset, by, pick,  options of one page (q: the query console's text; metric ...
    dims, q, metric, stat, unit, mode,     effect: an experiment page's)
    control, split, effect
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from urllib.parse import urlencode

from tokentrail.analytics.fields import FILTERABLE
from tokentrail.analytics.ranges import TimeRange
from tokentrail.exceptions import BadRequest

PRESETS = ("1h", "24h", "7d", "30d")
DEFAULT_SINCE = "24h"
CUSTOM = "custom"
OPTIONS = frozenset({"sort", "order", "limit", "offset", "by", "pick", "dims", "q"})
# options of the experiment page (see dashboard_experiments)
OPTIONS |= {"metric", "stat", "unit", "mode", "control", "split", "effect"}
# options of the prompt page's diff (see prompts_pages)
OPTIONS |= {"a", "b"}
# the rule the Alerts page backtests (see alerts_pages)
OPTIONS |= {"rule"}
RANGE_KEYS = frozenset({"since", "start", "end"})
ADD_KEYS = ("add_field", "add_value")
# Fields offered in the filter form, most useful first; every other filterable field follows.
FILTER_ORDER = (
    "feature",
    "app",
    "tenant",
    "model",
    "provider",
    "cost_center",
    "team",
    "environment",
    "prompt_name",
    "prompt_version",
    "status",
    "error_class",
)
FILTER_FIELDS = (*FILTER_ORDER, *sorted(FILTERABLE - set(FILTER_ORDER)))

Pairs = Sequence[tuple[str, str]]


@dataclasses.dataclass(frozen=True, slots=True)
class View:
    """Time range, filters and page options of one request."""

    since: str
    start: str | None
    end: str | None
    filters: dict[str, str]
    options: tuple[tuple[str, str], ...]
    time_range: TimeRange

    def option(self, name: str, default: str | None = None) -> str | None:
        values = self.option_list(name)
        return values[-1] if values else default

    def option_list(self, name: str) -> list[str]:
        return [v for k, v in self.options if k == name]

    def options_for(self, names: Iterable[str]) -> list[tuple[str, str]]:
        wanted = set(names)
        return [(k, v) for k, v in self.options if k in wanted]

    def int_option(self, name: str, default: int) -> int:
        raw = self.option(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be an integer, not {raw!r}") from None

    def range_pairs(self) -> list[tuple[str, str]]:
        if self.since != CUSTOM:
            return [("since", self.since)]
        return [("since", CUSTOM), *((k, v) for k, v in (("start", self.start), ("end", self.end)) if v)]

    def query(
        self,
        filters: dict[str, str | None] | None = None,
        options: Iterable[tuple[str, str]] = (),
        keep_options: bool = False,
    ) -> str:
        """The query string of this view with filters changed (a None value removes one)."""
        merged: dict[str, str | None] = {**self.filters, **(filters or {})}
        pairs = [*self.range_pairs(), *((k, v) for k, v in merged.items() if v is not None)]
        if keep_options:
            names = {k for k, _ in options}
            pairs += [(k, v) for k, v in self.options if k not in names]
        pairs += list(options)
        return urlencode(pairs)


def canonical(pairs: Pairs) -> list[tuple[str, str]]:
    """The query pairs a page redirects to: empties dropped, the add pair made a filter, no stray range."""
    out = [(k, v) for k, v in pairs if v != "" and k not in ADD_KEYS]
    found = dict(pairs)
    field, value = found.get("add_field", ""), found.get("add_value", "")
    if field and value:
        out = [(k, v) for k, v in out if k != field] + [(field, value)]
    if found.get("since", CUSTOM) != CUSTOM:
        out = [(k, v) for k, v in out if k not in ("start", "end")]
    return out


def needs_redirect(pairs: Pairs) -> bool:
    return sorted(canonical(pairs)) != sorted(pairs)


def parse_view(pairs: Pairs) -> View:
    """Read and check a query string's pairs; unknown fields and bad times raise BadRequest."""
    values: dict[str, str] = {}
    filters: dict[str, str] = {}
    options: list[tuple[str, str]] = []
    for key, value in pairs:
        if key in RANGE_KEYS:
            values[key] = value
        elif key in OPTIONS:
            options.append((key, value))
        elif key in ADD_KEYS:
            continue
        elif key not in FILTERABLE:
            raise BadRequest(f"cannot filter on {key!r}; filterable fields: {', '.join(FILTER_FIELDS)}")
        elif value != "":
            filters[key] = value
    since, start, end = values.get("since") or None, values.get("start") or None, values.get("end") or None
    time_range = _resolve(since, start, end)
    if since != CUSTOM and not (since is None and start):
        start = end = None
    label = CUSTOM if start else since or DEFAULT_SINCE
    return View(label, start, end, filters, tuple(options), time_range)


def _resolve(since: str | None, start: str | None, end: str | None) -> TimeRange:
    if since == CUSTOM or (since is None and start):
        if not start:
            raise BadRequest("a custom range needs a start time (and optionally an end time)")
        return TimeRange.resolve(None, start, end)
    return TimeRange.resolve(since or DEFAULT_SINCE)
