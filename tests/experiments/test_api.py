"""The experiments API on both stores: the documented JSON shape, known effects found, bad input refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest

from tokentrail.server.app import create_app
from tokentrail.store import Store

from .gen import experiment_calls

VARIANT_KEYS = {"variant", "n", "estimate", "ci_low", "ci_high"}
COMPARISON_KEYS = {"variant", "control", "diff_rel", "ci_low", "ci_high", "p_value", "significant"}
TOP_KEYS = {
    "experiment",
    "metric",
    "stat",
    "unit",
    "mode",
    "control",
    "variants",
    "comparisons",
    "srm",
    "mde_rel",
}


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    store.write(experiment_calls("slower-b", 3000, seed=1))
    store.write(experiment_calls("a-a", 2000, slower=1.0, error_rates=(0.02, 0.02), seed=2))
    store.write(experiment_calls("skewed", 2000, share_b=0.45, slower=1.0, seed=3, variants=("A", "B")))
    store.write(experiment_calls("chat-baseline", 100, share_b=0.0, seed=4))  # one arm: the demo's baselines
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def get(api: httpx.AsyncClient, url: str, **params: str) -> dict:
    r = await api.get(url, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_answer_has_the_documented_shape(api: httpx.AsyncClient) -> None:
    body = await get(
        api, "/api/experiments/slower-b", metric="latency_ms", stat="median", unit="call", mode="fixed"
    )
    assert set(body) == TOP_KEYS
    assert (
        body["experiment"],
        body["metric"],
        body["stat"],
        body["unit"],
        body["mode"],
        body["control"],
    ) == (
        "slower-b",
        "latency_ms",
        "median",
        "call",
        "fixed",
        "control",
    )
    assert [set(v) for v in body["variants"]] == [VARIANT_KEYS, VARIANT_KEYS]
    assert [set(c) for c in body["comparisons"]] == [COMPARISON_KEYS]
    assert set(body["srm"]) == {"p_value", "mismatch"}
    assert sum(v["n"] for v in body["variants"]) == 3000
    assert body["mde_rel"] > 0


async def test_estimates_equal_the_stored_calls(api: httpx.AsyncClient) -> None:
    calls = experiment_calls("slower-b", 3000, seed=1)
    body = await get(api, "/api/experiments/slower-b", metric="latency_ms", stat="p95")
    for row in body["variants"]:
        mine = [c.duration_ms for c in calls if c.variant == row["variant"]]
        assert row["n"] == len(mine)
        assert row["estimate"] == pytest.approx(np.quantile(mine, 0.95))
        assert row["ci_low"] < row["estimate"] < row["ci_high"]
    cost = await get(api, "/api/experiments/slower-b", metric="cost_usd")
    assert cost["stat"] == "mean"
    control = [c.cost_usd for c in calls if c.variant == "control"]
    assert cost["variants"][0]["estimate"] == pytest.approx(np.mean(control))


@pytest.mark.parametrize("mode", ["sequential", "fixed"])
async def test_a_real_slowdown_is_flagged_and_covered(api: httpx.AsyncClient, mode: str) -> None:
    body = await get(api, "/api/experiments/slower-b", metric="latency_ms", stat="median", mode=mode)
    (comparison,) = body["comparisons"]
    assert comparison["significant"] and comparison["p_value"] < 0.05
    assert comparison["ci_low"] <= 0.15 <= comparison["ci_high"]
    assert comparison["ci_low"] > 0
    by_user = await get(api, "/api/experiments/slower-b", metric="ttft_ms", unit="user_id", mode=mode)
    assert (
        by_user["unit"] == "user_id"
        and by_user["comparisons"][0]["ci_low"] <= 0.15 <= by_user["comparisons"][0]["ci_high"]
    )


AA_METRICS = [
    ("latency_ms", "median"),
    ("latency_ms", "p95"),
    ("output_tokens_per_s", "median"),
    ("cost_usd", "mean"),
    ("cost_usd", "per_success"),
    ("error_rate", "rate"),
    ("degraded_rate", "rate"),
]


async def test_an_aa_experiment_flags_nothing(api: httpx.AsyncClient) -> None:
    for metric, stat in AA_METRICS:
        body = await get(api, "/api/experiments/a-a", metric=metric, stat=stat)
        assert not body["comparisons"][0]["significant"], (metric, stat)
        assert body["srm"]["mismatch"] is False


async def test_a_55_45_delivery_of_a_50_50_split_is_a_mismatch(api: httpx.AsyncClient) -> None:
    body = await get(api, "/api/experiments/skewed")
    assert body["control"] == "A"
    assert body["srm"]["mismatch"] is True and body["srm"]["p_value"] < 0.001
    planned = await get(api, "/api/experiments/skewed", split="A=55,B=45")
    assert planned["srm"]["mismatch"] is False


async def test_error_rates_by_class_and_power_guidance(api: httpx.AsyncClient) -> None:
    body = await get(
        api, "/api/experiments/slower-b", metric="error_rate", error_class="throttled", effect="0.1"
    )
    assert body["error_class"] == "throttled" and body["stat"] == "rate"
    assert body["calls_needed"] > 0 and body["mde_rel"] > 0.1  # 3000 calls cannot see 10 % of a 2 % rate
    calls = experiment_calls("slower-b", 3000, seed=1)
    control = [c for c in calls if c.variant == "control"]
    assert body["variants"][0]["estimate"] == pytest.approx(
        sum(c.status == "error" for c in control) / len(control)
    )


async def test_the_list(api: httpx.AsyncClient) -> None:
    body = await get(api, "/api/experiments")
    names = [e["experiment"] for e in body["experiments"]]
    assert names == ["a-a", "chat-baseline", "skewed", "slower-b"]
    slower = body["experiments"][3]
    assert slower["calls"] == 3000 and {v["variant"] for v in slower["variants"]} == {"control", "B"}


BAD = [
    ({"metric": "latency"}, "metric must be one of"),
    ({"metric": "error_rate", "stat": "median"}, "error_rate takes stat rate"),
    ({"mode": "eventually"}, "mode must be"),
    ({"unit": "session"}, "unit must be one of"),
    ({"control": "Z"}, "control 'Z' is not a variant"),
    ({"split": "A=1"}, "split must give a weight to each variant"),
    ({"split": "A:1,B:1"}, "split is VARIANT=WEIGHT"),
    ({"effect": "big"}, "effect must be a number"),
    ({"metirc": "latency_ms"}, "unknown parameter 'metirc'"),
    ({"error_class": "throttled"}, "error_class goes with metric error_rate"),
    ({"since": "soon"}, "bad duration"),
]


async def test_bad_parameters_get_a_400(api: httpx.AsyncClient) -> None:
    for params, words in BAD:
        r = await api.get("/api/experiments/skewed", params=params)
        assert r.status_code == 400, params
        assert words in r.json()["error"]


async def test_an_unknown_experiment_is_a_404(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/experiments/nope")
    assert r.status_code == 404 and "nope" in r.json()["error"]
    r = await api.get("/api/experiments/slower-b", params={"start": "2020-01-01", "end": "2020-02-01"})
    assert r.status_code == 404 and "in this range" in r.json()["error"]


async def test_timeline_per_variant(api: httpx.AsyncClient) -> None:
    body = await get(api, "/api/experiments/slower-b/timeline", metric="latency_ms", stat="median")
    assert set(body["series"]) == {"control", "B"}
    assert len(body["t"]) == 14 and all(len(s) == 14 for s in body["series"].values())
    assert body["t"][0] == "2026-11-01T00:00:00Z"


async def test_a_single_arm_experiment_has_estimates_and_no_comparison(api: httpx.AsyncClient) -> None:
    body = await get(api, "/api/experiments/chat-baseline", effect="0.05")
    assert [v["variant"] for v in body["variants"]] == ["control"] and body["variants"][0]["n"] == 100
    assert body["comparisons"] == [] and body["mde_rel"] is None and body["calls_needed"] is None
    assert body["srm"] == {"p_value": None, "mismatch": False}
    page = await api.get("/experiments/chat-baseline")
    assert page.status_code == 200 and 'data-variant="control"' in page.text
    assert "Too little data for power guidance" in page.text


async def test_experiment_pages_answer_bad_input_with_error_pages(api: httpx.AsyncClient) -> None:
    assert (await api.get("/experiments/nope")).status_code == 404
    bad = await api.get("/experiments/slower-b", params={"unit": "session"})
    assert bad.status_code == 400 and "unit must be one of" in bad.text
    switched = await api.get("/experiments/slower-b", params={"metric": "error_rate", "stat": "p95"})
    assert switched.status_code == 200 and '<option value="rate" selected>' in switched.text
    listing = await api.get("/experiments")
    assert listing.status_code == 200 and 'href="/experiments/slower-b"' in listing.text
