"""Running the simulator: `SimulatorServer` (a background thread, for tests and demos) and `run` (the CLI)."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from tokentrail.simulator.app import create_app
from tokentrail.simulator.exchange import RequestRecord, SimState
from tokentrail.simulator.profile import Profile

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class _Server(uvicorn.Server):
    """uvicorn.Server that signals once it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


class SimulatorServer:
    """The simulator on a free loopback port, in a background thread.

    ``with SimulatorServer(seed=1) as sim: OpenAI(base_url=sim.url + "/v1", api_key="x")``.
    ``requests()`` lists what it has answered, so tests can count attempts.
    """

    def __init__(
        self, profile: Profile | None = None, seed: int = 0, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.app = create_app(profile, seed)
        self.host, self.port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def state(self) -> SimState:
        state: SimState = self.app.state.sim
        return state

    @property
    def url(self) -> str:
        if self._socket is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    def requests(self, path: str | None = None) -> list[RequestRecord]:
        """Requests answered so far (optionally only those to `path`), oldest first."""
        return [r for r in self.state.records() if path is None or r.path == path]

    def clear(self) -> None:
        """Forget the requests answered so far."""
        self.state.clear()

    def start(self) -> SimulatorServer:
        if self._thread is not None:
            return self
        self._socket = socket.create_server((self.host, self.port))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            log_config=None,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"tokentrail-sim:{self.port}", daemon=True)
        self._thread.start()
        self._wait_ready()
        return self

    def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        finally:
            self._server.ready.set()  # wake start() at once if serving failed before startup finished

    def _wait_ready(self) -> None:
        assert self._server is not None and self._thread is not None
        if not self._server.ready.wait(START_TIMEOUT_S) or not self._server.started:
            self.stop()
            raise RuntimeError(f"the simulator did not start within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            if self._thread.is_alive():
                raise RuntimeError(f"the simulator did not stop within {STOP_TIMEOUT_S} s")
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def load_profile(profile: str | Path | None) -> Profile:
    """None → the default profile; 'default'/'flaky' → a packaged one; else a TOML path."""
    if profile is None or str(profile) == "default":
        return Profile.default()
    if str(profile) == "flaky":
        return Profile.named("flaky")
    return Profile.load(profile)


def run(
    host: str = "127.0.0.1",
    port: int = 8787,
    profile_path: str | Path | None = None,
    seed: int = 0,
    **uvicorn_options: Any,
) -> None:
    """Serve the simulator in the foreground until Ctrl-C (what ``tokentrail simulate`` calls)."""
    app = create_app(load_profile(profile_path), seed)
    options: dict[str, Any] = {"log_level": "info", "lifespan": "off", "ws": "none", **uvicorn_options}
    print(f"tokentrail simulator: http://{host}:{port}/v1 (OpenAI, Anthropic), /model (Bedrock)", flush=True)
    uvicorn.run(app, host=host, port=port, **options)
