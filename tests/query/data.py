"""Synthetic spans for the query tests, and the truth about them computed in plain Python.

Labels are placed four ways so that ``requestMetadata.<key>`` is tested on every path: only in the label
column, only in ``metadata`` (under a Bedrock-style key), in both, and in both with a different metadata
value (the column wins). Metadata never holds an empty string (ClickHouse reads '' as missing).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

from tokentrail import model

START = dt.datetime(2023, 11, 20)
DAYS = 60
COUNT = 400

# label column → the metadata keys the data may use for it
META_KEYS = {
    "app": ("application_name", "app", "application"),
    "tenant": ("tenant_id", "tenant"),
    "cost_center": ("cost_center", "costCenter"),
    "team": ("team",),
    "experiment": ("experiment_id",),
    "variant": ("variant",),
    "user_id": ("userId", "user"),
}
CHOICES: dict[str, tuple[str | None, ...]] = {
    "app": ("chat", "search", "summarize", None),
    "tenant": ("t1", "t2", "t3", None),
    "cost_center": ("cc-1", "cc-2", None),
    "team": ("red", "blue", None),
    "user_id": ("u1", "u2", "u3", "u4"),
}
ERROR_TYPES = {"throttled": "ThrottlingException", "server_error": "InternalServerException"}


@dataclasses.dataclass
class Row:
    """A stored call and the label values a query must see for it."""

    call: model.Call
    truth: dict[str, str | None]

    @property
    def llm(self) -> bool:
        return self.call.kind == "llm"


def _place(rng: random.Random, call: model.Call, label: str, value: str | None) -> None:
    if value is None:
        return
    key = rng.choice(META_KEYS[label])
    where = rng.choice(("column", "metadata", "both", "conflict"))
    if where in ("column", "both", "conflict"):
        setattr(call, label, value)
    if where in ("metadata", "both"):
        call.metadata[key] = value
    if where == "conflict":
        call.metadata[key] = value + "-stale"


def _tokens(rng: random.Random, call: model.Call) -> None:
    call.input_tokens = None if rng.random() < 0.05 else rng.randrange(10, 5000)
    base = call.input_tokens or 100
    call.cache_read_tokens = None if rng.random() < 0.4 else rng.randrange(0, base // 2 + 1)
    call.cache_write_tokens = None if rng.random() < 0.6 else rng.randrange(0, base // 4 + 1)
    call.output_tokens = None if rng.random() < 0.05 else rng.randrange(1, 2000)


def _outcome(rng: random.Random, call: model.Call) -> None:
    call.attributes = {"aws.region": rng.choice(("us-east-1", "eu-west-1"))} if rng.random() < 0.8 else {}
    if rng.random() < 0.15:
        call.status = "error"
        call.error_class = rng.choice(tuple(ERROR_TYPES))
        call.attributes["error.type"] = ERROR_TYPES[call.error_class]
        call.http_status = 429 if call.error_class == "throttled" else 500
    else:
        call.stop_reason = rng.choice(("end_turn", "max_tokens"))
        call.http_status = 200


def _experiment(rng: random.Random) -> tuple[str | None, str | None]:
    roll = rng.random()
    if roll < 0.4:
        return "prompt-test-001", rng.choice(("A", "B"))
    if roll < 0.6:
        return "exp-2", rng.choice(("A", "B"))
    return None, None


def make_row(rng: random.Random, index: int) -> Row:
    start = START + dt.timedelta(seconds=rng.randrange(DAYS * 86400), microseconds=rng.randrange(10**6))
    duration = round(rng.uniform(50, 5000), 3)
    requested = rng.choice(("claude-3", "gpt-4o", "llama"))
    call = model.Call(
        trace_id=f"{index:032x}",
        span_id=f"{index:016x}",
        name=f"chat {requested}",
        kind="llm" if index % 10 else "tool",
        service=rng.choice(("svc-a", "svc-b")),
        start_time=start,
        end_time=start + dt.timedelta(milliseconds=duration),
        duration_ms=duration,
        stream=rng.random() < 0.5,
        ttft_ms=round(duration * rng.uniform(0.1, 0.5), 3),
        provider=rng.choice(("anthropic", "openai")),
        operation=rng.choice(("chat", "Converse")),
        request_model=None if rng.random() < 0.05 else requested,
        response_model=None if rng.random() < 0.2 else f"{requested}-2024",
        response_id=f"req-{index}",
        cost_usd=round(rng.uniform(0, 0.2), 6),
        source="bedrock-log",
        received_at=start + dt.timedelta(seconds=5),
    )
    if rng.random() < 0.3:
        call.degraded = f"fallback user=u{index % 7} from={requested} to=llama"
    _tokens(rng, call)
    _outcome(rng, call)
    truth: dict[str, str | None] = {label: rng.choice(CHOICES[label]) for label in CHOICES}
    truth["experiment"], truth["variant"] = _experiment(rng)
    for label, value in truth.items():
        _place(rng, call, label, value)
    if rng.random() < 0.3:
        call.metadata["customer_tier"] = rng.choice(("gold", "silver"))
    return Row(call, truth)


def make_rows(seed: int = 20240131) -> list[Row]:
    rng = random.Random(seed)
    return [make_row(rng, index) for index in range(COUNT)]


# ---- the truth, computed without the compiler ---------------------------------------------------


def bedrock_input(call: model.Call) -> int | None:
    if call.input_tokens is None:
        return None
    return call.input_tokens - (call.cache_read_tokens or 0) - (call.cache_write_tokens or 0)


def add(*values: int | None) -> int | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def sql_sum(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def sql_avg(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def epoch_ms(moment: dt.datetime) -> int:
    return int((moment - dt.datetime(1970, 1, 1)).total_seconds() * 1000)


def group(rows: list[Row], key: Any) -> dict[Any, list[Row]]:
    groups: dict[Any, list[Row]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups
