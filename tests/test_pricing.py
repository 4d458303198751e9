"""Pricing: expected costs are computed here from genai-prices' own price data, part by part."""

from __future__ import annotations

import datetime as dt
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
import pytest
from genai_prices import data_snapshot
from genai_prices.data import providers as genai_providers
from genai_prices.types import ModelPrice, StartDateConstraint

from tokentrail import usage as usage_module
from tokentrail.model import Call
from tokentrail.pricing import (
    Prices,
    PricingConfigError,
    describe_model,
    load_prices,
    normalize_usage,
    price_call,
    reprice,
)

AT = dt.datetime(2025, 9, 1, 12, 0)  # naive UTC, as the store keeps it
M = Decimal(1_000_000)
SOURCE = f"genai-prices {genai_prices.__version__}"


@pytest.fixture(scope="module")
def prices() -> Prices:
    return load_prices()


def make_call(provider: str | None, model: str | None, at: dt.datetime = AT, **fields: Any) -> Call:
    return Call(
        trace_id="t" * 32, span_id="s" * 16, provider=provider, request_model=model, start_time=at, **fields
    )


def list_price(provider_id: str, model_id: str, at: dt.datetime = AT, **context: str) -> ModelPrice:
    """The package's own price entry for a model, read straight from its data."""
    provider = next(p for p in genai_providers if p.id == provider_id)
    model = next(m for m in provider.models if m.id == model_id)
    return model.get_prices(at, context or None)


def usd(tokens: int, per_million: Decimal) -> float:
    return float(tokens * per_million / M)


def assert_costs(call: Call, *, input: float, output: float, cache: float, source: str = SOURCE) -> None:
    assert call.price_source == source
    assert call.input_cost_usd == pytest.approx(input, rel=1e-12, abs=1e-15)
    assert call.output_cost_usd == pytest.approx(output, rel=1e-12, abs=1e-15)
    assert call.cache_cost_usd == pytest.approx(cache, rel=1e-12, abs=1e-15)
    assert call.cost_usd == call.input_cost_usd + call.output_cost_usd + call.cache_cost_usd


# --- list prices ------------------------------------------------------------------------------------


def test_openai_dated_name_with_cached_input(prices: Prices) -> None:
    p = list_price("openai", "gpt-4o")
    assert p.cache_read_mtok != p.input_mtok
    call = make_call(
        "openai", "gpt-4o-2024-08-06", input_tokens=10_000, cache_read_tokens=4_000, output_tokens=500
    )
    price_call(call, prices)
    assert_costs(
        call,
        input=usd(6_000, p.input_mtok),
        output=usd(500, p.output_mtok),
        cache=usd(4_000, p.cache_read_mtok),
    )


def test_response_model_is_preferred_over_request_model(prices: Prices) -> None:
    call = make_call(
        "openai", "gpt-4o", input_tokens=1_000, output_tokens=0, response_model="gpt-4o-2024-05-13"
    )
    price_call(call, prices)
    assert call.input_cost_usd == usd(1_000, list_price("openai", "gpt-4o-2024-05-13").input_mtok)


def test_reasoning_is_part_of_output_not_counted_twice(prices: Prices) -> None:
    p = list_price("openai", "o3")
    call = make_call(
        "openai", "o3-2025-04-16", input_tokens=2_000, output_tokens=3_000, reasoning_tokens=2_500
    )
    price_call(call, prices)
    assert_costs(call, input=usd(2_000, p.input_mtok), output=usd(3_000, p.output_mtok), cache=0.0)


def test_anthropic_cache_read_and_write_have_their_own_prices(prices: Prices) -> None:
    p = list_price("anthropic", "claude-3-5-sonnet")
    assert len({p.input_mtok, p.cache_read_mtok, p.cache_write_mtok}) == 3
    call = make_call(
        "anthropic",
        "claude-3-5-sonnet-latest",
        input_tokens=12_000,
        cache_read_tokens=8_000,
        cache_write_tokens=3_000,
        output_tokens=400,
    )
    price_call(call, prices)
    assert_costs(
        call,
        input=usd(1_000, p.input_mtok),
        output=usd(400, p.output_mtok),
        cache=usd(8_000, p.cache_read_mtok) + usd(3_000, p.cache_write_mtok),
    )


def test_anthropic_alias_without_date(prices: Prices) -> None:
    p = list_price("anthropic", "claude-sonnet-4-5")
    call = make_call("anthropic", "claude-sonnet-4-5", input_tokens=1_000, output_tokens=100)
    price_call(call, prices)
    assert_costs(call, input=usd(1_000, p.input_mtok.base), output=usd(100, p.output_mtok.base), cache=0.0)


def test_tiered_price_switches_on_whole_input(prices: Prices) -> None:
    p = list_price("anthropic", "claude-sonnet-4-5")
    tier = p.input_mtok.tiers[0]
    n = tier.start + 1_000
    call = make_call(
        "anthropic", "claude-sonnet-4-5-20250929", input_tokens=n, cache_read_tokens=1_000, output_tokens=10
    )
    price_call(call, prices)
    assert_costs(
        call,
        input=usd(n - 1_000, tier.price),
        output=usd(10, p.output_mtok.tiers[0].price),
        cache=usd(1_000, p.cache_read_mtok.tiers[0].price),
    )


@pytest.mark.parametrize("prefix", ["us.", "eu.", "apac.", ""])
def test_bedrock_claude_profile_ids(prices: Prices, prefix: str) -> None:
    p = list_price("aws", "regional.anthropic.claude-3-5-sonnet-20240620-v1:0")
    model = f"{prefix}anthropic.claude-3-5-sonnet-20240620-v1:0"
    call = make_call(
        "aws.bedrock",
        model,
        input_tokens=5_000,
        cache_read_tokens=2_000,
        cache_write_tokens=1_000,
        output_tokens=300,
    )
    price_call(call, prices)
    assert_costs(
        call,
        input=usd(2_000, p.input_mtok),
        output=usd(300, p.output_mtok),
        cache=usd(2_000, p.cache_read_mtok) + usd(1_000, p.cache_write_mtok),
    )


def test_bedrock_global_profile_has_its_own_price(prices: Prices) -> None:
    glob = list_price("aws", "global.anthropic.claude-sonnet-4-5-20250929-v1:0")
    regional = list_price("aws", "regional.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert glob.input_mtok != regional.input_mtok  # the data prices regional profiles higher
    for model, p in (
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", glob),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", regional),
    ):
        call = make_call("aws.bedrock", model, input_tokens=1_000, output_tokens=100)
        price_call(call, prices)
        assert_costs(call, input=usd(1_000, p.input_mtok), output=usd(100, p.output_mtok), cache=0.0)


def test_bedrock_inference_profile_arn(prices: Prices) -> None:
    p = list_price("aws", "regional.anthropic.claude-3-5-sonnet-20240620-v1:0")
    arn = (
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
        + "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
    )
    call = make_call("aws.bedrock", arn, input_tokens=1_000, output_tokens=100)
    price_call(call, prices)
    assert_costs(call, input=usd(1_000, p.input_mtok), output=usd(100, p.output_mtok), cache=0.0)


@pytest.mark.parametrize(
    ("model", "entry"),
    [
        ("amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0"),
        ("us.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
        ("meta.llama3-1-8b-instruct-v1:0", "meta.llama3-1-8b-instruct-v1:0"),
        ("us.meta.llama3-1-8b-instruct-v1:0", "meta.llama3-1-8b-instruct-v1:0"),
    ],
)
def test_bedrock_nova_and_llama(prices: Prices, model: str, entry: str) -> None:
    p = list_price("aws", entry)
    read = p.cache_read_mtok if p.cache_read_mtok is not None else p.input_mtok
    call = make_call("aws.bedrock", model, input_tokens=4_000, cache_read_tokens=1_000, output_tokens=700)
    price_call(call, prices)
    assert_costs(call, input=usd(3_000, p.input_mtok), output=usd(700, p.output_mtok), cache=usd(1_000, read))


def test_bedrock_vendor_model_falls_back_to_vendor_price(prices: Prices) -> None:
    p = list_price("anthropic", "claude-2")
    call = make_call("aws.bedrock", "anthropic.claude-v2:1", input_tokens=1_000, output_tokens=100)
    price_call(call, prices)
    assert_costs(call, input=usd(1_000, p.input_mtok), output=usd(100, p.output_mtok), cache=0.0)
    assert (
        describe_model("aws.bedrock", "anthropic.claude-v2:1", prices).matched
        == f"{SOURCE} anthropic:claude-2"
    )


def test_historic_price_change_uses_call_start_time(prices: Prices) -> None:
    o3 = next(m for m in next(p for p in genai_providers if p.id == "openai").models if m.id == "o3")
    assert isinstance(o3.prices, list)
    change = o3.prices[1]
    assert isinstance(change.constraint, StartDateConstraint)
    day = dt.datetime.combine(change.constraint.start_date, dt.time())
    before, after = o3.prices[0].prices, change.prices
    assert before.input_mtok != after.input_mtok
    for at, p in ((day - dt.timedelta(seconds=1), before), (day, after)):
        call = make_call("openai", "o3", at=at, input_tokens=1_000, output_tokens=100)
        price_call(call, prices)
        assert_costs(call, input=usd(1_000, p.input_mtok), output=usd(100, p.output_mtok), cache=0.0)


def test_service_tier_selects_batch_prices(prices: Prices) -> None:
    at = dt.datetime(2026, 11, 1)
    standard, batch = (
        list_price("openai", "gpt-4o", at),
        list_price("openai", "gpt-4o", at, processing="batch"),
    )
    assert batch.input_mtok != standard.input_mtok
    call = make_call(
        "openai",
        "gpt-4o",
        at,
        input_tokens=1_000,
        output_tokens=100,
        attributes={"tokentrail.service_tier": "batch"},
    )
    price_call(call, prices)
    assert_costs(call, input=usd(1_000, batch.input_mtok), output=usd(100, batch.output_mtok), cache=0.0)
    call.attributes = {"gen_ai.openai.response.service_tier": "default"}
    price_call(call, prices)
    assert call.input_cost_usd == usd(1_000, standard.input_mtok)


# --- unknown, empty, consistency ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "my-own-model"),
        ("aws.bedrock", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"),
        (None, None),
    ],
)
def test_unknown_model_is_unknown_never_zero(prices: Prices, provider: str | None, model: str | None) -> None:
    call = make_call(provider, model, input_tokens=1_000, output_tokens=100, cost_usd=1.0)
    price_call(call, prices)
    assert call.price_source == "unknown"
    assert (call.cost_usd, call.input_cost_usd, call.output_cost_usd, call.cache_cost_usd) == (None,) * 4
    assert describe_model(provider, model or "", prices).source == "unknown"


def test_no_usage_gets_no_cost_and_no_source(prices: Prices) -> None:
    call = make_call("openai", "gpt-4o", status="error")
    price_call(call, prices)
    assert call.price_source is None and call.cost_usd is None


def test_zero_tokens_on_known_model_cost_zero(prices: Prices) -> None:
    call = make_call("openai", "gpt-4o", input_tokens=0, output_tokens=0)
    price_call(call, prices)
    assert (call.price_source, call.cost_usd) == (SOURCE, 0.0)


def test_inconsistent_counts_do_not_raise_or_go_negative(prices: Prices) -> None:
    call = make_call(
        "anthropic", "claude-3-5-sonnet", input_tokens=100, cache_read_tokens=1_000, output_tokens=5
    )
    price_call(call, prices)
    assert call.input_cost_usd == 0.0 and call.cache_cost_usd is not None and call.cache_cost_usd > 0


@pytest.mark.parametrize("provider_id", ["openai", "anthropic", "aws"])
def test_total_matches_genai_prices_and_parts_sum(prices: Prices, provider_id: str) -> None:
    """Every token-priced model of the three providers: our total equals calc_price's, parts sum exactly."""
    ours = {"openai": "openai", "anthropic": "anthropic", "aws": "aws.bedrock"}[provider_id]
    usage = {
        "input_tokens": 300_000,
        "cache_read_tokens": 50_000,
        "cache_write_tokens": 20_000,
        "output_tokens": 9_000,
    }
    checked = 0
    for model in next(p for p in genai_providers if p.id == provider_id).models:
        p = model.get_prices(AT)
        if p.input_mtok is None or p.output_mtok is None or not model.is_match(model.id):
            continue
        expected = genai_prices.calc_price(
            genai_prices.Usage(**usage), model.id, provider_id=provider_id, genai_request_timestamp=AT
        )
        call = make_call(ours, model.id, **usage)
        price_call(call, prices)
        assert call.cost_usd == call.input_cost_usd + call.output_cost_usd + call.cache_cost_usd, model.id
        assert call.cost_usd == pytest.approx(float(expected.total_price), rel=1e-9), model.id
        checked += 1
    assert checked > 20


def test_lookups_are_cached(prices: Prices) -> None:
    call = make_call("openai", "gpt-4o-mini-2024-07-18", input_tokens=1, output_tokens=1)
    price_call(call, prices)
    hits = prices.lookup.cache_info().hits
    price_call(call, prices)
    assert prices.lookup.cache_info().hits == hits + 1


def test_no_network_and_immune_to_auto_update(prices: Prices, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("pricing touched the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(
        data_snapshot, "_custom_snapshot", data_snapshot.DataSnapshot([], from_auto_update=True)
    )
    fresh = load_prices()
    call = make_call("openai", "gpt-4o", input_tokens=1_000, output_tokens=10)
    price_call(call, fresh)
    assert call.price_source == SOURCE and call.cost_usd is not None and call.cost_usd > 0


# --- overrides ----------------------------------------------------------------------------------------

OVERRIDES = """
[[model]]
provider = "openai"
model = "ft:gpt-4o-mini-2024-07-18:acme:*"
input = 0.5
output = 2
cache_read = 0.25

[[model]]
provider = "aws.bedrock"
model = "arn:aws:bedrock:*:application-inference-profile/a1b2c3"
price_as = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"

[[discount]]
provider = "aws.bedrock"
model = "*claude*"
discount = 0.2

[[discount]]
tier = "batch"
discount = 0.5
"""


@pytest.fixture(scope="module")
def overridden(tmp_path_factory: pytest.TempPathFactory) -> Prices:
    path = tmp_path_factory.mktemp("prices") / "overrides.toml"
    path.write_text(OVERRIDES)
    return load_prices(path)


def test_discount_applies_to_matching_list_prices(overridden: Prices) -> None:
    p = list_price("aws", "regional.anthropic.claude-3-5-sonnet-20240620-v1:0")
    call = make_call(
        "aws.bedrock",
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        input_tokens=5_000,
        cache_read_tokens=2_000,
        output_tokens=300,
    )
    price_call(call, overridden)
    f = 0.8
    assert_costs(
        call,
        input=f * usd(3_000, p.input_mtok),
        output=f * usd(300, p.output_mtok),
        cache=f * usd(2_000, p.cache_read_mtok),
        source="override",
    )
    nova = make_call("aws.bedrock", "amazon.nova-lite-v1:0", input_tokens=1_000, output_tokens=1)
    price_call(nova, overridden)
    assert nova.price_source == SOURCE


def test_custom_model_explicit_prices(overridden: Prices) -> None:
    call = make_call(
        "openai",
        "ft:gpt-4o-mini-2024-07-18:acme:support:abc123",
        input_tokens=10_000,
        cache_read_tokens=4_000,
        cache_write_tokens=1_000,
        output_tokens=2_000,
    )
    price_call(call, overridden)
    # cache_write is not given: it is priced like input
    assert_costs(call, input=0.0025, output=0.004, cache=0.001 + 0.0005, source="override")
    info = describe_model("openai", call.request_model or "", overridden)
    assert (info.source, info.matched, info.input, info.cache_read, info.cache_write) == (
        "override",
        "override model[1]",
        0.5,
        0.25,
        0.5,
    )


def test_price_as_alias_for_opaque_profile(overridden: Prices) -> None:
    p = list_price("aws", "regional.anthropic.claude-3-5-sonnet-20240620-v1:0")
    arn = "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/a1b2c3"
    call = make_call("aws.bedrock", arn, input_tokens=1_000, output_tokens=100)
    price_call(call, overridden)
    # the alias does not match the "*claude*" discount (that matches the recorded id), so list price
    assert_costs(
        call, input=usd(1_000, p.input_mtok), output=usd(100, p.output_mtok), cache=0.0, source="override"
    )
    assert describe_model("aws.bedrock", arn, overridden).rules == ("model[2]",)


def test_tier_discount(overridden: Prices) -> None:
    p = list_price("aws", "amazon.nova-pro-v1:0")
    call = make_call(
        "aws.bedrock",
        "amazon.nova-pro-v1:0",
        input_tokens=1_000,
        output_tokens=100,
        attributes={"tokentrail.service_tier": "batch"},
    )
    price_call(call, overridden)
    assert_costs(
        call,
        input=0.5 * usd(1_000, p.input_mtok),
        output=0.5 * usd(100, p.output_mtok),
        cache=0.0,
        source="override",
    )


def test_describe_model_list_price_and_discount(prices: Prices, overridden: Prices) -> None:
    p = list_price("aws", "regional.anthropic.claude-3-5-sonnet-20240620-v1:0")
    model = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
    plain = describe_model("aws.bedrock", model, prices, at=AT)
    assert plain.source == SOURCE
    assert plain.matched == f"{SOURCE} aws:regional.anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert (plain.input, plain.output, plain.cache_read, plain.cache_write, plain.reasoning) == tuple(
        float(x) for x in (p.input_mtok, p.output_mtok, p.cache_read_mtok, p.cache_write_mtok, p.output_mtok)
    )
    discounted = describe_model("aws.bedrock", model, overridden, at=AT)
    assert discounted.discount == pytest.approx(0.2)
    assert discounted.input == pytest.approx(0.8 * float(p.input_mtok))
    assert discounted.rules == ("discount[1]",)


def test_reprice_reports_changes(prices: Prices, overridden: Prices) -> None:
    calls = [
        make_call(
            "aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", input_tokens=100, output_tokens=10
        ),
        make_call("openai", "gpt-4o", input_tokens=100, output_tokens=10),
        make_call("openai", "mystery", input_tokens=100, output_tokens=10),
    ]
    for call in calls:
        price_call(call, prices)
    report = reprice(calls, overridden)
    assert (report.calls, report.changed) == (3, 1)
    assert report.by_source == {"override": 1, SOURCE: 1, "unknown": 1}
    assert report.unknown_models == {("openai", "mystery"): 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[model]\nmodel = 'x'", "not valid TOML"),
        ("[[price]]\nmodel = 'x'", "unknown table 'price'"),
        ("model = 'x'", "model: must be an array of tables"),
        ("[[model]]\ninput = 1\noutput = 2", "model[1]: 'model' is required"),
        ("[[model]]\nmodel = 'x'\ninput = 1", "model[1]: 'output' is required"),
        (
            "[[model]]\nmodel = 'x'\ninput = -1\noutput = 2",
            "model[1].input: must be a non-negative number, got -1",
        ),
        (
            "[[model]]\nmodel = 'x'\ninput = 'cheap'\noutput = 2",
            "model[1].input: must be a non-negative number",
        ),
        ("[[model]]\nmodel = 'x'\ninput = 1\noutput = 2\ncache = 1", "model[1]: unknown key 'cache'"),
        ("[[model]]\nmodel = 'x'\nprice_as = 'gpt-4o'\ninput = 1", "either 'price_as' or prices"),
        ("[[model]]\nmodel = ''\ninput = 1\noutput = 1", "model[1].model: must be a non-empty string"),
        ("[[discount]]\nmodel = 'x'", "discount[1]: 'discount' is required"),
        (
            "[[discount]]\nmodel = 'x'\ndiscount = 1.5",
            "discount[1].discount: must be between 0 and 1, got 1.5",
        ),
        ("[[discount]]\ndiscount = true", "discount[1].discount: must be a non-negative number, got True"),
    ],
)
def test_bad_override_file_names_file_rule_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "overrides.toml"
    path.write_text(text)
    with pytest.raises(PricingConfigError) as excinfo:
        load_prices(path)
    assert str(excinfo.value).startswith(f"{path}: ")
    assert message in str(excinfo.value)


def test_missing_override_file(tmp_path: Path) -> None:
    with pytest.raises(PricingConfigError, match="cannot read overrides file"):
        load_prices(tmp_path / "nope.toml")


# --- usage normalisation ------------------------------------------------------------------------------


def usage(
    i: int | None, o: int | None, r: int | None, w: int | None, reason: int | None
) -> dict[str, int | None]:
    keys = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
    return dict(zip(keys, (i, o, r, w, reason), strict=True))


NORMALIZE_CASES: dict[str, tuple[str | None, dict[str, Any], dict[str, int | None]]] = {
    "openai-chat-input-includes-cache": (
        "openai",
        {
            "prompt_tokens": 1_000,
            "completion_tokens": 300,
            "prompt_tokens_details": {"cached_tokens": 600},
            "completion_tokens_details": {"reasoning_tokens": 200},
        },
        usage(1_000, 300, 600, None, 200),
    ),
    "openai-responses": (
        "openai",
        {
            "input_tokens": 1_000,
            "output_tokens": 300,
            "input_tokens_details": {"cached_tokens": 600, "cache_write_tokens": 100},
            "output_tokens_details": {"reasoning_tokens": 200},
        },
        usage(1_000, 300, 600, 100, 200),
    ),
    "anthropic-input-excludes-cache": (
        "anthropic",
        {
            "input_tokens": 50,
            "output_tokens": 400,
            "cache_read_input_tokens": 8_000,
            "cache_creation_input_tokens": 2_000,
        },
        usage(10_050, 400, 8_000, 2_000, None),
    ),
    "bedrock-converse-input-excludes-cache": (
        "aws.bedrock",
        {"inputTokens": 100, "outputTokens": 20, "cacheReadInputTokens": 900, "cacheWriteInputTokens": 50},
        usage(1_050, 20, 900, 50, None),
    ),
    "bedrock-invocation-log": (
        "aws.bedrock",
        {
            "input": {"inputTokenCount": 100, "cacheReadInputTokenCount": 900},
            "output": {"outputTokenCount": 20},
        },
        usage(1_000, 20, 900, None, None),
    ),
    "bedrock-headers-old-provider-name": (
        "bedrock",
        {"x-amzn-bedrock-input-token-count": "100", "x-amzn-bedrock-output-token-count": "20"},
        usage(100, 20, None, None, None),
    ),
    "bedrock-anthropic-body": (
        "aws.bedrock",
        {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 90},
        usage(100, 5, 90, None, None),
    ),
    "already-normalised": (
        None,
        {"input_tokens": 10, "output_tokens": 5, "cache_read_tokens": 4},
        usage(10, 5, 4, None, None),
    ),
    "missing-stays-none": ("anthropic", {"output_tokens": 5}, usage(None, 5, None, None, None)),
}


@pytest.mark.parametrize(
    ("provider", "raw", "expected"), NORMALIZE_CASES.values(), ids=NORMALIZE_CASES.keys()
)
def test_normalize_usage(provider: str | None, raw: dict[str, Any], expected: dict[str, int | None]) -> None:
    assert normalize_usage(provider, raw) == expected


@pytest.mark.parametrize(
    ("provider", "raw", "expected"), NORMALIZE_CASES.values(), ids=NORMALIZE_CASES.keys()
)
def test_deferred_usage_reads_as_normalised(
    provider: str | None, raw: dict[str, Any], expected: dict[str, int | None]
) -> None:
    deferred = usage_module.Deferred(provider, raw)
    assert dict(deferred) == expected and bool(deferred) == bool(expected)
    assert [deferred.get(field) for field in expected] == list(expected.values())
    assert deferred.get("no such field", -1) == -1


def test_deferred_usage_is_normalised_once_and_only_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    normalize = usage_module.normalize_usage

    def counted(provider: str | None, raw: dict[str, Any]) -> dict[str, int | None]:
        calls.append(dict(raw))
        return normalize(provider, raw)

    monkeypatch.setattr(usage_module, "normalize_usage", counted)
    raw: dict[str, Any] = {"input_tokens": 10, "output_tokens": 1}
    superseded = usage_module.Deferred("anthropic", raw)  # a stream's start, superseded by its delta
    raw["output_tokens"] = 120
    last = usage_module.Deferred("anthropic", raw)
    assert calls == []
    assert last.get("output_tokens") == 120 and last["input_tokens"] == 10 and len(last) == 5
    assert calls == [{"input_tokens": 10, "output_tokens": 120}]
    assert superseded is not last and len(calls) == 1  # the superseded one was never normalised
