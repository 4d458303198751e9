"""The budget guard with the real openai, anthropic and boto3 clients against the simulator, reading budget
statuses from the real collector (`tokentrail.server.app` under uvicorn): refuse, degrade, warn, the
background refresher (no call waits on it), a collector that is down, shutdown and fork."""

from __future__ import annotations

import datetime as dt
import http.server
import itertools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import tokentrail
from tokentrail import BudgetExceeded, Tokentrail
from tokentrail import semconv as sc
from tokentrail.errors import classify_error
from tokentrail.model import Call
from tokentrail.sdk import budget
from tokentrail.simulator import SimulatorServer

from .conftest import BedrockClient, Collector, free_port, wait_for

MESSAGES = [{"role": "user", "content": "hi"}]
CONVERSE = [{"role": "user", "content": [{"text": "hi"}]}]
DEGRADE_TO = {
    "gpt-4o": "gpt-4o-mini",
    "claude-sonnet-4-6": "claude-haiku-4-5",
    "amazon.nova-pro-v1:0": "amazon.nova-lite-v1:0",
}
_ids = itertools.count(1)


def spend(collector: Collector, tenant: str, usd: float) -> None:
    """A priced LLM call of `tenant`, stored now."""
    n = next(_ids)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    call = Call(f"{n:032x}", f"{n:016x}", kind="llm", tenant=tenant, cost_usd=usd, start_time=now)
    collector.store.write([call])


def set_budget(collector: Collector, tenant: str, amount_usd: float) -> None:
    body = {"scope": "tenant", "value": tenant, "period": "day", "amount_usd": amount_usd}
    assert httpx.put(collector.url + "/api/budgets", json=body).status_code == 200


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    """The collector, where tenant acme is over its day budget of $0.000001."""
    server = Collector(free_port(), tmp_path_factory.mktemp("budgets") / "collector.duckdb")
    try:
        set_budget(server, "acme", 0.000001)
        spend(server, "acme", 1.0)
        yield server
    finally:
        server.close()


class Guarded:
    """An isolated instance reading budgets from `endpoint`, and what it recorded."""

    def __init__(self, endpoint: str, sim: SimulatorServer) -> None:
        self.memory = InMemorySpanExporter()
        self.tt = Tokentrail(
            endpoint=endpoint,
            send_to_collector=False,
            use_global_provider=False,
            span_processors=[SimpleSpanProcessor(self.memory)],
        )
        self.sim = sim

    def llm(self) -> list[ReadableSpan]:
        assert self.tt.force_flush(10)
        return [s for s in self.memory.get_finished_spans() if (s.attributes or {}).get(sc.TT_KIND) == "llm"]

    def last(self) -> dict[str, Any]:
        return dict(self.llm()[-1].attributes or {})

    def sent_models(self) -> list[str]:
        return [r.model for r in self.sim.requests()]


@pytest.fixture
def make_guarded(sim_server: SimulatorServer) -> Iterator[Callable[[str], Guarded]]:
    made: list[Guarded] = []

    def make(endpoint: str) -> Guarded:
        made.append(Guarded(endpoint, sim_server))
        return made[-1]

    sim_server.clear()
    yield make
    for g in made:
        g.tt.shutdown(timeout_s=2)


@pytest.fixture
def g(collector: Collector, make_guarded: Callable[[str], Guarded]) -> Guarded:
    """An instance on the collector, statuses fetched (acme is over budget)."""
    guarded = make_guarded(collector.url)
    assert guarded.tt.refresh_budgets()
    return guarded


@pytest.fixture
def oai(g: Guarded) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=g.sim.url + "/v1", api_key="test", max_retries=0) as client:
        g.tt.instrument_openai(client)
        yield client


# --- raise ------------------------------------------------------------------------------------------------


def test_raise_refuses_before_sending_and_records_the_refusal(g: Guarded, oai: openai.OpenAI) -> None:
    guard = g.tt.budget_guard(on_exceeded="raise")
    with guard, g.tt.labels(tenant="acme", feature="chat"), pytest.raises(BudgetExceeded) as info:
        oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    exc = info.value
    assert (exc.scope, exc.value, exc.period, exc.amount_usd) == ("tenant", "acme", "day", 0.000001)
    assert exc.spent_usd >= 1.0
    assert g.sim.requests() == []  # nothing was sent
    (span,) = g.llm()
    attrs = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.ERROR
    assert attrs[sc.ERROR_TYPE] == "BudgetExceeded" and attrs[sc.TT_ERROR_CLASS] == "other"
    assert attrs[sc.TT_BUDGET_EXCEEDED] == "tenant=acme"
    assert attrs[sc.TT_ATTEMPTS] == 0 and attrs[sc.label_attribute("feature")] == "chat"
    assert classify_error("BudgetExceeded", None) == "other"  # how the collector will class it
    with guard, g.tt.labels(tenant="other"):
        reply = oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert reply.choices and g.sent_models() == ["gpt-4o"]
    assert sc.TT_BUDGET_EXCEEDED not in g.last()


def test_outside_a_guard_nothing_changes(g: Guarded, oai: openai.OpenAI) -> None:
    with g.tt.labels(tenant="acme"):
        oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert g.sent_models() == ["gpt-4o"]
    assert sc.TT_BUDGET_EXCEEDED not in g.last() and sc.TT_DEGRADED not in g.last()


async def test_raise_as_async_decorator(g: Guarded) -> None:
    @g.tt.budget_guard(on_exceeded="raise")
    async def ask(client: openai.AsyncOpenAI) -> Any:
        with g.tt.labels(tenant="acme"):
            return await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    async with openai.AsyncOpenAI(base_url=g.sim.url + "/v1", api_key="test") as client:
        g.tt.instrument_openai(client)
        with pytest.raises(BudgetExceeded):
            await ask(client)
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # outside: allowed
    assert g.sent_models() == ["gpt-4o"]
    assert [dict(s.attributes or {}).get(sc.ERROR_TYPE) for s in g.llm()] == ["BudgetExceeded", None]


def test_raise_as_sync_decorator_with_anthropic(g: Guarded) -> None:
    @g.tt.budget_guard(on_exceeded="raise")
    def ask(client: anthropic.Anthropic) -> Any:
        return client.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=MESSAGES)

    with anthropic.Anthropic(base_url=g.sim.url, api_key="test") as client:
        g.tt.instrument_anthropic(client)
        with g.tt.labels(tenant="acme"), pytest.raises(BudgetExceeded):
            ask(client)
        with g.tt.labels(tenant="other"):
            ask(client)
    assert g.sent_models() == ["claude-sonnet-4-6"]


# --- degrade ----------------------------------------------------------------------------------------------


def assert_degraded(g: Guarded, sent: str) -> None:
    assert g.sent_models() == [sent]
    attrs = g.last()
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == sent
    assert attrs[sc.TT_DEGRADED] == budget.DEGRADED_REASON
    assert attrs[sc.TT_BUDGET_EXCEEDED] == "tenant=acme"


def test_degrade_openai(g: Guarded, oai: openai.OpenAI) -> None:
    with (
        g.tt.budget_guard(on_exceeded="degrade", degrade_to=DEGRADE_TO),
        g.tt.labels(tenant="acme"),
        g.tt.trace("agent"),
    ):
        stream = oai.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        chunks = list(stream)
    assert chunks and chunks[0].model == "gpt-4o-mini"
    assert_degraded(g, "gpt-4o-mini")
    (root,) = [s for s in g.memory.get_finished_spans() if s.name == "invoke_agent agent"]
    assert (root.attributes or {})[sc.TT_DEGRADED_COUNT] == 1


def test_degrade_anthropic(g: Guarded) -> None:
    with anthropic.Anthropic(base_url=g.sim.url, api_key="test") as client:
        g.tt.instrument_anthropic(client)
        with g.tt.budget_guard(on_exceeded="degrade", degrade_to=DEGRADE_TO), g.tt.labels(tenant="acme"):
            reply = client.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=MESSAGES)
    assert reply.model == "claude-haiku-4-5"
    assert_degraded(g, "claude-haiku-4-5")


def test_degrade_bedrock_converse(g: Guarded, bedrock: BedrockClient) -> None:
    g.tt.instrument_bedrock(bedrock.client)
    params = {"modelId": "amazon.nova-pro-v1:0", "messages": CONVERSE}
    with g.tt.budget_guard(on_exceeded="degrade", degrade_to=DEGRADE_TO), g.tt.labels(tenant="acme"):
        reply = bedrock.client.converse(**params)
    assert reply["output"]["message"]
    assert params["modelId"] == "amazon.nova-pro-v1:0"  # the caller's parameters are left alone
    assert_degraded(g, "amazon.nova-lite-v1:0")


def test_degrade_without_a_mapping_marks_and_sends_as_asked(g: Guarded, oai: openai.OpenAI) -> None:
    with g.tt.budget_guard(on_exceeded="degrade", degrade_to=DEGRADE_TO), g.tt.labels(tenant="acme"):
        oai.chat.completions.create(model="o3", messages=MESSAGES)
    assert_degraded(g, "o3")


# --- warn -------------------------------------------------------------------------------------------------


def test_warn_logs_once_per_scope_per_refresh(
    g: Guarded, oai: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tokentrail")
    guard = g.tt.budget_guard()  # warn is the default
    with guard, g.tt.labels(tenant="acme"):
        oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    warnings = [r.getMessage() for r in caplog.records if "over its day budget" in r.getMessage()]
    assert len(warnings) == 1 and "'acme'" in warnings[0]
    assert g.sent_models() == ["gpt-4o", "gpt-4o"]
    assert [dict(s.attributes or {})[sc.TT_BUDGET_EXCEEDED] for s in g.llm()] == ["tenant=acme"] * 2
    assert sc.TT_DEGRADED not in g.last()
    assert g.tt.refresh_budgets()
    with guard, g.tt.labels(tenant="acme"):
        oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len([r for r in caplog.records if "over its day budget" in r.getMessage()]) == 2


# --- the refresher ----------------------------------------------------------------------------------------


def test_status_changes_are_picked_up(collector: Collector, g: Guarded, oai: openai.OpenAI) -> None:
    set_budget(collector, "beta", 1.0)
    spend(collector, "beta", 0.5)
    guard = g.tt.budget_guard(on_exceeded="raise")

    def ask() -> None:
        with guard, g.tt.labels(tenant="beta"):
            oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert g.tt.refresh_budgets()
    ask()  # within budget
    spend(collector, "beta", 0.75)
    ask()  # over now, but not refreshed yet
    assert g.tt.refresh_budgets()
    with pytest.raises(BudgetExceeded):
        ask()
    set_budget(collector, "beta", 100.0)
    assert g.tt.refresh_budgets()
    ask()
    assert len(g.sim.requests()) == 3
    assert g.tt.sdk_stats()["budget_refreshes"] == 4


def test_collector_down_allows_calls_and_counts_failures(
    make_guarded: Callable[[str], Guarded], caplog: pytest.LogCaptureFixture
) -> None:
    g = make_guarded(f"http://127.0.0.1:{free_port()}")
    caplog.set_level(logging.WARNING, logger="tokentrail")
    assert not g.tt.refresh_budgets()
    assert not g.tt.refresh_budgets()
    stats = g.tt.sdk_stats()
    assert (stats["budget_refreshes"], stats["budget_refresh_failures"]) == (0, 2)
    failures = [r for r in caplog.records if "cannot refresh budgets" in r.getMessage()]
    assert len(failures) == 1 and "calls allowed" in failures[0].getMessage()  # at most once a minute
    with openai.OpenAI(base_url=g.sim.url + "/v1", api_key="test") as client:
        g.tt.instrument_openai(client)
        with g.tt.budget_guard(on_exceeded="raise"), g.tt.labels(tenant="acme"):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # unknown = allowed
    assert g.sent_models() == ["gpt-4o"]


def test_a_failed_refresh_keeps_the_last_statuses(
    g: Guarded, oai: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: Any) -> budget.Snapshot:
        raise ConnectionRefusedError("down")

    monkeypatch.setattr(budget, "fetch", down)
    assert not g.tt.refresh_budgets()
    with g.tt.budget_guard(on_exceeded="raise"), g.tt.labels(tenant="acme"), pytest.raises(BudgetExceeded):
        oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert g.tt.sdk_stats()["budget_refresh_failures"] == 1


def test_refresh_runs_on_its_thread_and_no_call_waits(
    collector: Collector,
    make_guarded: Callable[[str], Guarded],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    g = make_guarded(collector.url)
    release = threading.Event()
    fetch_threads: list[str] = []
    real_fetch = budget.fetch

    def slow_fetch(*args: Any) -> budget.Snapshot:
        fetch_threads.append(threading.current_thread().name)
        assert release.wait(10)
        return real_fetch(*args)

    monkeypatch.setattr(budget, "fetch", slow_fetch)
    guard = g.tt.budget_guard(on_exceeded="raise", refresh_s=0.05)
    with openai.OpenAI(base_url=g.sim.url + "/v1", api_key="test") as client:
        g.tt.instrument_openai(client)
        with guard, g.tt.labels(tenant="acme"):
            wait_for(lambda: fetch_threads != [])  # the first fetch hangs on the collector ...
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # ... the call does not
            assert g.sent_models() == ["gpt-4o"]  # statuses unknown: allowed
            release.set()
            wait_for(lambda: g.tt.sdk_stats()["budget_refreshes"] >= 2)  # it polls every refresh_s
            with pytest.raises(BudgetExceeded):
                client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert set(fetch_threads) == {"tokentrail-budgets"}
    assert g.sent_models() == ["gpt-4o"]


def test_shutdown_stops_the_refresher(g: Guarded) -> None:
    with g.tt.budget_guard(refresh_s=0.05):
        thread = g.tt._budgets._thread
        assert thread is not None and thread.is_alive()
    g.tt.shutdown(timeout_s=2)
    assert not thread.is_alive()
    with g.tt.budget_guard():
        assert g.tt._budgets._thread is None  # not restarted after shutdown


def test_fork_child_restarts_the_refresher(g: Guarded) -> None:
    with g.tt.budget_guard(refresh_s=60):
        parent_thread = g.tt._budgets._thread
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread did not survive the fork; first use starts one
        ok = g.tt._budgets._thread is None
        with g.tt.budget_guard():
            thread = g.tt._budgets._thread
            ok = ok and thread is not None and thread.is_alive() and thread is not parent_thread
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert parent_thread is not None and parent_thread.is_alive()


# --- what is fetched, from where ----------------------------------------------------------------------------


class StatusServer:
    """A loopback server answering GET /api/budgets/status with `reply` (status, body)."""

    def __init__(self) -> None:
        self.reply: tuple[int, bytes] = (200, b'{"budgets": []}')
        self.headers: list[dict[str, str]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.headers.append(dict(self.headers))
                status, body = owner.reply
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def status(
    scope: str, value: str, exceeded: bool, period_end: str = "2999-01-01T00:00:00Z"
) -> dict[str, Any]:
    return {
        "scope": scope,
        "value": value,
        "period": "month",
        "amount_usd": 10.0,
        "spent_usd": 12.0 if exceeded else 1.0,
        "exceeded": exceeded,
        "period_end": period_end,
    }


@pytest.fixture
def status_server() -> Iterator[StatusServer]:
    server = StatusServer()
    yield server
    server.close()


def test_sends_the_ingest_key_and_matches_every_scope(status_server: StatusServer) -> None:
    tt = Tokentrail(endpoint=status_server.url, ingest_key="sekret", send_to_collector=False)
    budgets = [status("tenant", "acme", False), status("team", "core", True), status("app", "bot", True)]
    status_server.reply = (200, json.dumps({"budgets": budgets}).encode())
    assert tt.refresh_budgets()
    assert status_server.headers[0]["Authorization"] == "Bearer sekret"
    guard = tt.budget_guard(on_exceeded="raise")
    policy = guard.policy
    with guard:
        with tt.labels(tenant="acme", team="core"):
            verdict = budget.check("m")
            assert verdict is not None and verdict.over.key == "team=core"
        with tt.labels(tenant="acme", app="other"):
            assert budget.check("m") is None
        with tt.labels(app="bot", team="core"):  # scopes are checked tenant, team, feature, app
            assert policy.check("m") == verdict
    tt.shutdown(timeout_s=2)


@pytest.mark.parametrize(
    "reply",
    [(500, b"{}"), (200, b"not json"), (200, b'{"budgets": [{"scope": "tenant", "exceeded": true}]}')],
)
def test_bad_replies_are_failures(status_server: StatusServer, reply: tuple[int, bytes]) -> None:
    tt = Tokentrail(endpoint=status_server.url, send_to_collector=False)
    status_server.reply = reply
    assert not tt.refresh_budgets()
    assert tt.sdk_stats()["budget_refresh_failures"] == 1
    assert tt._budgets.snapshot is budget.UNKNOWN


def test_a_period_that_ended_is_within_budget() -> None:
    ended = status("tenant", "acme", True, period_end="2000-01-01T00:00:00Z")
    snapshot = budget.parse(json.dumps({"budgets": [ended, status("team", "core", True)]}).encode())
    assert snapshot.find({"tenant": "acme"}) is None
    found = snapshot.find({"tenant": "acme", "team": "core"})
    assert found is not None and found.key == "team=core"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="on_exceeded"):
        tokentrail.budget_guard(on_exceeded="block")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="degrade_to"):
        tokentrail.budget_guard(on_exceeded="warn", degrade_to={"a": "b"})
    with pytest.raises(ValueError, match="refresh_s"):
        tokentrail.budget_guard(refresh_s=0)
    assert {"budget_refreshes", "budget_refresh_failures"} <= set(tokentrail.sdk_stats())


def test_with_model_keeps_the_callers_options() -> None:
    from tokentrail.sdk.stainless import _with_body

    options = openai._models.FinalRequestOptions.construct(
        method="post", url="/chat/completions", json_data={"model": "gpt-4o", "messages": []}
    )
    mini = {"model": "gpt-4o-mini"}
    args, kwargs = _with_body(options, ("cast",), {"stream": False, "options": options}, mini)
    assert args == ("cast",) and kwargs["options"].json_data["model"] == "gpt-4o-mini"
    positional, _ = _with_body(options, ("cast", options), {}, mini)
    assert positional[1].json_data == {"model": "gpt-4o-mini", "messages": []}
    assert options.json_data == {"model": "gpt-4o", "messages": []}
