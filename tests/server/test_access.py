"""Access control: named keys and scopes on every route, dashboard sessions with CSRF, tenant-scoped reads
over every route of the OpenAPI schema and the dashboard, tenant stamping at ingest, the Host check."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from support import make_request, make_span
from tokentrail import budgets, keys
from tokentrail.alerts import engine
from tokentrail.alerts.rules import RuleSet, rule_from_mapping
from tokentrail.model import Call, Sample, StreamTimeline
from tokentrail.prompts.content import Content
from tokentrail.prompts.registry import Actor, Registry
from tokentrail.server.app import create_app
from tokentrail.server.auth import SESSION_COOKIE, declared
from tokentrail.settings import Settings
from tokentrail.store import QueryFailed, Store
from tokentrail.store.duckdb import DuckDBStore
from tokentrail.store.scope import TenantStore

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
TENANTS = ("acme-t1", "globex-t2", "initech-t3")
PUBLIC_PATHS = {"/healthz", "/login", "/logout", "/static/{name}"}


def sample_of(tenant: str) -> Sample:
    """A sampled call whose redacted content names its tenant, so a leak through samples shows."""
    messages = [{"role": "user", "parts": [{"type": "text", "content": f"question from {tenant}"}]}]
    return Sample("rate", 20, 0, {"version": 1, "provider": "openai", "messages": messages}, {})


def tenant_calls() -> list[Call]:
    """Per tenant: LLM calls in its own feature and trace, a tool span; one trace shared by all tenants."""
    out = []
    for t, tenant in enumerate(TENANTS):
        for i in range(4):
            out.append(
                Call(
                    trace_id=f"{t + 1:032x}",
                    span_id=f"{t * 10 + i + 1:016x}",
                    kind="llm" if i < 3 else "tool",
                    name=f"op-{tenant}",
                    start_time=NOW - dt.timedelta(minutes=5 + i),
                    duration_ms=100.0,
                    tenant=tenant,
                    team="core",
                    feature=f"feat-{tenant}",
                    provider="openai",
                    request_model="gpt-4o",
                    input_tokens=10,
                    output_tokens=5,
                    cost_usd=0.5,
                    status="ok",
                    experiment="prompt-test",
                    variant="ab"[i % 2],
                    stream_timeline=StreamTimeline([0, 1], [10.0 + t, 20.0]) if i == 0 else None,
                    sample=sample_of(tenant) if i == 0 else None,
                )
            )
        out.append(
            Call(
                trace_id=f"{99:032x}",
                span_id=f"{90 + t:016x}",
                kind="llm",
                name=f"op-{tenant}",
                start_time=NOW - dt.timedelta(minutes=2),
                tenant=tenant,
                feature=f"feat-{tenant}",
            )
        )
    return out


@pytest.fixture
async def world(store: Store) -> AsyncIterator[dict[str, Any]]:
    store.write(tenant_calls())
    for tenant in TENANTS:
        budgets.set_budget(store, budgets.Budget("tenant", tenant, "month", 100.0))
    budgets.set_budget(store, budgets.Budget("team", "core", "month", 100.0))
    tokens = {t: keys.create_key(store, f"reader-{t}", ["read"], [t])[1] for t in TENANTS[:2]}
    tokens["admin"] = keys.create_key(store, "ops", ["admin"])[1]
    rule = rule_from_mapping(
        {"name": "prompt-test", "metric": "calls", "window": "1h", "condition": "> 0", "by": ["tenant"]}
    )
    engine.save_rule(store, RuleSet(), rule, NOW)  # its backtest reads spans as the caller
    Registry(store).create("prompt-test", Content(template="Triage: {ticket}"), "", Actor("ops", True))
    app = create_app(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        yield {"app": app, "client": client, "tokens": tokens}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def routes(app: Any) -> list[Any]:
    return [ctx for ctx in iter_route_contexts(app.routes) if getattr(ctx, "dependant", None) is not None]


def fill(path: str, own: int) -> str:
    """A path with plausible ids: the key's own trace and span; the experiment and prompt every world has."""
    path = path.replace("{name}", "prompt-test").replace("{n}", "1").replace("{stage}", "prod")
    return path.replace("{trace_id}", f"{own:032x}").replace("{span_id}", f"{(own - 1) * 10 + 1:016x}")


EXTRA = {
    "/api/summary": {"by": "tenant,feature"},
    "/api/chargeback": {"period": NOW.strftime("%Y-%m"), "by": "tenant"},
    "/api/breakdowns": {"dims": "tenant,feature,model"},
    "/api/spenders": {"by": "tenant"},
    "/api/why": {"feature": "feat-{own}"},
    "/api/compare": {"by": "model"},
    "/spenders": {"by": "tenant"},
    "/why": {"feature": "feat-{own}"},
}


def leaked(text: str, own: str) -> list[str]:
    return [t for t in TENANTS if t != own and t in text]


async def test_every_route_declares_a_scope(world: dict[str, Any]) -> None:
    found = {ctx.path: declared(ctx) for ctx in routes(world["app"])}
    assert all(req is not None for req in found.values()), found
    open_routes = {path for path, req in found.items() if req is not None and not req.scopes}
    assert open_routes == PUBLIC_PATHS


async def test_every_route_refuses_a_request_without_a_key(world: dict[str, Any]) -> None:
    client = world["client"]
    for ctx in routes(world["app"]):
        if ctx.path in PUBLIC_PATHS:
            continue
        for method in ctx.methods:
            r = await client.request(method, fill(ctx.path, 1), follow_redirects=False)
            assert r.status_code == 401, (method, ctx.path, r.status_code)
            as_browser = await client.request(method, fill(ctx.path, 1), headers={"accept": "text/html"})
            if method == "GET" and not ctx.path.startswith(("/api/", "/v1/")):
                r = as_browser
                assert r.status_code == 303 and r.headers["location"].startswith("/login"), ctx.path
            else:
                assert r.status_code == 401, (method, ctx.path, r.status_code)


@pytest.mark.parametrize("own_index", [0, 1])
async def test_tenant_keys_see_only_their_rows_on_every_get_route(
    world: dict[str, Any], own_index: int
) -> None:
    own, client = TENANTS[own_index], world["client"]
    headers = bearer(world["tokens"][own])
    seen_own = 0
    for ctx in routes(world["app"]):
        if "GET" not in ctx.methods or ctx.path in PUBLIC_PATHS:
            continue
        params = {"since": "7d", **{k: v.format(own=own) for k, v in EXTRA.get(ctx.path, {}).items()}}
        r = await client.get(fill(ctx.path, own_index + 1), params=params, headers=headers)
        if ctx.path in ("/api/keys", "/metrics"):  # admin only; totals over every tenant
            assert r.status_code == 403
            continue
        assert r.status_code == 200, (ctx.path, r.status_code, r.text[:300])
        assert not leaked(r.text, own), (ctx.path, leaked(r.text, own))
        seen_own += own in r.text
    assert seen_own >= 10  # the walk read real rows, not empty pages


async def test_tenant_keys_cannot_reach_other_tenants_by_id_filter_or_query(world: dict[str, Any]) -> None:
    client, headers = world["client"], bearer(world["tokens"]["acme-t1"])
    assert (await client.get(f"/api/traces/{2:032x}", headers=headers)).status_code == 404
    assert (await client.get(f"/api/calls/{2:032x}/{11:016x}", headers=headers)).status_code == 404
    shared = (await client.get(f"/api/traces/{99:032x}", headers=headers)).json()["spans"]
    assert [s["tenant"] for s in shared] == ["acme-t1"]
    other = await client.get("/api/calls", params={"since": "7d", "tenant": "globex-t2"}, headers=headers)
    assert other.json()["total"] == 0
    for text in (
        "stats count(*) by tenant",
        "fields tenant, feature | limit 1000",
        "filter tenant != 'acme-t1'",
    ):
        r = await client.post("/api/query", json={"query": text, "since": "7d"}, headers=headers)
        assert r.status_code == 200 and not leaked(r.text, "acme-t1"), (text, r.text)
    status = (await client.get("/api/budgets/status", headers=headers)).json()["budgets"]
    assert [(b["scope"], b["value"]) for b in status] == [("tenant", "acme-t1")]


async def test_unscoped_keys_see_every_tenant(world: dict[str, Any]) -> None:
    r = await world["client"].get(
        "/api/summary", params={"since": "7d", "by": "tenant"}, headers=bearer(world["tokens"]["admin"])
    )
    assert sorted(row["tenant"] for row in r.json()["rows"]) == sorted(TENANTS)


@pytest.mark.parametrize("by", ["", "tenant", "feature"])
async def test_a_tenant_keys_long_views_count_its_calls_of_earlier_hours(
    world: dict[str, Any], store: Store, by: str
) -> None:
    """Calls of earlier whole hours come from the rollups, of which a tenant-bound key sees the per-dimension
    rows of its tenants only: its totals merge those and its other views read the rollups per combination.
    Each tenant: four LLM calls now and four three hours ago (three of each timed), rolled up."""
    earlier = [
        dataclasses.replace(c, span_id=f"{500 + i:016x}", start_time=c.start_time - dt.timedelta(hours=3))
        for i, c in enumerate(tenant_calls())
    ]
    store.write(earlier)
    if isinstance(store, DuckDBStore):
        store.roll_up_held()
    params = {"since": "7d", **({"by": by} if by else {})}
    r = await world["client"].get("/api/summary", params=params, headers=bearer(world["tokens"]["acme-t1"]))
    (row,) = r.json()["rows"]
    exact = by == "feature"  # from the calls, or a sketch: either counts the values (six calls timed)
    assert (row["calls"], row["percentile_calls"]) == (8, 6), row
    assert row["percentiles_from"] == ("exact" if exact else "sketch")


async def test_a_route_added_without_a_scope_needs_admin(world: dict[str, Any]) -> None:
    app, client, tokens = world["app"], world["client"], world["tokens"]

    @app.get("/api/experiments-like")
    async def later() -> dict[str, Any]:
        return {"rows": app.state.store.query("SELECT count(*) AS n FROM calls").dicts()}

    assert (await client.get("/api/experiments-like")).status_code == 401
    assert (await client.get("/api/experiments-like", headers=bearer(tokens["acme-t1"]))).status_code == 403
    r = await client.get("/api/experiments-like", headers=bearer(tokens["admin"]))
    assert r.status_code == 200 and r.json()["rows"] == [{"n": 12}]


async def test_keys_api_creates_lists_and_revokes(world: dict[str, Any], store: Store) -> None:
    client, admin = world["client"], bearer(world["tokens"]["admin"])
    body = {"name": "ci", "scopes": ["ingest"], "tenants": ["acme-t1"]}
    assert (
        await client.post("/api/keys", json=body, headers=bearer(world["tokens"]["acme-t1"]))
    ).status_code == 403
    made = await client.post("/api/keys", json=body, headers=admin)
    assert made.status_code == 201 and made.json()["key"].startswith("tt_")
    token = made.json()["key"]
    assert (await client.post("/api/keys", json=body, headers=admin)).status_code == 400  # name taken
    bad = await client.post("/api/keys", json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert bad.status_code == 400 and "root" in bad.json()["error"]
    listed = (await client.get("/api/keys", headers=admin)).json()["keys"]
    assert {k["name"] for k in listed} == {"ci", "ops", "reader-acme-t1", "reader-globex-t2"}
    assert token.split("_", 2)[2] not in str(listed) and "digest" not in str(listed)
    stored = store.query("SELECT * FROM auth_keys").rows  # only the HMAC is kept
    assert not any(token.split("_", 2)[2] in str(row) for row in stored)
    assert (await client.get("/api/calls", headers=bearer(token))).status_code == 403  # ingest only
    assert (await client.delete("/api/keys/ci", headers=admin)).json() == {"revoked": "ci"}
    assert (await client.delete("/api/keys/ci", headers=admin)).status_code == 404
    assert (await client.post("/v1/traces", content=b"", headers=bearer(token))).status_code == 401


def test_keys_cli_prints_the_key_once_and_lists_no_secrets(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from tokentrail.cli import app as cli

    db, runner = str(tmp_path / "k.duckdb"), CliRunner()
    made = runner.invoke(
        cli, ["keys", "create", "acme-read", "--scopes", "read", "--tenant", "acme", "--db", db]
    )
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    assert re.fullmatch(r"tt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", token)
    listed = runner.invoke(cli, ["keys", "list", "--db", db])
    assert "acme-read" in listed.output and token.split("_", 2)[2] not in listed.output
    bad = runner.invoke(cli, ["keys", "create", "x", "--scopes", "reed", "--db", db])
    assert bad.exit_code != 0 and "reed" in bad.output
    assert runner.invoke(cli, ["keys", "revoke", "acme-read", "--db", db]).exit_code == 0
    gone = runner.invoke(cli, ["keys", "revoke", "acme-read", "--db", db])
    assert gone.exit_code != 0 and "no key named" in gone.output


async def test_legacy_ingest_key_is_ingest_only_and_closes_reads(store: Store) -> None:
    app = create_app(store, Settings(ingest_key="s3cret"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/api/calls")).status_code == 401
        assert (await client.get("/api/calls", headers=bearer("s3cret"))).status_code == 403
        assert (await client.get("/api/budgets/status", headers=bearer("s3cret"))).status_code == 200
        assert (await client.get("/", headers={"accept": "text/html"})).status_code == 303


async def test_no_key_configured_leaves_everything_open(store: Store) -> None:
    app = create_app(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/api/calls")).status_code == 200
        assert (await client.get("/api/keys")).json() == {"keys": []}


async def test_dashboard_login_session_and_csrf(world: dict[str, Any]) -> None:
    client, tokens = world["client"], world["tokens"]
    assert (await client.get("/calls", headers={"accept": "text/html"})).headers[
        "location"
    ] == "/login?next=/calls"
    wrong = await client.post("/login", data={"key": "tt_0000000000000000_" + "x" * 43, "next": "/calls"})
    assert wrong.status_code == 401 and SESSION_COOKIE not in wrong.cookies
    ok = await client.post("/login", data={"key": tokens["acme-t1"], "next": "//evil.example/x"})
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie
    page = await client.get("/calls", params={"since": "7d"})
    assert page.status_code == 200 and "acme-t1" in page.text and "globex-t2" not in page.text
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]{32})"', page.text)
    assert csrf is not None
    query = {"query": "stats count(*) by tenant", "since": "7d"}
    assert (await client.post("/api/query", json=query)).status_code == 403  # a session POST needs the token
    sent = await client.post("/api/query", json=query, headers={"x-csrf-token": csrf.group(1)})
    assert sent.status_code == 200 and sent.json()["rows"] == [["acme-t1", 4]]
    assert (await client.post("/logout", data={"csrf": "nope"})).status_code == 403
    out = await client.post("/logout", data={"csrf": csrf.group(1)})
    assert out.status_code == 303 and SESSION_COOKIE not in client.cookies
    assert (await client.get("/api/calls")).status_code == 401


async def test_revoking_a_key_ends_its_sessions_and_ingest_keys_cannot_sign_in(
    world: dict[str, Any], store: Store
) -> None:
    client, tokens = world["client"], world["tokens"]
    _, ingest = keys.create_key(store, "sdk", ["ingest"])
    world["app"].state.keyring.invalidate()
    assert (await client.post("/login", data={"key": ingest})).status_code == 401
    assert (await client.post("/login", data={"key": tokens["globex-t2"]})).status_code == 303
    assert (await client.get("/api/calls")).status_code == 200
    await client.delete("/api/keys/reader-globex-t2", headers=bearer(tokens["admin"]))
    assert (await client.get("/api/calls")).status_code == 401


async def test_tenant_bound_ingest_key_stamps_and_rejects(world: dict[str, Any], store: Store) -> None:
    client = world["client"]
    _, token = keys.create_key(store, "acme-sdk", ["ingest"], ["acme-t1"])
    world["app"].state.keyring.invalidate()
    llm = {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"}
    spans = [
        make_span(llm, trace=500, span=1),
        make_span({**llm, "tokentrail.tenant": "acme-t1"}, trace=500, span=2),
        make_span({**llm, "tokentrail.tenant": "globex-t2"}, trace=500, span=3),
    ]
    body = make_request(spans).SerializeToString()
    r = await client.post(
        "/v1/traces", content=body, headers={**bearer(token), "content-type": "application/x-protobuf"}
    )
    assert r.status_code == 200
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 1 and "acme-t1" in answer.partial_success.error_message
    rows = store.query(
        f"SELECT span_id, tenant FROM spans WHERE trace_id = '{500:032x}' ORDER BY span_id"
    ).rows
    assert rows == [(f"{1:016x}", "acme-t1"), (f"{2:016x}", "acme-t1")]


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:4318", 200),
        ("localhost:4318", 200),
        ("[::1]:4318", 200),
        ("evil.example:4318", 421),
        ("127.0.0.1:9999", 421),
        ("proxy.internal", 200),
    ],
)
async def test_host_check_on_loopback_binds(store: Store, host: str, status: int) -> None:
    app = create_app(store, Settings(port=4318, allowed_hosts="proxy.internal"), check_host=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.get("/healthz", headers={"host": host})
    assert r.status_code == status


def test_tenant_store_scopes_every_table(store: Store) -> None:
    store.write(tenant_calls())
    budgets.set_budget(store, budgets.Budget("team", "core", "month", 1.0))
    budgets.set_budget(store, budgets.Budget("tenant", "acme-t1", "month", 1.0))
    acme = TenantStore(store, ["acme-t1"])
    timelines = acme.query("SELECT trace_id, span_id FROM stream_timelines").rows
    assert timelines == [(f"{1:032x}", f"{1:016x}")]  # of three stored, one per tenant
    assert {r[0] for r in acme.query("SELECT DISTINCT tenant FROM spans").rows} == {"acme-t1"}
    assert acme.query("SELECT scope, value FROM budgets").rows == [("tenant", "acme-t1")]
    assert acme.query("SELECT count(*) FROM metric_points").rows == [(0,)]
    for sql in ("SELECT * FROM schema_migrations", "SELECT * FROM main.spans x, auth_keys"):
        with pytest.raises(QueryFailed):
            acme.query(sql)
