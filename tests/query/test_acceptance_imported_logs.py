# ruff: noqa: E501  (the acceptance queries are kept verbatim, long lines and all)
"""Issue acceptance: the Logs Insights queries people run on Bedrock invocation logs, verbatim, over logs
imported with `tokentrail import bedrock-logs`, equal an independent computation over the raw records."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tokentrail.analytics.ranges import TimeRange
from tokentrail.ingest.importers import import_files
from tokentrail.query.run import run_query
from tokentrail.store import Store

WIDE = TimeRange(dt.datetime(2023, 1, 1), dt.datetime(2027, 1, 1))


def records(n: int = 240, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        when = dt.datetime(2023, 11, 20) + dt.timedelta(hours=7 * i)  # spans Nov 2023 to Feb 2024
        inp, cache_r, cache_w = rng.randint(10, 3000), rng.choice([0, 0, 500]), rng.choice([0, 0, 0, 200])
        meta = {
            "application_name": rng.choice(["chat", "search", "mail"]),
            "tenant_id": f"t{rng.randint(1, 5)}",
            "cost_center": rng.choice(["cc-1", "cc-2"]),
            "team": rng.choice(["red", "blue"]),
        }
        if i % 4 == 0:
            meta |= {"experiment_id": "prompt-test-001", "variant": rng.choice(["A", "B"])}
        record = {
            "schemaType": "ModelInvocationLog",
            "schemaVersion": "1.0",
            "timestamp": when.isoformat() + "Z",
            "accountId": "123456789012",
            "region": "us-east-1",
            "requestId": f"req-{i:05d}",
            "operation": "Converse",
            "modelId": rng.choice(["amazon.nova-lite-v1:0", "amazon.nova-pro-v1:0"]),
            "identity": {"arn": "arn:aws:iam::123456789012:role/app"},
            "requestMetadata": meta,
            "input": {
                "inputContentType": "application/json",
                "inputTokenCount": inp,
                "cacheReadInputTokenCount": cache_r,
                "cacheWriteInputTokenCount": cache_w,
            },
            "output": {
                "outputContentType": "application/json",
                "outputTokenCount": rng.randint(1, 900),
                "outputBodyJson": {
                    "stopReason": "end_turn",
                    "metrics": {"latencyMs": rng.randint(200, 4000)},
                },
            },
        }
        if i % 17 == 0:
            record["errorCode"] = rng.choice(["ThrottlingException", "ValidationException"])
        out.append(record)
    return out


@pytest.fixture
def imported(store: Store, tmp_path: Path) -> tuple[Store, list[dict[str, Any]]]:
    raw = records()
    path = tmp_path / "invocations.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in raw) + "\n")
    summary = import_files("bedrock-logs", [path], store)
    assert summary.stored == len(raw) and summary.problem_count == 0
    return store, raw


def tokens(r: dict[str, Any]) -> int:
    return int(r["input"]["inputTokenCount"] + r["output"]["outputTokenCount"])


def run(store: Store, text: str) -> list[tuple[Any, ...]]:
    return run_query(store, text, WIDE).rows


def test_tokens_by_application(imported: tuple[Store, list[dict[str, Any]]]) -> None:
    store, raw = imported
    got = run(
        store,
        """fields @timestamp, requestMetadata.application_name as Application, input.inputTokenCount as InputTokens, output.outputTokenCount as OutputTokens
| stats sum(InputTokens) as TotalInput, sum(OutputTokens) as TotalOutput, sum(InputTokens + OutputTokens) as TotalTokens, count(*) as Requests by Application
| sort TotalTokens desc""",
    )
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in raw:
        e = expected[r["requestMetadata"]["application_name"]]
        e[0] += r["input"]["inputTokenCount"]
        e[1] += r["output"]["outputTokenCount"]
        e[2] += tokens(r)
        e[3] += 1
    assert {row[0]: list(row[1:]) for row in got} == expected
    assert [row[3] for row in got] == sorted((v[2] for v in expected.values()), reverse=True)


def test_tokens_by_tenant(imported: tuple[Store, list[dict[str, Any]]]) -> None:
    store, raw = imported
    got = run(
        store,
        """fields requestMetadata.tenant_id as Tenant, input.inputTokenCount + output.outputTokenCount as Tokens
| stats sum(Tokens) as TotalTokens, count(*) as Requests, avg(Tokens) as AvgTokensPerRequest by Tenant
| sort TotalTokens desc""",
    )
    by: dict[str, list[int]] = defaultdict(list)
    for r in raw:
        by[r["requestMetadata"]["tenant_id"]].append(tokens(r))
    assert {row[0]: (row[1], row[2]) for row in got} == {t: (sum(v), len(v)) for t, v in by.items()}
    for row in got:
        assert row[3] == pytest.approx(sum(by[row[0]]) / len(by[row[0]]))


def test_tokens_by_cost_center_and_team(imported: tuple[Store, list[dict[str, Any]]]) -> None:
    store, raw = imported
    got = run(
        store,
        """fields requestMetadata.cost_center as CostCenter, requestMetadata.team as Team, input.inputTokenCount + output.outputTokenCount as Tokens
| stats sum(Tokens) as TotalTokens by CostCenter, Team""",
    )
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for r in raw:
        expected[r["requestMetadata"]["cost_center"], r["requestMetadata"]["team"]] += tokens(r)
    assert {(row[0], row[1]): row[2] for row in got} == expected


def test_monthly_tokens_by_tenant(imported: tuple[Store, list[dict[str, Any]]]) -> None:
    store, raw = imported
    got = run(
        store,
        """fields requestMetadata.tenant_id as Tenant, input.inputTokenCount + output.outputTokenCount as Tokens
| filter @timestamp >= 1701388800000 and @timestamp < 1704067200000
| stats sum(Tokens) as MonthlyTokens by Tenant""",
    )
    lo, hi = dt.datetime(2023, 12, 1), dt.datetime(2024, 1, 1)
    expected: dict[str, int] = defaultdict(int)
    for r in raw:
        if lo <= dt.datetime.fromisoformat(r["timestamp"].rstrip("Z")) < hi:
            expected[r["requestMetadata"]["tenant_id"]] += tokens(r)
    assert {row[0]: row[1] for row in got} == expected


def test_prompt_experiment_by_variant(imported: tuple[Store, list[dict[str, Any]]]) -> None:
    store, raw = imported
    got = run(
        store,
        """fields requestMetadata.variant as Variant, output.outputTokenCount as OutputTokens
| filter requestMetadata.experiment_id = "prompt-test-001"
| stats avg(OutputTokens) as AvgOutput, count(*) as Samples by Variant""",
    )
    by: dict[str, list[int]] = defaultdict(list)
    for r in raw:
        if r["requestMetadata"].get("experiment_id") == "prompt-test-001":
            by[r["requestMetadata"]["variant"]].append(r["output"]["outputTokenCount"])
    assert {row[0]: row[2] for row in got} == {v: len(x) for v, x in by.items()}
    for row in got:
        assert row[1] == pytest.approx(sum(by[row[0]]) / len(by[row[0]]))


def test_hourly_p95_and_error_codes(imported: tuple[Store, list[dict[str, Any]]]) -> None:
    store, raw = imported
    hourly = run_query(
        store, "stats sum(input.inputTokenCount + output.outputTokenCount) as t by bin(1h) as hour", WIDE
    )
    t = hourly.columns.index("t")
    assert sum(row[t] for row in hourly.rows) == sum(tokens(r) for r in raw) and len(hourly.rows) == len(raw)
    p95 = dict((m, v) for m, v in run(store, "stats pct(latency, 95) as p by modelId | sort modelId"))
    assert set(p95) == {"amazon.nova-lite-v1:0", "amazon.nova-pro-v1:0"}
    lat = sorted(
        r["output"]["outputBodyJson"]["metrics"]["latencyMs"]
        for r in raw
        if r["modelId"] == "amazon.nova-pro-v1:0"
    )
    assert min(lat) <= p95["amazon.nova-pro-v1:0"] <= max(lat)
    errors = dict(run(store, "filter ispresent(errorCode) | stats count(*) as n by errorCode"))
    expected: dict[str, int] = defaultdict(int)
    for r in raw:
        if "errorCode" in r:
            expected[r["errorCode"]] += 1
    assert errors == expected
