"""What the dashboard pages show, built from aggregate queries (nothing here fetches raw rows in bulk).

Pages render these with templates, and the dashboard API returns the same data as JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

from tokentrail.analytics import compare as compare_queries
from tokentrail.analytics import dashboard as dashboard_queries
from tokentrail.analytics.calls import list_calls, stream_timelines
from tokentrail.exceptions import BadRequest
from tokentrail.model import COLUMNS, StreamTimeline
from tokentrail.samples import queries as sample_queries
from tokentrail.server.dashboard_format import Change, change, value_label
from tokentrail.server.dashboard_params import View
from tokentrail.store import Store

OVERVIEW_DIMS = ("app", "feature", "tenant", "model", "provider", "cost_center")
SPENDER_DIMS = ("feature", "app", "tenant", "model", "provider", "cost_center", "team", "prompt_version")
COMPARE_DIMS = ("model", "provider", "variant")
# The tables of the "why" page: title and the dimensions of each (skipped when the view filters on them all).
DRIVERS = (
    ("Models", ("model",)),
    ("Tenants", ("tenant",)),
    ("Prompt versions", ("prompt_name", "prompt_version")),
    ("Features", ("feature",)),
)
# The calls behind a cost: title, sort column, and the least value worth listing (None: any).
CALL_LISTS = (
    ("Largest inputs", "input_tokens", None),
    ("Most attempts (retries)", "attempts", 2),
    ("Longest outputs", "output_tokens", None),
)
STALL_FACTOR = 5.0
STALL_MIN_MS = 250.0
DESCRIPTIONS = {name: text for name, _, text in COLUMNS}


def overview_tiles(store: Store, view: View, timeout_s: float | None = None) -> dict[str, Any]:
    row = dashboard_queries.overview_totals(store, view.time_range, view.filters, timeout_s=timeout_s)
    seconds = (view.time_range.end - view.time_range.start).total_seconds()
    return {**row, "requests_per_s": (row["calls"] or 0) / seconds}


def timeseries(store: Store, view: View, timeout_s: float | None = None) -> dict[str, Any]:
    """Buckets from the range start, zero-filled for counts and null for percentiles where empty."""
    tr = view.time_range
    step, rows = dashboard_queries.timeseries(store, tr, view.filters, timeout_s=timeout_s)
    n = max(1, math.ceil((tr.end - tr.start).total_seconds() / step))
    metrics = dashboard_queries.TIMESERIES_METRICS
    series: dict[str, list[Any]] = {m: [None if m.endswith("_ms") else 0] * n for m in metrics}
    for row in rows:
        index = int(row["bucket"])
        if 0 <= index < n:
            for m in metrics:  # sums of nothing priced are 0; percentiles of nothing stay null
                value = _finite(row[m])
                series[m][index] = value if value is not None or m.endswith("_ms") else 0
    times = [tr.start + dt.timedelta(seconds=step * i) for i in range(n)]
    return {"start": tr.start, "end": tr.end, "step_s": step, "t": times, "series": series}


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def breakdowns(store: Store, view: View, dims: tuple[str, ...], limit: int = 10) -> dict[str, Any]:
    if not 1 <= limit <= 100:
        raise BadRequest("limit must be 1..100")
    return {"dims": dashboard_queries.breakdowns(store, view.time_range, dims, view.filters, limit)}


def with_change(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "change": change(row["cost_usd"], row["prev_cost_usd"])} for row in rows]


def spenders(store: Store, view: View, by: str, limit: int = 50) -> list[dict[str, Any]]:
    if by not in SPENDER_DIMS:
        raise BadRequest(f"rank by one of: {', '.join(SPENDER_DIMS)}")
    result = compare_queries.period_compare(store, view.time_range, [by], view.filters, limit)
    return with_change([{**row, "value": row[by]} for row in result.dicts()])


def why(store: Store, view: View) -> dict[str, Any]:
    """What drove the cost of the filtered traffic: totals, drivers by dimension, and the calls behind it."""
    tr, flt = view.time_range, view.filters
    totals = with_change(compare_queries.period_compare(store, tr, (), flt).dicts())[0]
    drivers = []
    for title, dims in DRIVERS:
        if all(d in flt for d in dims):
            continue
        rows = compare_queries.period_compare(store, tr, dims, flt, limit=15).dicts()
        labelled = [{**r, "value": " ".join(value_label(r[d]) for d in dims)} for r in rows]
        drivers.append({"title": title, "by": dims, "rows": with_change(labelled)})
    calls = [
        {"title": title, "column": column, "rows": _top_calls(store, view, column, least)}
        for title, column, least in CALL_LISTS
    ]
    sampled = sampled_calls(store, view, drivers)
    return {
        "totals": totals,
        "drivers": drivers,
        "mover": biggest_mover(drivers),
        "calls": calls,
        "sampled": sampled,
    }


def part_text(part: Any) -> tuple[str, str]:
    """(kind, plain text) of one message part of a sample document (shown escaped)."""
    if not isinstance(part, dict):
        return "text", str(part)
    kind = str(part.get("type") or "part")
    if kind in ("text", "reasoning"):
        return kind, str(part.get("content") or "")
    if kind == "tool_call":
        return kind, f"{part.get('name')}({json.dumps(part.get('arguments'), ensure_ascii=False)})"
    if kind == "tool_call_response":
        response = part.get("response")
        return kind, response if isinstance(response, str) else json.dumps(response, ensure_ascii=False)
    return kind, json.dumps(part, ensure_ascii=False)


def sample_messages(sample: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A sample's system instructions, input and output messages, in order, as plain text parts."""
    if sample is None:
        return []
    doc = sample["document"]
    shown = [{"side": "system", "role": "system", "parts": doc["system"]}] if doc.get("system") else []
    shown += [{"side": "input", **m} for m in doc.get("messages") or ()]
    shown += [{"side": "output", **m} for m in doc.get("output") or ()]
    return [
        {
            "side": m["side"],
            "role": str(m.get("role") or ""),
            "parts": [part_text(p) for p in m.get("parts") or ()],
        }
        for m in shown
    ]


def sampled_calls(store: Store, view: View, drivers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The sampled calls of the feature asked about (else of the costliest one) with the largest inputs and
    the longest outputs: where to read what was sent."""
    if "feature" in view.filters:
        feature: str | None = view.filters["feature"]
    else:
        rows: list[dict[str, Any]] = next((d["rows"] for d in drivers if d["by"] == ("feature",)), [])
        if not rows:
            return None
        feature = rows[0]["feature"]
    found = sample_queries.largest(store, view.time_range.start, view.time_range.end, feature)
    return {"feature": feature, **found}


def _top_calls(store: Store, view: View, column: str, least: int | None) -> list[dict[str, Any]]:
    """The ten calls with the most of `column`; with `least`, only those with at least that much."""
    rows = list_calls(store, view.time_range, view.filters, column, limit=10).dicts()
    return [r for r in rows if least is None or (r[column] or 0) >= least]


def biggest_mover(drivers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The single group whose cost changed most (in dollars) against the previous period."""
    best: dict[str, Any] | None = None
    for driver in drivers:
        for row in driver["rows"]:
            moved: Change = row["change"]
            if moved.delta and (best is None or abs(moved.delta) > abs(best["change"].delta)):
                best = {"title": driver["title"], "value": row["value"], "change": moved}
    return best


def compare(store: Store, view: View, by: str, picks: list[str]) -> list[dict[str, Any]]:
    if by not in COMPARE_DIMS:
        raise BadRequest(f"compare by one of: {', '.join(COMPARE_DIMS)}")
    return compare_queries.compare(store, view.time_range, by, picks, view.filters)


def default_picks(store: Store, view: View, by: str, count: int = 3) -> list[str]:
    top = dashboard_queries.top_values(store, view.time_range, by, view.filters, count)
    return [value for value, _ in top]


def stalled(span: dict[str, Any]) -> bool:
    """A stall: the longest inter-token gap is > 5x the median gap and > 250 ms."""
    longest, median = span.get("itl_max_ms"), span.get("itl_p50_ms") or 0.0
    return longest is not None and longest > STALL_MIN_MS and longest > STALL_FACTOR * median


def timeline(span: dict[str, Any], arrivals: StreamTimeline | None = None) -> dict[str, Any] | None:
    """Start → first token → last token → end, as percentages of the call's duration, with the chunks'
    arrivals and the longest gap where it happened when the stream's timeline was recorded."""
    total = float(span.get("duration_ms") or span.get("ttlt_ms") or 0.0)
    if total <= 0:
        return None
    ttft, ttlt = span.get("ttft_ms"), span.get("ttlt_ms")

    def at(value: float) -> float:
        return round(min(max(value / total * 100, 0.0), 100.0), 3)

    segments = []
    if ttft is not None:
        segments.append({"name": "waiting for the first token", "cls": "wait", "x": 0.0, "w": at(ttft)})
        last = ttlt if ttlt is not None else total
        segments.append({"name": "streaming", "cls": "stream", "x": at(ttft), "w": at(last) - at(ttft)})
        if ttlt is not None and total > ttlt:
            segments.append(
                {"name": "after the last token", "cls": "tail", "x": at(ttlt), "w": 100 - at(ttlt)}
            )
    else:
        segments.append({"name": "request (not streamed)", "cls": "whole", "x": 0.0, "w": 100.0})
    marks = [(label, v, at(v)) for label, v in (("TTFT", ttft), ("TTLT", ttlt), ("end", total)) if v]
    out = {"total_ms": total, "segments": segments, "marks": marks, "chunks": None, "longest_gap": None}
    if arrivals is not None:
        out.update(_arrivals(arrivals, at))
    return out


def _arrivals(arrivals: StreamTimeline, at: Callable[[float], float]) -> dict[str, Any]:
    """(chunk number, offset ms, x %) per recorded chunk, and the longest gap's place, length and chunk."""
    chunks = [(n, t, at(t)) for n, t in zip(arrivals.chunks, arrivals.offsets_ms, strict=True)]
    longest = arrivals.longest_gap()
    if longest is None:
        return {"chunks": chunks}
    chunk, gap = longest
    start = arrivals.offsets_ms[arrivals.chunks.index(chunk)] - gap
    return {
        "chunks": chunks,
        "longest_gap": {"x": at(start), "w": max(at(gap), 0.4), "ms": gap, "chunk": chunk},
    }


def call_timeline(store: Store, span: dict[str, Any]) -> dict[str, Any] | None:
    """`timeline` of a stored span, with its stream's arrivals when they were recorded."""
    trace_id, span_id = span["trace_id"], span["span_id"]
    return timeline(span, stream_timelines(store, trace_id, span_id).get(span_id))


def call_fields(span: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """Every stored field with its value and description, in storage order."""
    return [(name, span.get(name), DESCRIPTIONS[name]) for name, _, _ in COLUMNS]


def trace_rows(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spans in waterfall order (depth first by start time) with depth, bar position and tool-loop round."""
    if not spans:
        return []
    start = min(s["start_time"] for s in spans)
    ends = [_end(s) for s in spans]
    total_ms = max((max(ends) - start).total_seconds() * 1000, 0.001)
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        parent = s["parent_span_id"] if s["parent_span_id"] in ids else None
        children.setdefault(parent, []).append(s)
    rounds = _rounds(children)
    rows: list[dict[str, Any]] = []
    stack = [(s, 0) for s in reversed(_by_start(children.get(None, [])))]
    while stack:
        span, depth = stack.pop()
        offset = (span["start_time"] - start).total_seconds() * 1000
        length = (_end(span) - span["start_time"]).total_seconds() * 1000
        left, width = offset / total_ms * 100, max(length / total_ms * 100, 0.3)
        rows.append(
            {
                "span": span,
                "depth": depth,
                "offset_ms": offset,
                "duration_ms": length,
                "left": round(left, 3),
                "width": round(min(width, 100 - left), 3),
                "round": rounds.get(span["span_id"]),
            }
        )
        stack.extend((c, depth + 1) for c in reversed(_by_start(children.get(span["span_id"], []))))
    return rows


def _by_start(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(spans, key=lambda s: (s["start_time"], s["span_id"]))


def _end(span: dict[str, Any]) -> dt.datetime:
    start: dt.datetime = span["start_time"]
    if span.get("end_time"):
        end: dt.datetime = span["end_time"]
        return end
    return start + dt.timedelta(milliseconds=span.get("duration_ms") or 0)


def _rounds(children: dict[str | None, list[dict[str, Any]]]) -> dict[str, int]:
    """Rounds of a tool loop, as recorded: under one parent, the loop begins with an LLM call that asked for a
    tool and is followed by a tool span; from there each LLM call starts a round. Plain calls are no loop."""
    out: dict[str, int] = {}
    for siblings in children.values():
        ordered = _by_start(siblings)
        first = _loop_start(ordered)
        if first is None:
            continue
        current = 0
        for s in ordered[first:]:
            current += s["kind"] == "llm"
            out[s["span_id"]] = current
    return out


def _loop_start(ordered: list[dict[str, Any]]) -> int | None:
    """The index of the first LLM call that asked for a tool with a tool span after it, if any."""
    for i, s in enumerate(ordered):
        if s["kind"] == "llm" and s.get("tool_names") and any(t["kind"] == "tool" for t in ordered[i + 1 :]):
            return i
    return None
