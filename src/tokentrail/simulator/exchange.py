"""The one request flow every simulated endpoint shares.

`serve` reads the request, asks the endpoint to parse it into an `Ask`, makes the `Plan`, and then either
fails as planned (an HTTP error, or a hang for a timeout), paces a stream of events, or waits out the
planned generation time and answers with one JSON body. Endpoints only translate: request JSON to `Ask`,
and `Plan` to the provider's bodies, events and errors.

Timing starts when the request body has been read; each stream event is released at the due time of the
content chunk it belongs to (`Event.at`), so TTFT and inter-chunk gaps on the wire follow the plan.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tokentrail.simulator.directive import DIRECTIVE_HEADER, PLAN_HEADER, Directive, DirectiveError
from tokentrail.simulator.plan import Ask, Plan, make_plan
from tokentrail.simulator.profile import ModelProfile, Profile

RETRY_AFTER_MS = 50
RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class InvalidRequest(ValueError):
    """The request body is not what the provider accepts; answered with the provider's 400."""


@dataclasses.dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the simulator answered (status 200 for streams, even those failing midway)."""

    provider: str
    path: str
    model: str
    attempt: int
    status: int
    stream: bool
    plan: Plan | None


class SimState:
    """Per-app state: profile, seed, and the log of requests seen (thread-safe)."""

    def __init__(self, profile: Profile, seed: int) -> None:
        self.profile = profile
        self.seed = seed
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._counter = itertools.count()

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def next_serial(self) -> int:
        with self._lock:
            return next(self._counter)


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One stream event, released with content chunk `at`."""

    at: int
    name: str
    data: Any
    exception: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorReply:
    status: int
    body: Any
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class Exchange:
    """One request being answered: what was asked, the plan, ids and the clock."""

    ask: Ask
    plan: Plan
    body: dict[str, Any]
    key: str
    started: float
    settings: ModelProfile
    seed: int

    def make_id(self, prefix: str, length: int = 24) -> str:
        return prefix + hashlib.sha256(f"{self.key}:{prefix}".encode()).hexdigest()[:length]


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """How one provider operation translates between its wire format and the plan."""

    provider: str
    parse: Callable[[dict[str, Any], str | None], Ask]
    plain: Callable[[Exchange], Any]
    events: Callable[[Exchange], list[Event]]
    encode: Callable[[Event], bytes]
    error: Callable[[int, str], ErrorReply]
    media_type: str = "text/event-stream"
    timeout_status: int = 504
    request_id_header: str = "x-request-id"
    extra_headers: Callable[[Exchange], dict[str, str]] = lambda ex: {}
    stream_headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


def attempt_of(headers: Mapping[str, str]) -> int:
    """0-based attempt from the SDKs' retry headers (stainless clients and botocore)."""
    stainless = headers.get("x-stainless-retry-count")
    if stainless is not None and stainless.isdigit():
        return int(stainless)
    for part in headers.get("amz-sdk-request", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "attempt" and value.isdigit():
            return max(0, int(value) - 1)
    return 0


async def serve(request: Request, endpoint: Endpoint, model_path: str | None = None) -> Response:
    state: SimState = request.app.state.sim
    loop = asyncio.get_running_loop()
    raw = await request.body()
    started = loop.time()
    attempt = attempt_of(request.headers)
    try:
        body = _json_object(raw)
        directive = Directive.parse(request.headers.get(DIRECTIVE_HEADER))
        ask = endpoint.parse(body, model_path)
    except (InvalidRequest, DirectiveError) as exc:
        state.record(
            RequestRecord(endpoint.provider, request.url.path, model_path or "", attempt, 400, False, None)
        )
        rejected = json.dumps({"attempt": attempt, "fail": {"mode": "invalid_request", "status": 400}})
        return _error_response(endpoint, endpoint.error(400, str(exc)), rejected, _key(state, request, raw))
    plan = make_plan(state.profile, state.seed, _plan_key(request.url.path, body), attempt, ask, directive)
    settings = state.profile.for_model(ask.model)
    ex = Exchange(ask, plan, body, _key(state, request, raw), started, settings, state.seed)
    response = await _respond(request, endpoint, ex)
    state.record(
        RequestRecord(
            endpoint.provider, request.url.path, ask.model, attempt, response.status_code, ask.stream, plan
        )
    )
    return response


async def _respond(request: Request, endpoint: Endpoint, ex: Exchange) -> Response:
    failure = ex.plan.failure
    if failure is not None and failure.mode == "status":
        reply = endpoint.error(failure.status, _message(failure.status))
        return _error_response(endpoint, reply, ex.plan.header(), ex.key)
    if failure is not None and failure.mode == "timeout":
        await _hang(request, ex.plan.hang_ms / 1000)
        status = endpoint.timeout_status
        return _error_response(endpoint, endpoint.error(status, _message(status)), ex.plan.header(), ex.key)
    headers = {**_common_headers(endpoint, ex.key, ex.plan.header()), **endpoint.extra_headers(ex)}
    if ex.ask.stream:
        chunks = _pace(ex.started, ex.plan.due_ms(), endpoint.events(ex), endpoint.encode)
        headers.update(endpoint.stream_headers)
        return StreamingResponse(chunks, media_type=endpoint.media_type, headers=headers)
    await _sleep_until(ex.started + ex.plan.total_ms / 1000)
    return JSONResponse(endpoint.plain(ex), headers=headers)


def _error_response(endpoint: Endpoint, reply: ErrorReply, plan_header: str, key: str) -> Response:
    headers = {**_common_headers(endpoint, key, plan_header), **reply.headers}
    if reply.status in RETRYABLE:
        headers.update({"retry-after-ms": str(RETRY_AFTER_MS), "retry-after": str(RETRY_AFTER_MS / 1000)})
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)


def _common_headers(endpoint: Endpoint, key: str, plan_header: str) -> dict[str, str]:
    request_id = str(uuid.UUID(hashlib.sha256(f"{key}:request".encode()).hexdigest()[:32]))
    return {endpoint.request_id_header: request_id, PLAN_HEADER: plan_header}


def _plan_key(path: str, body: dict[str, Any]) -> bytes:
    """What a plan is drawn from: the path and the body, less ``stream_options``, which changes only the
    framing of a stream (a usage chunk), never the answer, as with the real APIs."""
    content = {k: v for k, v in body.items() if k != "stream_options"}
    return path.encode() + b"\n" + json.dumps(content, sort_keys=True, separators=(",", ":")).encode()


def _key(state: SimState, request: Request, raw: bytes) -> str:
    """A unique key per request, for ids: the request's digest plus a serial number."""
    digest = hashlib.sha256(request.url.path.encode() + raw).hexdigest()[:16]
    return f"{state.seed}:{digest}:{state.next_serial()}"


def require_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("you must provide a model parameter")
    return model


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    return body


def _message(status: int) -> str:
    return {
        429: "Rate limit exceeded (simulated). Please retry after a short wait.",
        408: "The model timed out (simulated).",
        504: "The request timed out (simulated).",
        503: "The service is unavailable (simulated).",
        529: "Overloaded (simulated).",
    }.get(status, f"Simulated error {status}.")


async def _sleep_until(deadline: float) -> None:
    delay = deadline - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _hang(request: Request, seconds: float) -> None:
    """Wait `seconds`, or until the client hangs up (checked every 20 ms)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(0.02, remaining))


async def _pace(
    started: float, due_ms: list[float], events: list[Event], encode: Callable[[Event], bytes]
) -> AsyncIterator[bytes]:
    """Yield the events' bytes, each group of events at its content chunk's due time."""
    for at, group in itertools.groupby(events, key=lambda event: event.at):
        await _sleep_until(started + due_ms[min(at, len(due_ms) - 1)] / 1000)
        yield b"".join(encode(event) for event in group)


def sse_named(event: Event) -> bytes:
    """``event: <name>`` + ``data: <json>`` (Anthropic, OpenAI Responses)."""
    return f"event: {event.name}\ndata: {json.dumps(event.data, separators=(',', ':'))}\n\n".encode()


def sse_data(event: Event) -> bytes:
    """``data: <json>`` only (OpenAI Chat Completions); a string payload is sent as is (``[DONE]``)."""
    payload = event.data if isinstance(event.data, str) else json.dumps(event.data, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()
