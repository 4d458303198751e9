"""Every operator, function, aggregate and field alias, on DuckDB and ClickHouse, against Python."""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from collections.abc import Callable
from typing import Any

import pytest

from tokentrail import model

from .conftest import Backend, same_rows
from .data import Row, add, bedrock_input, epoch_ms, group

Predicate = Callable[[model.Call], bool]


def _gt(value: float | None, limit: float) -> bool:
    return value is not None and value > limit


def _input_and_twice_output(c: model.Call) -> bool:
    return _gt(add(c.input_tokens, c.output_tokens, c.output_tokens), 6000)


def _neither(c: model.Call) -> bool:
    return c.service != "svc-a" and c.provider != "openai"


def _minus(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a - b


OPERATORS: list[tuple[str, Predicate]] = [
    ("duration_ms > 1000", lambda c: _gt(c.duration_ms, 1000)),
    ("duration_ms >= 1000 and duration_ms <= 2000", lambda c: 1000 <= (c.duration_ms or 0) <= 2000),
    ("duration_ms < 100 or duration_ms > 4900", lambda c: not 100 <= (c.duration_ms or 0) <= 4900),
    ("service != 'svc-a'", lambda c: c.service != "svc-a"),
    ("not (service = 'svc-a' or provider = 'openai')", _neither),
    ("name like 'claude'", lambda c: "claude" in c.name),
    ('name not like "claude"', lambda c: "claude" not in c.name),
    ("name like /^chat (gpt|llama)/", lambda c: re.search("^chat (gpt|llama)", c.name) is not None),
    ("name not like /gpt/", lambda c: "gpt" not in c.name),
    ("name =~ /(?i)CLAUDE/", lambda c: "claude" in c.name),
    ("http_status in [429, 500]", lambda c: c.http_status in (429, 500)),
    ("http_status not in [200]", lambda c: c.http_status is not None and c.http_status != 200),
    ("http_status = '429'", lambda c: c.http_status == 429),
    ("service in ['svc-a', 1]", lambda c: c.service == "svc-a"),
    ("service not in []", lambda c: True),
    ("input_tokens + output_tokens > 3000", lambda c: _gt(add(c.input_tokens, c.output_tokens), 3000)),
    ("input_tokens - output_tokens < 0", lambda c: _gt(_minus(c.output_tokens, c.input_tokens), 0)),
    ("input_tokens * 2 / 4 >= 1000", lambda c: c.input_tokens is not None and c.input_tokens * 2 / 4 >= 1000),
    ("input_tokens % 7 = 3", lambda c: c.input_tokens is not None and c.input_tokens % 7 == 3),
    ("2 ^ 3 = 8 and -input_tokens < -4000", lambda c: _gt(c.input_tokens, 4000)),
    ("(input_tokens + output_tokens) * 2 > 6000", lambda c: _gt(add(c.input_tokens, c.output_tokens), 3000)),
    ("input_tokens + output_tokens * 2 > 6000", _input_and_twice_output),
    ("@timestamp >= '2023-12-25T00:00:00Z'", lambda c: c.start_time >= dt.datetime(2023, 12, 25)),  # type: ignore[operator]
    ("@timestamp < 1701388800000", lambda c: c.start_time < dt.datetime(2023, 12, 1)),  # type: ignore[operator]
    ("toMillis(@timestamp) % 2 = 0", lambda c: epoch_ms(c.start_time) % 2 == 0),  # type: ignore[arg-type]
    ("@timestamp > fromMillis(1702000000000)", lambda c: epoch_ms(c.start_time) > 1702000000000),  # type: ignore[arg-type]
    ("requestMetadata.customer_tier = 'gold'", lambda c: c.metadata.get("customer_tier") == "gold"),
    ("metadata.customer_tier = 'silver'", lambda c: c.metadata.get("customer_tier") == "silver"),
    ("region = 'us-east-1'", lambda c: c.attributes.get("aws.region") == "us-east-1"),
    ("attributes.aws.region = 'eu-west-1'", lambda c: c.attributes.get("aws.region") == "eu-west-1"),
    ("ispresent(identity.arn) or ispresent(accountId)", lambda c: False),
    ("requestId = 'req-5'", lambda c: c.response_id == "req-5"),
    ("modelId = 'claude-3'", lambda c: (c.request_model or c.response_model) == "claude-3"),
    ("model like 'llama'", lambda c: "llama" in (c.response_model or c.request_model or "")),
    ("stream", lambda c: c.stream),
    ("not stream", lambda c: not c.stream),
    ("strcontains(name, 'gpt')", lambda c: "gpt" in c.name),
    ("output.outputBodyJson.metrics.latencyMs > 4000", lambda c: _gt(c.duration_ms, 4000)),
    ("input.cacheReadInputTokenCount > 100", lambda c: _gt(c.cache_read_tokens, 100)),
    ("input.cacheWriteInputTokenCount > 10", lambda c: _gt(c.cache_write_tokens, 10)),
    ("@ingestionTime > @timestamp", lambda c: True),
    ("timestamp = @timestamp", lambda c: True),
]  # fmt: skip


@pytest.mark.parametrize(("condition", "predicate"), OPERATORS, ids=[c for c, _ in OPERATORS])
def test_filter_operators(
    backend: Backend, llm_rows: list[Row], condition: str, predicate: Predicate
) -> None:
    result = backend.run(f"filter {condition} | stats count(*) as n")
    assert result.rows == [(sum(bool(predicate(r.call)) for r in llm_rows),)]


def test_request_metadata_labels_read_column_then_any_synonym(backend: Backend, llm_rows: list[Row]) -> None:
    names = {"app": "application", "tenant": "tenantId", "cost_center": "costCenter", "user_id": "user"}
    fields = ", ".join(f"requestMetadata.{key} as {label}" for label, key in names.items())
    result = backend.run(f"fields span_id, {fields} | limit 10000")
    expected = [(r.call.span_id, *(r.truth[label] for label in names)) for r in llm_rows]
    assert same_rows(result.rows, expected)
    metadata_only = [r for r in llm_rows if r.call.app is None and r.truth["app"] is not None]
    assert metadata_only, "the data must hold labels only in metadata"


@pytest.fixture(scope="module")
def sample(llm_rows: list[Row]) -> model.Call:
    """A call with every field the function tests read."""
    for row in llm_rows:
        c = row.call
        if c.degraded and None not in (
            c.input_tokens,
            c.output_tokens,
            c.cache_read_tokens,
            c.cache_write_tokens,
        ):
            return c
    raise AssertionError("no complete sample row")


def _one(backend: Backend, call: model.Call, fields: str) -> dict[str, Any]:
    result = backend.run(f'filter span_id = "{call.span_id}" | fields {fields}')
    assert len(result.rows) == 1
    return result.dicts()[0]


def test_numeric_functions(backend: Backend, sample: model.Call) -> None:
    got = _one(
        backend,
        sample,
        "abs(-3.5) as a, ceil(duration_ms) as c, floor(duration_ms) as f, "
        "greatest(input_tokens, output_tokens, 3) as g, least(input_tokens, output_tokens) as l, "
        "log(input_tokens) as ln, sqrt(input_tokens) as sq, pow(2, 10) as p, "
        "input_tokens / 4 as q, 7 % 3 as m, -(2 + 3) * 2 as n",
    )
    i, o, d = sample.input_tokens or 0, sample.output_tokens or 0, sample.duration_ms or 0
    assert got == {
        "a": 3.5, "c": math.ceil(d), "f": math.floor(d), "g": max(i, o, 3), "l": min(i, o),
        "ln": pytest.approx(math.log(i)), "sq": pytest.approx(math.sqrt(i)), "p": 1024, "q": i / 4, "m": 1,
        "n": -10,
    }  # fmt: skip


def test_string_functions(backend: Backend, sample: model.Call) -> None:
    got = _one(
        backend,
        sample,
        "strlen(name) as len, toupper(name) as up, tolower(toupper(name)) as low, "
        "concat(service, '/', provider, identity.arn, 7) as cat, trim('  x y  ') as t, "
        "ltrim('xxabcxx', 'x') as lt, rtrim('xxabcxx', 'x') as rt, trim('xxabcxx', 'x') as bt, "
        "substr(name, 0, 4) as s1, substr(name, 5) as s2, replace(name, 'chat', 'talk') as r, "
        "strcontains(name, 'chat') as yes, strcontains(name, 'zzz') as no",
    )
    name = sample.name
    assert got == {
        "len": len(name), "up": name.upper(), "low": name, "cat": f"{sample.service}/{sample.provider}7",
        "t": "x y", "lt": "abcxx", "rt": "xxabc", "bt": "abc", "s1": name[:4], "s2": name[5:],
        "r": name.replace("chat", "talk"), "yes": 1, "no": 0,
    }  # fmt: skip


def test_presence_functions(backend: Backend, sample: model.Call) -> None:
    got = _one(
        backend,
        sample,
        "ispresent(degraded) as p1, ispresent(identity.arn) as p2, isempty('') as e1, isempty(name) as e2, "
        "isempty(errorCode) as e3, isblank(' \t ') as b1, isblank(identity.arn) as b2, isblank(name) as b3, "
        "coalesce(identity.arn, service) as c1, coalesce(cache_read_tokens, 0) as c2, "
        "coalesce(identity.arn, input_tokens) as c3",
    )
    assert got == {
        "p1": True, "p2": False, "e1": True, "e2": False, "e3": "error.type" not in sample.attributes,
        "b1": True, "b2": True, "b3": False, "c1": sample.service, "c2": sample.cache_read_tokens,
        "c3": str(sample.input_tokens),  # text and a number mixed: text
    }  # fmt: skip


def test_time_functions(backend: Backend, sample: model.Call) -> None:
    got = _one(
        backend,
        sample,
        "bin(5m) as b, datefloor(@timestamp, 1d) as day, dateceil(@timestamp, 1h) as hour, "
        "dateceil(datefloor(@timestamp, 1h), 1h) as exact, datefloor(@timestamp, 1w) as week, "
        "toMillis(@timestamp) as ms, fromMillis(1701388800000) as dec1, "
        "fromMillis(toMillis(@timestamp)) as back",
    )
    ts = sample.start_time
    assert ts is not None
    hour = ts.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    assert got == {
        "b": ts.replace(minute=ts.minute - ts.minute % 5, second=0, microsecond=0),
        "day": day,
        "hour": hour + dt.timedelta(hours=1),
        "exact": hour,
        "week": day - dt.timedelta(days=day.weekday()),
        "ms": epoch_ms(ts),
        "dec1": dt.datetime(2023, 12, 1),
        "back": ts.replace(microsecond=ts.microsecond // 1000 * 1000),
    }


def test_bedrock_and_friendly_aliases(backend: Backend, sample: model.Call) -> None:
    got = _one(
        backend,
        sample,
        "input.inputTokenCount as i, output.outputTokenCount as o, input.cacheReadInputTokenCount as cr, "
        "input.cacheWriteInputTokenCount as cw, modelId, model, requestId, operation, region, errorCode, "
        "latency, latency_ms, @ingestionTime",
    )
    assert got == {
        "i": bedrock_input(sample), "o": sample.output_tokens, "cr": sample.cache_read_tokens,
        "cw": sample.cache_write_tokens, "modelId": sample.request_model or sample.response_model,
        "model": sample.model, "requestId": sample.response_id, "operation": sample.operation,
        "region": sample.attributes.get("aws.region"), "errorCode": sample.attributes.get("error.type"),
        "latency": sample.duration_ms, "latency_ms": sample.duration_ms, "@ingestionTime": sample.received_at,
    }  # fmt: skip


def test_aggregates(backend: Backend, llm_rows: list[Row]) -> None:
    query = (
        "stats count(*) as n, count() as n2, count(degraded) as fell_back, "
        "count_distinct(service) as services, sum(output_tokens) as out, avg(duration_ms) as mean, "
        "min(duration_ms) as fastest, max(@timestamp) as last, "
        "pct(duration_ms, 50) as median, stddev(duration_ms) as sd, earliest(span_id) as first_span, "
        "latest(span_id) as last_span by provider"
    )
    result = backend.run(query)
    expected = []
    for provider, rows in sorted(group(llm_rows, lambda r: r.call.provider).items()):
        calls = [r.call for r in rows]
        durations = [c.duration_ms or 0 for c in calls]
        by_time = sorted(calls, key=lambda c: c.start_time or dt.datetime.min)
        expected.append((
            provider, len(calls), len(calls), sum(c.degraded is not None for c in calls),
            len({c.service for c in calls}),
            sum(c.output_tokens or 0 for c in calls), statistics.fmean(durations), min(durations),
            by_time[-1].start_time, statistics.median(durations), statistics.stdev(durations),
            by_time[0].span_id, by_time[-1].span_id,
        ))  # fmt: skip
    assert same_rows(result.rows, expected, ordered=True)
