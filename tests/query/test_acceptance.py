"""The acceptance queries, verbatim, on DuckDB and ClickHouse, against answers computed in Python."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from .conftest import Backend, same_rows
from .data import Row, add, bedrock_input, group, sql_avg, sql_sum

TOKENS_BY_APPLICATION = """\
fields @timestamp, requestMetadata.application_name as Application, input.inputTokenCount as InputTokens, output.outputTokenCount as OutputTokens
| stats sum(InputTokens) as TotalInput, sum(OutputTokens) as TotalOutput, sum(InputTokens + OutputTokens) as TotalTokens, count(*) as Requests by Application
| sort TotalTokens desc
"""  # noqa: E501

TOKENS_BY_TENANT = """\
fields requestMetadata.tenant_id as Tenant, input.inputTokenCount + output.outputTokenCount as Tokens
| stats sum(Tokens) as TotalTokens, count(*) as Requests, avg(Tokens) as AvgTokensPerRequest by Tenant
| sort TotalTokens desc
"""

TOKENS_BY_COST_CENTER_AND_TEAM = """\
fields requestMetadata.cost_center as CostCenter, requestMetadata.team as Team, input.inputTokenCount + output.outputTokenCount as Tokens
| stats sum(Tokens) as TotalTokens by CostCenter, Team
"""  # noqa: E501

MONTHLY_TOKENS_BY_TENANT = """\
fields requestMetadata.tenant_id as Tenant, input.inputTokenCount + output.outputTokenCount as Tokens
| filter @timestamp >= 1701388800000 and @timestamp < 1704067200000
| stats sum(Tokens) as MonthlyTokens by Tenant
"""

EXPERIMENT_VARIANTS = """\
fields requestMetadata.variant as Variant, output.outputTokenCount as OutputTokens
| filter requestMetadata.experiment_id = "prompt-test-001"
| stats avg(OutputTokens) as AvgOutput, count(*) as Samples by Variant
"""


def _tokens(row: Row) -> int | None:
    return add(bedrock_input(row.call), row.call.output_tokens)


def _descending(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return present == sorted(present, reverse=True) and values[: len(present)] == present


def test_tokens_by_application(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run(TOKENS_BY_APPLICATION)
    assert result.columns == ["Application", "TotalInput", "TotalOutput", "TotalTokens", "Requests"]
    expected = [
        (
            app,
            sql_sum([bedrock_input(r.call) for r in rows]),
            sql_sum([r.call.output_tokens for r in rows]),
            sql_sum([_tokens(r) for r in rows]),
            len(rows),
        )
        for app, rows in group(llm_rows, lambda r: r.truth["app"]).items()
    ]
    assert len(expected) == 4  # chat, search, summarize and no application
    assert same_rows(result.rows, expected)
    assert _descending(result.column("TotalTokens"))


def test_tokens_by_tenant(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run(TOKENS_BY_TENANT)
    expected = []
    for tenant, rows in group(llm_rows, lambda r: r.truth["tenant"]).items():
        tokens = [_tokens(r) for r in rows]
        expected.append((tenant, sql_sum(tokens), len(rows), sql_avg(tokens)))
    assert result.columns == ["Tenant", "TotalTokens", "Requests", "AvgTokensPerRequest"]
    assert same_rows(result.rows, expected)
    assert _descending(result.column("TotalTokens"))


def test_tokens_by_cost_center_and_team(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run(TOKENS_BY_COST_CENTER_AND_TEAM)
    groups = group(llm_rows, lambda r: (r.truth["cost_center"], r.truth["team"]))
    expected = [(*key, sql_sum([_tokens(r) for r in rows])) for key, rows in groups.items()]
    assert result.columns == ["CostCenter", "Team", "TotalTokens"]
    assert len(expected) == 9
    assert same_rows(result.rows, expected)


def test_monthly_tokens_by_tenant(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run(MONTHLY_TOKENS_BY_TENANT)
    december = [
        r for r in llm_rows if dt.datetime(2023, 12, 1) <= r.call.start_time < dt.datetime(2024, 1, 1)
    ]  # type: ignore[operator]
    assert 0 < len(december) < len(llm_rows)
    groups = group(december, lambda r: r.truth["tenant"])
    expected = [(tenant, sql_sum([_tokens(r) for r in rows])) for tenant, rows in groups.items()]
    assert same_rows(result.rows, expected)


def test_experiment_variants(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run(EXPERIMENT_VARIANTS)
    in_test = [r for r in llm_rows if r.truth["experiment"] == "prompt-test-001"]
    groups = group(in_test, lambda r: r.truth["variant"])
    expected = [(v, sql_avg([r.call.output_tokens for r in rows]), len(rows)) for v, rows in groups.items()]
    assert sorted(result.column("Variant")) == ["A", "B"]
    assert same_rows(result.rows, expected)


def test_hourly_tokens(backend: Backend, llm_rows: list[Row]) -> None:
    query = (
        "stats sum(input.inputTokenCount + output.outputTokenCount) as Tokens, count(*) as Calls by bin(1h)"
    )
    result = backend.run(query)
    hours = group(llm_rows, lambda r: r.call.start_time.replace(minute=0, second=0, microsecond=0))  # type: ignore[union-attr]
    expected = [
        (hour, sql_sum([_tokens(r) for r in rows]), len(rows)) for hour, rows in sorted(hours.items())
    ]
    assert result.columns == ["bin(1h)", "Tokens", "Calls"]
    assert same_rows(result.rows, expected, ordered=True)  # by the bin, oldest first


def _quantile_cont(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def test_p95_latency_by_model(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run("stats pct(latency, 95) as p95, avg(latency_ms) as mean, max(duration_ms) by model")
    groups = group(llm_rows, lambda r: r.call.model)
    expected = []
    for name, rows in groups.items():
        latencies = [r.call.duration_ms for r in rows if r.call.duration_ms is not None]
        expected.append((name, _quantile_cont(latencies, 0.95), sql_avg(latencies), max(latencies)))
    assert result.columns == ["model", "p95", "mean", "max(duration_ms)"]
    assert same_rows([r[:1] + r[2:] for r in result.rows], [e[:1] + e[2:] for e in expected])
    p95 = {row[0]: row[1] for row in result.rows}
    for name, value, *_ in expected:
        assert math.isclose(p95[name], value, rel_tol=1e-9)


def test_errors_by_error_code(backend: Backend, llm_rows: list[Row]) -> None:
    result = backend.run(
        "filter ispresent(errorCode) | stats count(*) as errors by errorCode, modelId | sort errors desc"
    )
    failed = [r for r in llm_rows if "error.type" in r.call.attributes]
    groups = group(
        failed, lambda r: (r.call.attributes["error.type"], r.call.request_model or r.call.response_model)
    )
    expected = [(*key, len(rows)) for key, rows in groups.items()]
    assert {row[0] for row in result.rows} == {"ThrottlingException", "InternalServerException"}
    assert same_rows(result.rows, expected)
    assert _descending(result.column("errors"))
