"""CloudWatch through moto's server on loopback with the real boto3 client, and EMF lines against the spec."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tokentrail.cli import app as cli
from tokentrail.exporters import cloudwatch, emf
from tokentrail.exporters.windows import windows
from tokentrail.model import Call
from tokentrail.server.app import create_app
from tokentrail.settings import Settings
from tokentrail.store.duckdb import DuckDBStore
from tokentrail.times import utcnow

from .helpers import call_span, send_otlp

T = dt.datetime(2026, 11, 2, 10, 0)
NOW = T + dt.timedelta(hours=1)
MODELS = ("gpt-4o-mini", "gpt-4.1")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    spans = []
    for i in range(90):
        attrs: dict[str, Any] = {
            "gen_ai.request.model": MODELS[i % 2],
            "tokentrail.feature": "search" if i % 3 else "chat",
            "gen_ai.usage.input_tokens": 200 + i,
            "gen_ai.usage.output_tokens": 20 + i % 5,
            "tokentrail.ttft_ms": 100.0 + i,
        }
        if i % 5 == 0:
            attrs["error.type"] = "500"
            attrs["http.response.status_code"] = 500
        spans.append(call_span(i + 1, T + dt.timedelta(seconds=37 * i), ms=300.0 + i, **attrs))
    with DuckDBStore(tmp_path / "cw.duckdb") as s:
        with TestClient(create_app(s, Settings())) as client:
            send_otlp(client, spans)
        yield s


@pytest.fixture
def cw(moto_url: str) -> Any:
    return boto3.client("cloudwatch", endpoint_url=moto_url, region_name="us-east-1")


def statistic(
    client: Any, name: str, stat: str, model: str, extra: list[dict[str, str]] | None = None
) -> float:
    answer = client.get_metric_statistics(
        Namespace="LLM/Performance",
        MetricName=name,
        Dimensions=[{"Name": "Model", "Value": model}, *(extra or [])],
        StartTime=T - dt.timedelta(hours=1),
        EndTime=NOW + dt.timedelta(hours=1),
        Period=60,
        Statistics=[stat],
    )
    return float(sum(point[stat] for point in answer["Datapoints"]))


def test_sums_read_back_from_cloudwatch_equal_the_store(store: DuckDBStore, cw: Any) -> None:
    sent = cloudwatch.publish(store, cw, "LLM/Performance", ["Model"], T - dt.timedelta(minutes=5), NOW)
    assert sent[0] > 0
    assert cloudwatch.publish(store, cw, "LLM/Performance", ["Model"], T - dt.timedelta(minutes=5), NOW) == (
        0,
        0,
    )
    for model in MODELS:
        calls, tokens, errors, ttft_n, ttft_sum, latency_sum = store.query(
            "SELECT count(*), sum(input_tokens), count(*) FILTER (WHERE status = 'error'), count(ttft_ms), "
            "sum(ttft_ms), sum(duration_ms) FROM calls WHERE request_model = ?",
            [model],
        ).rows[0]
        assert statistic(cw, "Calls", "Sum", model) == calls
        assert statistic(cw, "InputTokens", "Sum", model) == tokens
        assert statistic(cw, "Errors", "Sum", model) == errors > 0
        by_class = statistic(
            cw, "ErrorsByClass", "Sum", model, [{"Name": "ErrorClass", "Value": "server_error"}]
        )
        assert by_class == errors
        assert statistic(cw, "TTFT", "SampleCount", model) == ttft_n
        assert statistic(cw, "TTFT", "Sum", model) == pytest.approx(ttft_sum)
        assert statistic(cw, "Latency", "Sum", model) == pytest.approx(latency_sum)


def test_batches_respect_the_limits() -> None:
    data = [
        {"MetricName": "Calls", "Value": float(i), "Dimensions": [{"Name": "Model", "Value": "m" * 200}]}
        for i in range(2500)
    ]
    chunks = list(cloudwatch.batches(data))
    assert sum(len(c) for c in chunks) == 2500
    assert all(len(c) <= cloudwatch.MAX_DATA and len(json.dumps(c)) < cloudwatch.MAX_BYTES for c in chunks)
    with pytest.raises(ValueError, match="at most 29 dimensions"):
        cloudwatch.check_dimensions("LLM/Performance", [f"D{i}" for i in range(30)])


# Written from the EMF specification (CloudWatch_Embedded_Metric_Format_Specification): the _aws metadata
# object with Timestamp and CloudWatchMetrics; each directive's Namespace, Dimensions (arrays of up to 30
# names) and Metrics (at most 100, Name and optional Unit from the standard units and StorageResolution).
UNITS = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
]
EMF_SCHEMA = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 255},
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1, "maxLength": 255},
                                        "Unit": {"enum": UNITS},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def check_targets(doc: dict[str, Any]) -> None:
    """Every dimension a directive names is a string at the root, every metric a number (or numbers)."""
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            assert all(isinstance(doc[name], str) for name in dimension_set)
        for metric in directive["Metrics"]:
            value = doc[metric["Name"]]
            assert isinstance(value, int | float) or all(isinstance(v, int | float) for v in value)


def test_emf_lines_validate_and_add_up(store: DuckDBStore) -> None:
    found = windows(store, ["Model", "Feature"], T, NOW, dt.timedelta(minutes=1))
    lines = list(emf.lines(found, "LLM/Performance"))
    assert len(lines) == len(found) > 10
    docs = [json.loads(line) for line in lines]
    for doc in docs:
        jsonschema.validate(doc, EMF_SCHEMA)
        check_targets(doc)
    assert sum(d["Calls"] for d in docs) == 90
    assert (
        sum(d.get("TTFTCount", 0) for d in docs) == store.query("SELECT count(ttft_ms) FROM calls").rows[0][0]
    )


def test_the_export_commands_read_boto3s_usual_configuration(
    tmp_path: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tokentrail export cloudwatch` finds moto through AWS_ENDPOINT_URL; a second run sends nothing."""
    db, now = tmp_path / "x.duckdb", utcnow()
    with DuckDBStore(db) as s:
        s.write(
            [
                Call(
                    trace_id=f"{i + 1:032x}",
                    span_id=f"{i + 1:016x}",
                    kind="llm",
                    start_time=now - dt.timedelta(minutes=30 - i),
                    request_model=MODELS[i % 2],
                    feature="chat",
                )
                for i in range(6)
            ]
        )
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    args = ["export", "cloudwatch", "--namespace", "LLM/Performance", "--dimensions", "Model,Feature"]
    first = CliRunner().invoke(cli, [*args, "--since", "1h", "--db", str(db)])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli, [*args, "--since", "1h", "--db", str(db)])
    assert again.exit_code == 0 and "published 0 metrics" in again.output, again.output
    client = boto3.client("cloudwatch")
    for model in MODELS:
        answer = client.get_metric_statistics(
            Namespace="LLM/Performance",
            MetricName="Calls",
            Dimensions=[{"Name": "Model", "Value": model}, {"Name": "Feature", "Value": "chat"}],
            StartTime=now - dt.timedelta(hours=2),
            EndTime=now + dt.timedelta(hours=1),
            Period=60,
            Statistics=["Sum"],
        )
        assert sum(p["Sum"] for p in answer["Datapoints"]) == 3
    bad = CliRunner().invoke(cli, [*args[:-1], "Model,Mood", "--db", str(db)])
    assert bad.exit_code == 2 and "unknown dimension 'Mood'; use: Provider, Model" in bad.output
