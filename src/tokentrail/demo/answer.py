"""The end of the demo: the report over the whole window, spend per day, and the answer to "which feature
spent the most yesterday, and why?", all built from the collector's JSON API."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from urllib.parse import urlencode

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from tokentrail.demo.api import CollectorApi, custom_range
from tokentrail.demo.timeshift import Calendar
from tokentrail.render.report import report_grid
from tokentrail.render.tables import print_grid

DRIVERS = {"Models": "model", "Tenants": "tenant", "Prompt versions": "prompt version", "Features": "feature"}
SHOWN = ("Models", "Tenants", "Prompt versions")
SPEND_DAYS = 8  # the last days shown in the spend-per-day line


def money(value: float | None) -> str:
    value = value or 0.0
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:,.4f}"


def print_report(console: Console, api: CollectorApi, cal: Calendar) -> None:
    start, end = cal.day(cal.days - 1), cal.now
    result = api.summary(start, end, by="feature")
    title = f"LLM calls by feature, {start:%Y-%m-%d} to {end:%Y-%m-%d %H:%M} UTC"
    print_grid(console, report_grid(result, "feature", title))
    unpriced = sum(row["unpriced_calls"] or 0 for row in result.dicts())
    if unpriced:
        console.print(Text(f"{unpriced:,} calls unpriced (left out of the cost)", style="yellow"))
    days = api.summary(start, end, by="day").dicts()
    spend = sorted((str(row["day"])[:10], row["cost_usd"]) for row in days)[-SPEND_DAYS:]
    console.print("Spend per day: " + "  ".join(f"{day[5:]} {money(cost)}" for day, cost in spend))


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    feature: str
    app: str | None
    cost: float
    previous: float
    change: str
    calls: int
    drivers: list[tuple[str, dict[str, Any]]]  # (what, top row of that driver table)
    mover: dict[str, Any] | None
    totals: dict[str, Any]
    link: str
    sampled: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (what, call page URL)


def find_answer(api: CollectorApi, cal: Calendar) -> Answer | None:
    """Yesterday's top feature by cost (UTC day), its change against the day before and what drove it."""
    span = custom_range(*cal.yesterday())
    rows = api.get("/api/spenders", by="feature", limit=5, **span)["rows"]
    if not rows:
        return None
    top = rows[0]
    feature = str(top["value"])
    why = api.get("/api/why", feature=feature, **span)
    tables = {d["title"]: d["rows"] for d in why["drivers"]}
    drivers = [(DRIVERS[title], tables[title][0]) for title in SHOWN if tables.get(title)]
    apps = api.summary(*cal.yesterday(), by="app", feature=feature).dicts()
    link = f"{api.base_url}/why?{urlencode({**span, 'feature': feature})}"
    change = top["change"]["text"]
    app = str(apps[0]["app"]) if apps else None
    totals, sampled = why["totals"], sampled_links(api.base_url, why.get("sampled"))
    return Answer(feature, app, top["cost_usd"] or 0.0, top["prev_cost_usd"] or 0.0, change, top["calls"],
                  drivers, why.get("mover"), totals, link, sampled)  # fmt: skip


def sampled_links(base_url: str, sampled: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The call pages of the largest sampled input and the longest sampled output (when any were sampled)."""
    links = []
    for what, key in (("largest input", "largest_inputs"), ("longest output", "longest_outputs")):
        for row in (sampled or {}).get(key, [])[:1]:
            links.append((what, f"{base_url}/call/{row['trace_id']}/{row['span_id']}"))
    return links


def answer_lines(answer: Answer, yesterday: dt.datetime) -> list[str]:
    app = f" (app {escape(answer.app)})" if answer.app else ""
    lines = [
        f"[bold]Which feature spent the most yesterday ({yesterday:%a %Y-%m-%d} UTC), and why?[/]",
        f"  [bold]{escape(answer.feature)}[/]{app} spent [bold]{money(answer.cost)}[/] "
        f"in {answer.calls:,} calls: "
        f"{answer.change} against the day before ({money(answer.previous)}).{unpriced_note(answer.totals)}",
        "  What drove it:",
    ]
    for what, row in answer.drivers:
        share = (row["cost_usd"] or 0.0) / answer.cost * 100 if answer.cost else 0.0
        per_call = (row["input_tokens"] or 0) / row["calls"] if row["calls"] else 0
        lines.append(
            f"    {what:<15} {escape(str(row['value'])):<22} {money(row['cost_usd']):>9}  "
            f"{share:3.0f}% of it, "
            f"{row['change']['text']} vs the day before; {per_call:,.0f} input tokens per call"
        )
    if answer.mover:
        mover = answer.mover
        what = DRIVERS.get(mover["title"], mover["title"])
        lines.append(f"  Biggest change: {what} {escape(str(mover['value']))}, {mover['change']['text']}.")
    lines.append(f"  Dashboard: [link={answer.link}]{escape(answer.link)}[/link]")
    for what, url in answer.sampled:
        lines.append(f"  Sampled call with the {what}: [link={url}]{escape(url)}[/link]")
    return lines


def unpriced_note(totals: dict[str, Any]) -> str:
    unpriced = totals.get("unpriced_calls") or 0
    return f" {unpriced:,} calls unpriced (not in the cost)." if unpriced else ""


def print_answer(console: Console, api: CollectorApi, cal: Calendar) -> Answer | None:
    answer = find_answer(api, cal)
    console.print()
    if answer is None:
        console.print("No calls were stored for yesterday, so there is nothing to rank.")
        return None
    for line in answer_lines(answer, cal.day(1)):
        console.print(line, highlight=False, soft_wrap=True)
    return answer
