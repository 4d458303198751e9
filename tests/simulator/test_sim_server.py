"""The server itself: lifecycle, determinism across servers, raw HTTP errors, and the CLI entry point."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from tokentrail.simulator import PLAN_HEADER, SimulatorServer

from .helpers import FAST, plan_of, steer, wait_for

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    headers = []
    for seed in (3, 3, 4):
        with SimulatorServer(profile=FAST, seed=seed) as server, httpx.Client(base_url=server.url) as client:
            headers.append(client.post("/v1/chat/completions", json=CHAT).headers[PLAN_HEADER])
    assert headers[0] == headers[1] != headers[2]


def test_lifecycle(sim: SimulatorServer) -> None:
    server = SimulatorServer(profile=FAST)
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    with server:
        assert server.start() is server  # starting twice is harmless
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/health").json() == {"status": "ok"}
        url = server.url
    with pytest.raises(httpx.ConnectError), httpx.Client() as client:
        client.get(url + "/health")


@pytest.mark.parametrize(
    ("path", "check"),
    [
        ("/v1/chat/completions", lambda body: body["error"]["type"] == "invalid_request_error"),
        (
            "/v1/messages",
            lambda body: body["type"] == "error" and body["error"]["type"] == "invalid_request_error",
        ),
        ("/model/amazon.nova-lite-v1:0/converse", lambda body: "message" in body),
    ],
)
def test_bad_json_is_a_provider_shaped_400(sim: SimulatorServer, path: str, check: object) -> None:
    with httpx.Client(base_url=sim.url) as client:
        response = client.post(path, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and check(response.json())  # type: ignore[operator]
    assert plan_of(response.headers)["fail"]["status"] == 400
    assert sim.requests(path)[0].status == 400


def test_bedrock_error_headers(sim: SimulatorServer) -> None:
    with httpx.Client(base_url=sim.url) as client:
        response = client.post(
            "/model/amazon.nova-lite-v1%3A0/converse",
            json={"messages": [{"role": "user", "content": [{"text": "x"}]}]},
            headers={**steer(fail=[429]), "amz-sdk-request": "attempt=1; max=3"},
        )
    assert response.status_code == 429
    assert response.headers["x-amzn-errortype"].startswith("ThrottlingException:")
    assert response.headers["x-amzn-requestid"]
    assert plan_of(response.headers)["fail"] == {"mode": "status", "status": 429, "after_chunks": 0}


def test_bedrock_attempt_header_selects_the_fail_entry(sim: SimulatorServer) -> None:
    body = {"messages": [{"role": "user", "content": [{"text": "x"}]}]}
    with httpx.Client(base_url=sim.url) as client:
        statuses = [
            client.post(
                "/model/amazon.nova-lite-v1:0/converse",
                json=body,
                headers={**steer(fail=[500, 503]), "amz-sdk-request": f"attempt={n}; max=3"},
            ).status_code
            for n in (1, 2, 3)
        ]
    assert statuses == [500, 503, 200]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_run_serves_until_ctrl_c() -> None:
    port = free_port()
    code = f"from tokentrail.simulator import run; run('127.0.0.1', {port}, 'default', 5)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout_s=20)
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json=CHAT,
            headers=steer(ttft_ms=0, output_tokens=1),
        )
        assert json.loads(response.headers[PLAN_HEADER])["input_tokens"] == 2
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "tokentrail simulator" in output


def test_requests_can_be_filtered_by_path(sim: SimulatorServer) -> None:
    with httpx.Client(base_url=sim.url) as client:
        client.post("/v1/chat/completions", json=CHAT, headers=steer(output_tokens=1))
        client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"})
    assert [r.path for r in sim.requests()] == ["/v1/chat/completions", "/v1/embeddings"]
    assert len(sim.requests("/v1/embeddings")) == 1
    sim.clear()
    assert sim.requests() == []
