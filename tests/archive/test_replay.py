"""The whole path with the real OpenAI client: calls with PII captured, sampled and redacted at the collector,
archived (local and moto's S3) with no raw value in any file, then replayed against another model from the
archive as an experiment with its comparison; an interrupted replay resumes, no sample replayed twice."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from archive_data import Collector, assert_nothing_raw, content_span, local_files, wait_until
from support import free_port, make_request
from tokentrail.archive.target import LocalTarget, open_target
from tokentrail.archive.writer import archive
from tokentrail.cli.common import console
from tokentrail.cli.replay import print_comparison
from tokentrail.prompts.content import Content
from tokentrail.prompts.registry import Actor, Registry
from tokentrail.simulator.profile import Profile
from tokentrail.simulator.server import SimulatorServer

HERE = Path(__file__).parent
ENV = os.environ | {
    "PYTHONPATH": os.pathsep.join([str(HERE.parent.parent / "src"), str(HERE.parent)]),
    "OPENAI_API_KEY": "test",
    "TOKENTRAIL_SPOOL_DIR": "",
}
PROTOBUF = "application/x-protobuf"
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    """The simulator; a request that offers tools always gets a tool call back."""
    profile = Profile.default().scaled(0.3)
    profile = dataclasses.replace(
        profile, models=tuple(dataclasses.replace(m, tool_call_rate=1.0) for m in profile.models)
    )
    with SimulatorServer(profile=profile, seed=5) as server:
        yield server.url


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(tmp_path / "tt.duckdb", free_port())
    yield c
    c.close()


def originals(sim: str, collector: Collector, n: int, kind: str = "pii") -> None:
    """n real instrumented calls (make_calls.py: PII in the prompts by default), all sampled."""
    script = [sys.executable, str(HERE / "make_calls.py"), sim, collector.url, str(n), kind]
    with tempfile.TemporaryDirectory() as cache:  # tokentrail.prompt's disk copies
        subprocess.run(script, env=ENV | {"TOKENTRAIL_CACHE_DIR": cache}, check=True, timeout=120)
    wait_until(lambda: collector.count("SELECT count(*) FROM samples") == n)


def replay(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tokentrail", "replay", *args]
    return subprocess.Popen(
        command, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out


def comparison(out: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(out[out.index("{") :])
    return loaded


def candidates(collector: Collector, experiment: str) -> list[tuple[Any, ...]]:
    sql = "SELECT request_model, variant, feature FROM calls WHERE experiment = ? ORDER BY span_id"
    return list(collector.store.query(sql, [experiment]).rows)


def overlapping(collector: Collector, experiment: str) -> int:
    """Pairs of the experiment's calls that were in flight at the same time (from their stored start and
    end times)."""
    sql = """SELECT count(*) FROM calls a JOIN calls b
             ON a.span_id < b.span_id AND a.start_time < b.end_time AND b.start_time < a.end_time
             WHERE a.experiment = ? AND b.experiment = ?"""
    count: int = collector.store.query(sql, [experiment, experiment]).rows[0][0]
    return count


def test_capture_archive_and_replay_against_another_model(
    sim: str, collector: Collector, tmp_path: Path, moto_s3: str, bucket: str
) -> None:
    originals(sim, collector, 6)
    local = tmp_path / "archive"
    assert archive(collector.store, LocalTarget(local)).total == 6
    s3_target = open_target(f"s3://{bucket}/samples", s3_endpoint=moto_s3)
    assert archive(collector.store, s3_target).total == 6
    s3 = boto3.client("s3", endpoint_url=moto_s3)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert_nothing_raw({k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys})
    assert_nothing_raw(local_files(local))

    state = tmp_path / "state"
    common = [
        "--endpoint",
        f"{sim}/v1",
        "--server",
        collector.url,
        "--state-dir",
        str(state),
        "--format",
        "json",
    ]
    out = finished(
        replay("--from", str(local), "--where", 'feature = "triage"', "--model", "gpt-4.1-mini", *common)
    )
    result = comparison(out)
    experiment = result["experiment"]
    assert result["calls"] == {"baseline": 3, "candidate": 3}
    assert candidates(collector, experiment) == [("gpt-4.1-mini", "candidate", "triage")] * 3
    assert overlapping(collector, experiment) >= 1  # --concurrency 8 (the default): calls in parallel
    listed = httpx.get(f"{collector.url}/api/experiments").json()["experiments"]
    (item,) = [e for e in listed if e["experiment"] == experiment]  # the archived calls are its baseline
    assert item["variants"] == [{"variant": "baseline", "calls": 3}, {"variant": "candidate", "calls": 3}]
    assert collector.count("SELECT count(*) FROM calls") == 6 + 3  # referenced, not copied
    for name in ("cost_usd", "duration_ms", "ttft_ms", "output_tokens", "error_rate"):
        metric = result["metrics"][name]
        assert set(metric) == {"baseline", "candidate", "difference"}
    latency = result["metrics"]["duration_ms"]
    assert latency["baseline"]["low"] <= latency["baseline"]["mean"] <= latency["baseline"]["high"]
    assert result["metrics"]["error_rate"]["candidate"]["mean"] == 0.0
    assert result["output_similarity"]["pairs"] == 3
    assert 0.0 <= result["output_similarity"]["mean"] <= 1.0

    s3_env = ENV | AWS | {"OPENAI_BASE_URL": f"{sim}/v1"}  # the client's own setting, not --endpoint
    source = ["--from", f"s3://{bucket}/samples", "--s3-endpoint", moto_s3, "--limit", "2"]
    from_s3 = comparison(finished(replay(*source, "--model", "gpt-4o", *common[2:], env=s3_env)))
    assert from_s3["calls"] == {"baseline": 2, "candidate": 2}
    assert [m for m, _, _ in candidates(collector, from_s3["experiment"])] == ["gpt-4o", "gpt-4o"]


def test_interrupted_replay_resumes_without_repeats(sim: str, collector: Collector, tmp_path: Path) -> None:
    originals(sim, collector, 10)
    local = tmp_path / "archive"
    archive(collector.store, LocalTarget(local))
    state = tmp_path / "state"
    args = ["--endpoint", f"{sim}/v1", "--server", collector.url, "--state-dir", str(state)]
    first = replay("--from", str(local), "--model", "gpt-4.1-mini", "--concurrency", "1", *args)
    wait_until(lambda: any(state.glob("*.done")) and _lines(next(state.glob("*.done"))) >= 3)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    done_file = next(state.glob("*.done"))
    replay_id = done_file.stem
    assert 3 <= _lines(done_file) < 10
    out = finished(replay("--resume", replay_id, *args[4:], "--format", "json"))
    assert comparison(out)["calls"]["candidate"] == 10
    entries = [json.loads(line)["sample"] for line in done_file.read_text().splitlines() if line.strip()]
    assert len(entries) == len(set(entries)) == 10
    sql = "SELECT count(*), count(DISTINCT span_id) FROM calls WHERE experiment = ?"
    assert collector.store.query(sql, [f"replay-{replay_id}"]).rows == [(10, 10)]
    assert overlapping(collector, f"replay-{replay_id}") == 0  # --concurrency 1: one call at a time
    members = "SELECT variant, count(*) FROM experiment_members WHERE experiment = ? GROUP BY 1"
    assert collector.store.query(members, [f"replay-{replay_id}"]).rows == [("baseline", 10)]


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def test_replay_since_sends_only_the_newer_samples(sim: str, collector: Collector, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=10)
    spans = [content_span(n, now - dt.timedelta(days=10 if n < 2 else 0)) for n in range(4)]
    body = make_request(spans).SerializeToString()
    r = httpx.post(f"{collector.url}/v1/traces", content=body, headers={"content-type": PROTOBUF})
    assert r.status_code == 200, r.text
    wait_until(lambda: collector.count("SELECT count(*) FROM samples") == 4)
    archive(collector.store, LocalTarget(tmp_path / "archive"))
    args = ["--from", str(tmp_path / "archive"), "--since", "7d", "--model", "gpt-4.1-mini"]
    args += ["--endpoint", f"{sim}/v1", "--server", collector.url, "--state-dir", str(tmp_path / "s")]
    result = comparison(finished(replay(*args, "--format", "json")))
    assert result["calls"] == {"baseline": 2, "candidate": 2}
    members = "SELECT span_id FROM experiment_members WHERE experiment = ? ORDER BY 1"
    recent = "SELECT span_id FROM samples WHERE start_time > ? ORDER BY 1"
    picked = collector.store.query(members, [result["experiment"]]).rows
    assert picked == collector.store.query(recent, [now - dt.timedelta(days=1)]).rows
    assert len(picked) == 2


API = "json_extract_string(attributes, '$.\"openai.api.type\"')"


def test_a_streamed_baseline_replays_streamed_with_ttft_for_both_variants(
    sim: str, collector: Collector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    originals(sim, collector, 6, kind="stream")  # streamed chat, streamed Responses, plain chat, twice
    archive(collector.store, LocalTarget(tmp_path / "archive"))
    args = ["--from", str(tmp_path / "archive"), "--model", "gpt-4.1-mini", "--endpoint", f"{sim}/v1"]
    args += ["--server", collector.url, "--state-dir", str(tmp_path / "s"), "--format", "json"]
    result = comparison(finished(replay(*args)))
    assert result["calls"] == {"baseline": 6, "candidate": 6}
    sql = f"SELECT {API}, stream, ttft_ms IS NOT NULL FROM calls WHERE experiment {{}} ORDER BY ALL"
    base = collector.store.query(sql.format("IS NULL")).rows
    assert (
        base
        == [("chat_completions", False, False)] * 2
        + [("chat_completions", True, True)] * 2
        + [("responses", True, True)] * 2
    )
    assert collector.store.query(sql.format("= ?"), [result["experiment"]]).rows == base
    ttft = result["metrics"]["ttft_ms"]
    for variant in ("baseline", "candidate"):
        assert ttft[variant]["low"] <= ttft[variant]["mean"] <= ttft[variant]["high"]
    assert ttft["difference"]["relative"] is not None
    errors = result["metrics"]["error_rate"]
    assert errors["baseline"]["mean"] == errors["candidate"]["mean"] == 0.0  # every stream read to its end
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal; setting console.width would outlive the test
    with console.capture() as captured:
        print_comparison(result, result["experiment"])
    (row,) = [line for line in captured.get().splitlines() if "TTFT (ms)" in line]
    assert len(re.findall(r"\d[\d.e+-]* \[-?\d[\d.e+-]*, \d[\d.e+-]*\]", row)) == 2, row  # both, intervals


@pytest.mark.parametrize(
    ("provider", "model"),
    [("anthropic", "claude-3-5-haiku-latest"), ("aws.bedrock", "amazon.nova-lite-v1:0")],
)
def test_replay_to_another_provider(
    sim: str, collector: Collector, tmp_path: Path, provider: str, model: str
) -> None:
    originals(sim, collector, 3, kind="stream")  # streamed chat, streamed Responses, plain chat
    archive(collector.store, LocalTarget(tmp_path / "archive"))
    env = ENV | AWS | {"ANTHROPIC_API_KEY": "test"}
    args = ["--from", str(tmp_path / "archive"), "--provider", provider, "--model", model]
    args += ["--endpoint", sim, "--server", collector.url, "--state-dir", str(tmp_path / "s")]
    result = comparison(finished(replay(*args, "--format", "json", env=env)))
    assert result["calls"] == {"baseline": 3, "candidate": 3}
    assert result["metrics"]["error_rate"]["candidate"]["mean"] == 0.0
    sql = (
        "SELECT provider, request_model, status, stream, ttft_ms IS NOT NULL FROM calls WHERE experiment = ?"
    )
    rows = collector.store.query(sql + " ORDER BY stream", [result["experiment"]]).rows
    # streamed as the originals were: Messages stream, ConverseStream
    assert rows == [(provider, model, "ok", False, False)] + [(provider, model, "ok", True, True)] * 2


def test_replay_resends_system_tool_round_tools_and_parameters(
    sim: str, collector: Collector, tmp_path: Path
) -> None:
    originals(sim, collector, 2, kind="tools")
    archive(collector.store, LocalTarget(tmp_path / "archive"))
    args = ["--from", str(tmp_path / "archive"), "--model", "gpt-4o-mini", "--endpoint", f"{sim}/v1"]
    args += ["--server", collector.url, "--state-dir", str(tmp_path / "s")]
    out = finished(replay(*args, env=ENV | {"COLUMNS": "160"}))  # the table, after the progress bar
    experiment = "replay-" + re.search(r"^replay (\w+) \(resume with", out, re.M)[1]  # type: ignore[index]
    assert re.search(rf"^{experiment} ━+ 100%", out, re.M), out  # the progress bar, at its end
    assert "candidate vs baseline (95 % intervals)" in out and "output similarity" in out
    assert "calls: baseline 2, candidate 2, skipped 0" in out
    sql = "SELECT input_tokens, tool_names FROM calls WHERE experiment {} ORDER BY start_time"
    base = collector.store.query(sql.format("IS NULL")).rows
    cand = collector.store.query(sql.format("= ?"), [experiment]).rows
    # the same system message, tool round and tool definition, token for token; the tool was offered
    assert [tokens for tokens, _ in cand] == [tokens for tokens, _ in base]
    assert [names for _, names in cand] == [["track"], ["track"]]


def test_replay_with_a_prompt_version_from_the_registry(
    sim: str, collector: Collector, tmp_path: Path
) -> None:
    registry = Registry(collector.store)
    author = Actor("ann", authenticated=False)
    registry.create("triage", Content(template="Triage this ticket: {ticket}"), "v1", author)
    two = Content(
        messages=({"role": "system", "content": "One word."}, {"role": "user", "content": "{ticket}"})
    )
    v2, _ = registry.create("triage", two, "v2", author)
    originals(sim, collector, 4, kind="prompt")  # two made with triage v1, two without a prompt
    archive(collector.store, LocalTarget(tmp_path / "archive"))
    args = ["--from", str(tmp_path / "archive"), "--endpoint", f"{sim}/v1", "--server", collector.url]
    args += ["--state-dir", str(tmp_path / "s")]
    result = comparison(finished(replay(*args, "--prompt", "triage@2", "--format", "json")))
    assert result["calls"] == {"baseline": 2, "candidate": 2} and result["skipped"] == 0
    sql = (
        "SELECT prompt_name, prompt_version, prompt_content_id, request_model FROM calls WHERE experiment = ?"
    )
    rows = collector.store.query(sql, [result["experiment"]]).rows
    assert rows == [("triage", "2", v2.content_id, "gpt-4o-mini")] * 2
    for ref, message in [("triage@7", "has no version 7"), ("nope@1", "has no prompt named 'nope'")]:
        proc = replay(*args, "--prompt", ref)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and message in out + err
