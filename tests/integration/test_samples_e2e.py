"""Done-when for capture, sampling and redaction: the real openai, anthropic and boto3 clients against the
simulator, capture on, exporting to a real `tokentrail serve` (decoding in a worker process) with a policy
file and `serve` archiving on a schedule. Every call is sampled and redacted, and no raw value is found in
the DuckDB file, its WAL, the archive, the collector's logs or any API response."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import boto3
import httpx
import openai
import pyarrow.dataset as ds
import pytest

from support import PII, PII_POLICY, free_port, pii_prompt, raw_fragments, wait_healthy
from tokentrail import Tokentrail
from tokentrail.simulator import Profile, SimulatorServer


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    policy = tmp_path / "sampling.toml"
    policy.write_text(PII_POLICY)
    db, log = tmp_path / "e2e.duckdb", tmp_path / "serve.log"
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "tokentrail",
        "serve",
        "--grpc-port",
        "0",
        "--db",
        str(db),
        "--port",
        str(port),
    ]
    cmd += ["--workers", "1", "--sampling", str(policy)]
    with log.open("wb") as err:
        archive = {"TOKENTRAIL_ARCHIVE_TO": str(tmp_path / "archive"), "TOKENTRAIL_ARCHIVE_INTERVAL_S": "0.2"}
        proc = subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT, env=os.environ | archive)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
            yield f"http://127.0.0.1:{port}", db, log
        finally:
            proc.terminate()
            proc.wait(30)


def conversation() -> list[dict[str, Any]]:
    """A user turn with every kind of value, an assistant turn repeating some, and a follow-up."""
    reply = f"I have written to {PII['EMAIL']} about card {PII['CREDIT_CARD']} and key {PII['API_KEY']}."
    return [
        {"role": "user", "content": pii_prompt()},
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "Thanks, anything else?"},
    ]


def make_calls(sim: str) -> None:
    messages = conversation()
    with openai.OpenAI(base_url=sim + "/v1", api_key="test") as oai:
        oai.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        for _ in oai.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True):  # type: ignore[arg-type]
            pass
    with anthropic.Anthropic(base_url=sim, api_key="test") as ant:
        ant.messages.create(model="claude-x", max_tokens=50, system=PII["EMAIL"], messages=messages)  # type: ignore[arg-type]
        with ant.messages.stream(model="claude-x", max_tokens=50, messages=messages) as events:  # type: ignore[arg-type]
            events.get_final_message()
    bedrock = boto3.session.Session().client(
        "bedrock-runtime",
        endpoint_url=sim,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    converse = [{"role": m["role"], "content": [{"text": m["content"]}]} for m in messages]
    bedrock.converse(modelId="amazon.nova-lite-v1:0", messages=converse)
    for _ in bedrock.converse_stream(modelId="amazon.nova-lite-v1:0", messages=converse)["stream"]:
        pass
    bedrock.close()


def poll_samples(url: str, wanted: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = httpx.get(f"{url}/api/samples", params={"since": "1h", "limit": 100}).json()["samples"]
        if len(found) >= wanted:
            return list(found)
        time.sleep(0.1)
    raise AssertionError(f"fewer than {wanted} samples within 60 s")


def leaks(data: bytes) -> list[bytes]:
    return [raw for raw in raw_fragments() if raw in data]


def test_captured_calls_are_sampled_redacted_and_never_stored_raw(
    served: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, db, log = served
    tt = Tokentrail(
        endpoint=url, capture_content=True, use_global_provider=False, spool_dir=tmp_path / "spool"
    )
    assert sorted(tt.instrument()) == ["anthropic", "bedrock", "openai"]
    try:
        with SimulatorServer(profile=Profile.default().scaled(0.02), seed=5) as sim:
            make_calls(sim.url)
        assert tt.force_flush(30)
    finally:
        tt.uninstrument()
        tt.shutdown()
    samples = poll_samples(url, 6)
    assert {s["provider"] for s in samples} == {"openai", "anthropic", "aws.bedrock"}
    for sample in samples:
        text = str(sample["document"]["messages"])
        assert all(f"<{kind}_1>" in text for kind in PII), text
        assert sample["redaction"]["EMAIL"] >= 4 and sample["document"]["output"]
    bodies = [httpx.get(f"{url}/api/samples", params={"since": "1h", "limit": 100}).content]
    bodies += [httpx.get(f"{url}/api/samples/{s['trace_id']}/{s['span_id']}").content for s in samples]
    bodies += [httpx.get(f"{url}/call/{s['trace_id']}/{s['span_id']}").content for s in samples]
    bodies += [
        httpx.get(f"{url}{path}", params={"since": "1h"}).content for path in ("/api/calls", "/api/why")
    ]
    bodies.append(httpx.get(f"{url}/api/sampling").content)
    assert not [leaks(body) for body in bodies if leaks(body)]
    stored = [p for p in tmp_path.iterdir() if p.name.startswith(db.name)]  # the file and its WAL
    assert not {p.name: leaks(p.read_bytes()) for p in stored if leaks(p.read_bytes())}
    assert not leaks(log.read_bytes())
    archived = archive_rows(tmp_path / "archive", len(samples))
    assert {r["span_id"] for r in archived} == {s["span_id"] for s in samples}
    files = [p for p in (tmp_path / "archive").rglob("*") if p.is_file()]
    assert not [p.name for p in files if leaks(p.read_bytes())]
    assert not leaks(json.dumps(archived, default=str).encode())  # the decompressed rows too


def archive_rows(root: Path, wanted: int) -> list[dict[str, Any]]:
    """The archive's rows read back with pyarrow's Hive partitioning, once `serve` has archived `wanted`."""
    deadline = time.monotonic() + 60
    manifest = root / "_manifest.json"
    while not (manifest.is_file() and json.loads(manifest.read_text())["samples"] >= wanted):
        assert time.monotonic() < deadline, "serve did not archive the samples within 60 s"
        time.sleep(0.1)
    rows: list[dict[str, Any]] = (
        ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pylist()
    )
    return rows
