# ruff: noqa: E501  (the queries are kept as users write them, long lines and all)
"""Issue 11 item 3: imported Bedrock model invocation logs keep their own meaning in queries.

The corpus (tests/fixtures/bedrock_invocation_logs, written by its make_corpus.py) follows AWS's documented
record shape (schemaType ModelInvocationLog, schemaVersion 1.0): the four runtime operations, errors, cache
tokens, requestMetadata, inference profiles, in the three forms people have (a CloudWatch Logs export task's
gzip object, the S3 delivery layout with gzip NDJSON, ``aws logs filter-log-events`` JSON). Each query, in
the style of AWS's Logs Insights examples, is checked against `Evaluator`: plain Python over the JSON
records, which knows nothing of the compiler or the importer.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tokentrail.analytics.ranges import TimeRange
from tokentrail.ingest.importers import import_files
from tokentrail.query.run import run_query
from tokentrail.store import Store
from tokentrail.store.duckdb import DuckDBStore

CORPUS = Path(__file__).parents[1] / "fixtures" / "bedrock_invocation_logs"
WIDE = TimeRange(dt.datetime(2025, 1, 1), dt.datetime(2026, 1, 1))
Record = dict[str, Any]
Rows = list[tuple[Any, ...]]


# --- the independent evaluator ------------------------------------------------------------------------


def read_corpus() -> list[Record]:
    """Every record of the corpus once (the same requestId delivered twice is one invocation)."""
    found: dict[str, Record] = {}
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix == ".gz":
            with gzip.open(path, "rt") as lines:
                for line in lines:
                    record = json.loads(line[line.index("{") :])
                    found[record["requestId"]] = record
        elif path.name == "filter-log-events.json":
            for event in json.loads(path.read_text())["events"]:
                record = json.loads(event["message"])
                found[record["requestId"]] = record
    return list(found.values())


def get(record: Any, path: str) -> Any:
    """The value at a dotted path, or None (a list on the way, like a stream's chunks, has no keys)."""
    for key in path.split("."):
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def count_by(records: list[Record], *paths: str) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(get(r, p) for p in paths) for r in records)


def caller(record: Record) -> tuple[str, str] | None:
    """(role, session name) of an assumed-role identity, by taking the ARN apart."""
    arn = record["identity"]["arn"]
    if ":assumed-role/" not in arn:
        return None
    role, session = arn.split(":assumed-role/")[1].split("/", 1)
    return role, session.split("@")[0]


CONTENT_KEYS = {"text", "content", "prompt", "inputText", "outputText", "generation", "system"}


def content_strings(value: Any, key: str = "") -> Iterator[str]:
    """The prompt and response text in a record: strings under content keys and tool-call arguments."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "input" and key == "toolUse":
                yield from (str(x) for x in v.values())
            else:
                yield from content_strings(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from content_strings(item, key)
    elif isinstance(value, str) and key in CONTENT_KEYS and value.strip():
        yield value


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> list[Record]:
    records = read_corpus()
    assert {r["operation"] for r in records} == {
        "Converse",
        "ConverseStream",
        "InvokeModel",
        "InvokeModelWithResponseStream",
    }
    return records


@pytest.fixture
def imported(store: Store, corpus: list[Record]) -> Store:
    summary = import_files("bedrock-logs", [CORPUS], store)
    assert summary.problem_count == 0 and summary.files == 3
    assert summary.stored == len(corpus)  # the record delivered twice is stored once
    return store


def run(store: Store, text: str) -> Rows:
    return run_query(store, text, WIDE).rows


def unordered(rows: Rows) -> Counter[tuple[Any, ...]]:
    return Counter(
        tuple(int(v) if isinstance(v, float) and v.is_integer() else v for v in row) for row in rows
    )


# --- queries ----------------------------------------------------------------------------------------------

Check = Callable[[list[Record]], Any]
QUERIES: dict[str, tuple[str, Check, Callable[[Rows], Any]]] = {
    "filter operation = Converse": (
        'filter operation = "Converse" | stats count(*) as calls by modelId',
        lambda rs: count_by([r for r in rs if r["operation"] == "Converse"], "modelId"),
        lambda rows: Counter({(row[0],): row[1] for row in rows}),
    ),
    "calls by operation": (
        "stats count(*) as calls by operation | sort calls desc",
        lambda rs: count_by(rs, "operation"),
        lambda rows: Counter({(row[0],): row[1] for row in rows}),
    ),
    "streams by tenant": (
        "fields requestMetadata.tenant_id as tenant | filter operation like /Stream$/ | stats count(*) as n by tenant",
        lambda rs: count_by(
            [r for r in rs if r["operation"].endswith("Stream")], "requestMetadata.tenant_id"
        ),
        lambda rows: Counter({(row[0],): row[1] for row in rows}),
    ),
    "parse the caller out of @message": (
        'parse @message "assumed-role/*/*@" as Role, Caller | filter ispresent(Role) | stats count(*) as calls by Role, Caller',
        lambda rs: Counter(c for c in map(caller, rs) if c is not None),
        lambda rows: Counter({(row[0], row[1]): row[2] for row in rows}),
    ),
    "errors by code and operation": (
        "filter ispresent(errorCode) | stats count(*) as errors by errorCode, operation | sort errors desc",
        lambda rs: count_by([r for r in rs if "errorCode" in r], "errorCode", "operation"),
        lambda rows: Counter({(row[0], row[1]): row[2] for row in rows}),
    ),
    "calls by inference region": (
        "filter ispresent(inferenceRegion) | stats count(*) as calls by inferenceRegion",
        lambda rs: count_by([r for r in rs if "inferenceRegion" in r], "inferenceRegion"),
        lambda rows: Counter({(row[0],): row[1] for row in rows}),
    ),
    "usage from the Converse body, by model": (
        "filter ispresent(output.outputBodyJson.usage.inputTokens) | stats sum(output.outputBodyJson.usage.inputTokens) as inputTokens, sum(output.outputBodyJson.usage.outputTokens) as outputTokens by modelId",
        lambda rs: _usage_by_model(rs),
        lambda rows: {row[0]: (row[1], row[2]) for row in rows},
    ),
    "slowest Converse calls, nested fields": (
        'fields @timestamp, requestId, identity.arn, inferenceRegion, input.inputContentType, output.outputBodyJson.metrics.latencyMs as latency | filter operation = "Converse" and ispresent(latency) | sort latency desc | limit 2',
        lambda rs: _slowest(rs, 2),
        lambda rows: [(row[1], row[2], row[3], row[4], row[5]) for row in rows],
    ),
    "performance config and schema version": (
        "fields requestId, schemaVersion, performanceConfig.latency | filter ispresent(performanceConfig.latency) | sort requestId",
        lambda rs: sorted(
            (r["requestId"], r["schemaVersion"], r["performanceConfig"]["latency"])
            for r in rs
            if "performanceConfig" in r
        ),
        lambda rows: [tuple(row) for row in rows],
    ),
    "input content type and assumed roles": (
        'filter input.inputContentType = "application/json" and identity.arn like "assumed-role" | stats count(*) as n',
        lambda rs: sum(
            1
            for r in rs
            if r["input"].get("inputContentType") == "application/json"
            and "assumed-role" in r["identity"]["arn"]
        ),
        lambda rows: rows[0][0],
    ),
}


def _usage_by_model(records: list[Record]) -> dict[str, tuple[int, int]]:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        usage = get(r, "output.outputBodyJson.usage")
        if usage is not None and "inputTokens" in usage:
            sums[r["modelId"]][0] += usage["inputTokens"]
            sums[r["modelId"]][1] += usage["outputTokens"]
    return {model: (a, b) for model, (a, b) in sums.items()}


def _slowest(records: list[Record], n: int) -> list[tuple[Any, ...]]:
    timed = [
        r
        for r in records
        if r["operation"] == "Converse" and get(r, "output.outputBodyJson.metrics.latencyMs")
    ]
    timed.sort(key=lambda r: r["output"]["outputBodyJson"]["metrics"]["latencyMs"], reverse=True)
    return [
        (
            r["requestId"],
            r["identity"]["arn"],
            r.get("inferenceRegion"),
            r["input"]["inputContentType"],
            r["output"]["outputBodyJson"]["metrics"]["latencyMs"],
        )
        for r in timed[:n]
    ]


@pytest.mark.parametrize("name", list(QUERIES))
def test_query_equals_the_evaluator(imported: Store, corpus: list[Record], name: str) -> None:
    text, expect, shape = QUERIES[name]
    got = shape(run(imported, text))
    want = expect(corpus)
    if isinstance(got, list):
        got = [tuple(int(v) if isinstance(v, float) and v.is_integer() else v for v in row) for row in got]
    assert got == want
    assert want  # every query selects something, so an empty answer could not pass


def test_message_is_the_record_without_its_content(imported: Store, corpus: list[Record]) -> None:
    rows = run(imported, "fields requestId, @message | sort requestId")
    assert [row[0] for row in rows] == sorted(r["requestId"] for r in corpus)
    by_id = {r["requestId"]: r for r in corpus}
    for request_id, message in rows:
        record, stored = by_id[request_id], json.loads(message)
        assert not list(content_strings(stored))
        for path in (
            "schemaType",
            "timestamp",
            "identity",
            "region",
            "operation",
            "modelId",
            "errorCode",
            "requestMetadata",
        ):
            assert get(stored, path) == get(record, path), path
        for path in ("inputContentType", "inputTokenCount", "cacheReadInputTokenCount"):
            assert get(stored, f"input.{path}") == get(record, f"input.{path}"), path
        body = get(record, "output.outputBodyJson")
        if isinstance(body, dict):
            for path in ("usage", "metrics", "stopReason", "stop_reason", "id"):
                assert get(stored, f"output.outputBodyJson.{path}") == body.get(path), path


def test_token_counts_come_from_the_body_when_the_record_lacks_them(
    imported: Store, corpus: list[Record]
) -> None:
    rows = run(
        imported,
        "fields requestId, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens | sort requestId",
    )
    got = {row[0]: row[1:] for row in rows}
    for r in corpus:
        counts = r["input"], r.get("output", {})
        body_usage = get(r, "output.outputBodyJson.usage") or {}
        if "errorCode" in r:
            assert got[r["requestId"]] == (None, None, None, None)  # nothing said: unknown, not zero
        elif r["modelId"].startswith("anthropic.claude-3-haiku"):
            # the record has no cache counters; the body says 0
            assert "cacheReadInputTokenCount" not in counts[0]
            assert body_usage["cache_read_input_tokens"] == 0
            base = counts[0]["inputTokenCount"]
            assert got[r["requestId"]] == (base, 0, 0, counts[1]["outputTokenCount"])
        elif r["modelId"].startswith("meta.llama"):
            body = r["output"]["outputBodyJson"]
            assert "inputTokenCount" not in counts[0] and "outputTokenCount" not in counts[1]
            assert got[r["requestId"]] == (
                body["prompt_token_count"],
                None,
                None,
                body["generation_token_count"],
            )


def test_no_prompt_or_response_text_reaches_the_store(tmp_path: Path, corpus: list[Record]) -> None:
    texts = {text for r in corpus for text in content_strings(r)}
    assert len(texts) >= 20
    path = tmp_path / "content.duckdb"
    with DuckDBStore(path) as store:
        assert import_files("bedrock-logs", [CORPUS], store).stored == len(corpus)
        assert import_files("bedrock-logs", [CORPUS], store).stored == 0  # a re-import adds nothing
        columns = store.query("SELECT * FROM spans LIMIT 0").columns
        cells = ", ".join(f"coalesce(CAST(\"{c}\" AS VARCHAR), '')" for c in columns)
        dump = "\n".join(row[0] for row in store.query(f"SELECT concat_ws(' | ', {cells}) FROM spans").rows)
        assert store.query("SELECT count(*) FROM spans").rows == [(len(corpus),)]
    assert "parcel 7781" not in dump and "Northwind" not in dump  # one prompt, one system prompt
    leaked = [text for text in texts if text in dump]
    assert not leaked


def test_record_paths_have_the_type_they_have_in_the_record(imported: Store, corpus: list[Record]) -> None:
    first = next(r for r in corpus if r["operation"] == "Converse" and "output" in r)
    result = run_query(
        imported,
        f'fields output.outputBodyJson.usage.totalTokens as total, output.outputBodyJson.stopReason as stop, identity, inferenceRegion, output.outputBodyJson.metrics.latencyMs as ms | filter requestId = "{first["requestId"]}"',
        WIDE,
    )
    assert result.types == ["integer", "string", "string", "string", "float"]
    total, stop, identity, region, ms = result.rows[0]
    assert total == first["output"]["outputBodyJson"]["usage"]["totalTokens"] and isinstance(total, int)
    assert ms == first["output"]["outputBodyJson"]["metrics"]["latencyMs"]
    assert stop == first["output"]["outputBodyJson"]["stopReason"] and region == first["inferenceRegion"]
    assert json.loads(identity) == first["identity"]  # an object reads as its JSON text


def test_the_gen_ai_operation_stays_queryable(imported: Store, corpus: list[Record]) -> None:
    rows = run(
        imported,
        "filter operation like /^Converse/ | stats count(*) as n by attributes.gen_ai.operation.name",
    )
    assert rows == [("chat", sum(1 for r in corpus if r["operation"].startswith("Converse")))]
