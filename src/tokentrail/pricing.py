"""The cost of LLM calls: list prices from the ``genai-prices`` package, plus local overrides.

Load once with `load_prices` and call `price_call` for each `Call` on the ingest path.

**Usage semantics** (OTel GenAI): ``input_tokens`` is all input, cache reads and writes included;
``cache_read_tokens`` and ``cache_write_tokens`` are subsets of it; ``output_tokens`` includes
``reasoning_tokens``. Providers report usage differently; `normalize_usage` converts a provider's raw
usage to these fields, so the SDK and the importers share one set of rules.

**Cost fields** set by `price_call`, each in USD:

- ``input_cost_usd``: non-cached input (input minus cache reads and writes), plus any per-request fee;
- ``cache_cost_usd``: cache reads and cache writes, each at its own rate (the input rate when the model
  has no separate cache price);
- ``output_cost_usd``: output, reasoning included (at the reasoning rate where a model prices it apart);
- ``cost_usd``: exactly ``input_cost_usd + output_cost_usd + cache_cost_usd``;
- ``price_source``: ``genai-prices <version>``, ``override`` (an override rule changed the price) or
  ``unknown``.

Rules:

- A call is priced at its own ``start_time`` (else ``received_at``, else now), so a price change in the
  data applies only to calls made after it. Naive times are UTC.
- A model that cannot be priced gets ``price_source = 'unknown'`` and ``None`` costs, never a silent 0.
- A call with no usage (``input_tokens`` and ``output_tokens`` both None, e.g. a failed call or a tool
  span) gets ``None`` costs and ``price_source = None``: nothing to price, and no claim that the model is
  unknown. Reported zero tokens on a known model cost 0.0.
- Inconsistent counts never raise: non-cached input and non-reasoning output are floored at 0.
- Cache writes are priced at the 5-minute rate (the Call does not carry the TTL split).
- The service tier (``batch``, ``flex``, ``priority``...) is read from `SERVICE_TIER_ATTRIBUTES`; it
  selects genai-prices' tier prices where the data has them, and can be matched by override rules.
  ``default``, ``auto``, ``standard`` and ``on_demand`` mean the standard prices (no tier).

**Model resolution** (cached per provider/model/tier): the id as recorded is tried first, under the
genai-prices provider mapped from the call's ``provider`` (`GENAI_PROVIDERS`); genai-prices itself knows
Bedrock's regional (``us.``, ``eu.``, ``apac.``) and ``global.`` profile ids, which it prices differently.
Then, in order: the last part of an ARN, without a ``@version`` suffix, without ``:0`` and ``-v1``,
without a region prefix, without a date suffix (``-2024-08-06``, ``-20240620``), without ``-latest``;
for Bedrock ``vendor.model`` ids, the vendor's own provider (``anthropic.claude-v2:1`` -> Anthropic
``claude-v2``); last, any provider whose models match the id. `describe_model` shows what matched.

**Overrides** (discounts, explicit rates, aliases) are a TOML file; its format is documented in
`tokentrail.pricing_overrides`. An explicit ``[[model]]`` rate wins over genai-prices; a ``[[discount]]``
applies to list prices only.

Nothing here touches the network: prices come from the data bundled in the installed genai-prices
wheel, through a snapshot of our own, so its optional auto-updater (``UpdatePrices``), even if some
other library starts it, never changes our prices or makes the version label lie.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Final, NamedTuple

import genai_prices
from genai_prices.data_snapshot import DataSnapshot
from genai_prices.types import ModelInfo, ModelPrice, Provider, TieredPrices

from tokentrail.model import Call
from tokentrail.pricing_overrides import (
    DiscountRule,
    Overrides,
    Price,
    PricingConfigError,
    Rates,
    load_overrides,
)
from tokentrail.semconv import normalize_provider
from tokentrail.usage import USAGE_FIELDS, normalize_usage

__all__ = (
    "GENAI_PROVIDERS",
    "SERVICE_TIER_ATTRIBUTES",
    "USAGE_FIELDS",
    "ModelPricing",
    "Prices",
    "PricingConfigError",
    "RepriceReport",
    "call_tier",
    "describe_model",
    "load_prices",
    "normalize_usage",
    "price_call",
    "reprice",
)


# gen_ai.provider.name values -> genai-prices provider ids. Other names go through genai-prices' own
# provider matching (``groq``, ``mistral_ai``, ``together_ai``... match as they are).
GENAI_PROVIDERS: Final[Mapping[str, str]] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "x_ai": "x-ai",
}

# Span attributes that carry the service tier of a call, first found wins.
# TODO(lead): move to semconv.py with the SDK's spelling.
SERVICE_TIER_ATTRIBUTES: Final = (
    "tokentrail.service_tier",
    "gen_ai.openai.response.service_tier",
    "openai.response.service_tier",
    "gen_ai.openai.request.service_tier",
)

_STANDARD_TIERS: Final = frozenset({"default", "auto", "standard", "on_demand"})
_M: Final = Decimal(1_000_000)
_ONE: Final = Decimal(1)
_ZERO: Final = Decimal(0)


# --- prices -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Resolved:
    source: str  # the price_source value
    matched: str  # what priced it, for describe_model
    model: ModelInfo | None = None  # list prices, resolved per call time
    variants: bool = False  # the model has its provider's tier prices
    rates: Rates | None = None  # rates that never change with time: an override's or unconditional prices
    discount: DiscountRule | None = None
    rules: tuple[str, ...] = ()


class Prices:
    """genai-prices data plus overrides, with a cache of model resolutions. Build with `load_prices`."""

    def __init__(self, overrides: Overrides, snapshot: DataSnapshot, version: str) -> None:
        self.overrides = overrides
        self.version = version
        self.source = f"genai-prices {version}"
        self._snapshot = snapshot
        self.lookup = functools.lru_cache(maxsize=4096)(self._resolve)

    def _resolve(self, provider: str | None, model: str, tier: str | None) -> _Resolved | None:
        """How to price `model` of `provider` (our names) at `tier`; None when it cannot be priced."""
        rule = self.overrides.model_rule(provider, model, tier)
        if rule is not None and rule.rates is not None:
            return _Resolved("override", f"override {rule.name}", rates=rule.rates, rules=(rule.name,))
        ref = rule.price_as if rule is not None and rule.price_as else model
        found = self._find(provider, ref)
        if found is None:
            return None
        genai_provider, info = found
        discount = self.overrides.discount_rule(provider, model, tier)
        rules = tuple(r.name for r in (rule, discount) if r is not None)
        variants = any(info is m for m in genai_provider.models)
        return _Resolved(
            source="override" if rules else self.source,
            matched=f"{self.source} {genai_provider.id}:{info.id}",
            model=info,
            variants=variants,
            rates=_constant_rates(info, tier if variants else None),
            discount=discount,
            rules=rules,
        )

    def _find(self, provider: str | None, model: str) -> tuple[Provider, ModelInfo] | None:
        for genai_provider, ref in _candidates(self._genai_provider(provider), model):
            try:
                return self._snapshot.find_provider_model(ref, None, genai_provider, None)
            except LookupError:
                continue
        return None

    def _genai_provider(self, provider: str | None) -> str | None:
        if provider is None:
            return None
        provider = normalize_provider(provider) or provider
        if provider in GENAI_PROVIDERS:
            return GENAI_PROVIDERS[provider]
        try:
            return self._snapshot.find_provider(None, provider, None).id
        except LookupError:
            return None


def load_prices(path: Path | None = None) -> Prices:
    """genai-prices' bundled data plus the overrides file at `path` (none when None).

    Raises `PricingConfigError` for a missing or malformed overrides file.
    """
    from genai_prices.data import providers  # a large module: imported on first load, not at import

    overrides = load_overrides(path) if path is not None else Overrides()
    snapshot = DataSnapshot(providers=providers, from_auto_update=False)
    return Prices(overrides, snapshot, genai_prices.__version__)


# --- model id resolution ----------------------------------------------------------------------------

_REGION_PREFIX: Final = re.compile(r"^(?:us-gov|us|eu|apac|ap|global|jp|au|ca|in|sa|me|af)\.")
# Applied in order, each to the previous result: a Vertex "@version", a Bedrock ":0", "-v1", a region
# prefix, a date, "-latest".
_STRIPS: Final = tuple(
    re.compile(pattern)
    for pattern in (
        r"@.*$",
        r":\d+$",
        r"-v\d+$",
        _REGION_PREFIX.pattern,
        r"-(?:\d{4}-\d{2}-\d{2}|20\d{6})$",
        r"-latest$",
    )
)
_BEDROCK_VENDORS: Final = frozenset({"anthropic", "cohere", "deepseek", "mistral", "openai"})


def _candidates(genai_provider: str | None, model: str) -> list[tuple[str | None, str]]:
    """(genai-prices provider id, model ref) pairs to try, most faithful first."""
    forms = list(dict.fromkeys(_model_forms(model.strip().lower())))
    pairs = [(genai_provider, form) for form in forms]
    pairs += [pair for form in forms if (pair := _vendor_form(form)) is not None]
    pairs += [(None, form) for form in forms]
    return list(dict.fromkeys(pairs))


def _model_forms(model: str) -> Iterator[str]:
    """`model`, then ever more stripped forms of it."""
    yield model
    if model.startswith("arn:"):
        model = model.rsplit("/", 1)[-1]
        yield model
    for strip in _STRIPS:
        model = strip.sub("", model)
        yield model


def _vendor_form(form: str) -> tuple[str | None, str] | None:
    """A Bedrock ``vendor.model`` id as the vendor's own model (``anthropic.claude-v2`` -> ``claude-v2``)."""
    vendor, _, rest = _REGION_PREFIX.sub("", form).partition(".")
    return (vendor, rest) if vendor in _BEDROCK_VENDORS and rest else None


# --- cost arithmetic --------------------------------------------------------------------------------


def _list_rates(price: ModelPrice) -> Rates | None:
    """Token rates from genai-prices' price for one moment; None when it has no token prices."""
    values = vars(price)  # what genai-prices itself reads; getattr() on a missing key is slow
    get = values.get
    if get("input_mtok") is None and get("output_mtok") is None:
        return None
    request = get("requests_kcount")
    return Rates(
        input=get("input_mtok"),
        output=get("output_mtok"),
        cache_read=get("cache_read_mtok"),
        cache_write=get("cache_write_mtok"),
        reasoning=get("output_reasoning_mtok"),
        request=request if isinstance(request, Decimal) else None,
    )


def _constant_rates(info: ModelInfo, tier: str | None) -> Rates | None:
    """The model's rates when neither the time of the call nor `tier` changes them (priced once)."""
    if not isinstance(info.prices, ModelPrice) or (tier is not None and info.price_variants):
        return None
    return _list_rates(info.prices)


def _rates_for(resolved: _Resolved, at: dt.datetime, tier: str | None) -> Rates | None:
    if resolved.rates is not None:
        return resolved.rates
    assert resolved.model is not None
    context = _price_context(tier) if resolved.variants else None
    return _list_rates(resolved.model.get_prices(at, context))


def _price_context(tier: str | None) -> dict[str, str] | None:
    if tier is None:
        return None
    return {"processing": "batch"} if tier == "batch" else {"service_tier": tier}


def _per_million(price: Price | None, input_tokens: int) -> Decimal:
    """The rate for this call: tiered prices switch on the call's whole input (cliff pricing)."""
    if price is None:
        return _ZERO
    if isinstance(price, Decimal):
        return price
    for tier in reversed(price.tiers):
        if input_tokens > tier.start:
            return tier.price
    return price.base


class _Usage(NamedTuple):  # a tuple: built for every call priced, at a third of a frozen dataclass's cost
    input: int
    output: int
    cache_read: int
    cache_write: int
    reasoning: int

    @classmethod
    def of(cls, call: Call) -> _Usage | None:
        if call.input_tokens is None and call.output_tokens is None:
            return None
        return cls(
            max(call.input_tokens or 0, 0),
            max(call.output_tokens or 0, 0),
            max(call.cache_read_tokens or 0, 0),
            max(call.cache_write_tokens or 0, 0),
            max(call.reasoning_tokens or 0, 0),
        )


def _costs(rates: Rates, usage: _Usage, factor: Decimal) -> tuple[float, float, float]:
    """(input, output, cache) costs in USD."""
    base_in = _per_million(rates.input, usage.input)
    base_out = _per_million(rates.output, usage.input)
    read = base_in if rates.cache_read is None else _per_million(rates.cache_read, usage.input)
    write = base_in if rates.cache_write is None else _per_million(rates.cache_write, usage.input)
    uncached = max(usage.input - usage.cache_read - usage.cache_write, 0)
    input_usd = uncached * base_in / _M + (rates.request or _ZERO) / 1000
    cache_usd = (usage.cache_read * read + usage.cache_write * write) / _M
    if rates.reasoning is None:
        output_usd = usage.output * base_out / _M
    else:
        visible = max(usage.output - usage.reasoning, 0)
        output_usd = (visible * base_out + usage.reasoning * _per_million(rates.reasoning, usage.input)) / _M
    return float(input_usd * factor), float(output_usd * factor), float(cache_usd * factor)


def _factor(resolved: _Resolved) -> Decimal:
    return _ONE if resolved.discount is None else _ONE - resolved.discount.discount


# --- pricing a call ---------------------------------------------------------------------------------


def call_tier(call: Call) -> str | None:
    """The call's service tier from its attributes (lower case); None for the standard tier."""
    for key in SERVICE_TIER_ATTRIBUTES:
        value = call.attributes.get(key)
        if isinstance(value, str) and value:
            return None if value.lower() in _STANDARD_TIERS else value.lower()
    return None


def price_call(call: Call, prices: Prices) -> None:
    """Fill the cost fields and ``price_source`` of `call` in place (see the module docstring)."""
    usage = _Usage.of(call)
    if usage is None:
        _set(call, None, None)
        return
    tier = call_tier(call) if call.attributes else None
    found = _resolve_call(call, prices, tier)
    if found is None:
        _set(call, "unknown", None)
        return
    resolved, rates = found
    _set(call, resolved.source, _costs(rates, usage, _factor(resolved)))


def _resolve_call(call: Call, prices: Prices, tier: str | None) -> tuple[_Resolved, Rates] | None:
    """Try the response model, then the request model (e.g. an Azure deployment vs the model)."""
    at = call.start_time or call.received_at or dt.datetime.now(dt.UTC)
    for model in dict.fromkeys((call.response_model, call.request_model)):
        if not model:
            continue
        resolved = prices.lookup(call.provider, model, tier)
        rates = _rates_for(resolved, at, tier) if resolved is not None else None
        if resolved is not None and rates is not None:
            return resolved, rates
    return None


def _set(call: Call, source: str | None, costs: tuple[float, float, float] | None) -> None:
    call.price_source = source
    if costs is None:
        call.cost_usd = call.input_cost_usd = call.output_cost_usd = call.cache_cost_usd = None
        return
    call.input_cost_usd, call.output_cost_usd, call.cache_cost_usd = costs
    call.cost_usd = costs[0] + costs[1] + costs[2]


# --- helpers for the CLI (`tokentrail prices check`, `tokentrail reprice`) ----------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ModelPricing:
    """How a model is priced. Rates are effective USD per million tokens, discount applied."""

    provider: str | None
    model: str
    source: str  # the price_source a call gets: 'genai-prices X', 'override' or 'unknown'
    matched: str | None  # e.g. 'genai-prices 0.2.3 aws:regional.anthropic...' or 'override model[1]'
    rules: tuple[str, ...] = ()  # override rules applied, e.g. ('discount[1]',)
    discount: float = 0.0
    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None
    tiered: bool = False  # rates rise with prompt size; the base tier is shown


def describe_model(
    provider: str | None,
    model: str,
    prices: Prices,
    *,
    at: dt.datetime | None = None,
    tier: str | None = None,
) -> ModelPricing:
    """How `model` of `provider` is priced at `at` (default now) and `tier`. Pure: no store access."""
    resolved = prices.lookup(provider, model, tier)
    at = at or dt.datetime.now(dt.UTC)
    rates = _rates_for(resolved, at, tier) if resolved is not None else None
    if resolved is None or rates is None:
        return ModelPricing(provider, model, "unknown", resolved.matched if resolved else None)
    factor = _factor(resolved)

    def rate(price: Price | None, default: Price | None) -> float | None:
        chosen = default if price is None else price
        return None if chosen is None else float(_per_million(chosen, 0) * factor)

    return ModelPricing(
        provider,
        model,
        resolved.source,
        resolved.matched,
        resolved.rules,
        float(_ONE - factor),
        input=rate(rates.input, _ZERO),
        output=rate(rates.output, _ZERO),
        cache_read=rate(rates.cache_read, rates.input),
        cache_write=rate(rates.cache_write, rates.input),
        reasoning=rate(rates.reasoning, rates.output),
        tiered=any(isinstance(getattr(rates, f.name), TieredPrices) for f in dataclasses.fields(rates)),
    )


@dataclasses.dataclass(slots=True)
class RepriceReport:
    """What `reprice` did."""

    calls: int = 0
    changed: int = 0  # calls whose cost or price_source changed
    by_source: Counter[str | None] = dataclasses.field(default_factory=Counter)
    unknown_models: Counter[tuple[str | None, str | None]] = dataclasses.field(default_factory=Counter)


def reprice(calls: Iterable[Call], prices: Prices) -> RepriceReport:
    """Price `calls` again in place (e.g. after an overrides change). The caller writes them back."""
    report = RepriceReport()
    for call in calls:
        before = _cost_fields(call)
        price_call(call, prices)
        after = _cost_fields(call)
        report.calls += 1
        report.changed += before != after
        report.by_source[call.price_source] += 1
        if call.price_source == "unknown":
            report.unknown_models[(call.provider, call.model)] += 1
    return report


def _cost_fields(call: Call) -> tuple[float | str | None, ...]:
    return call.cost_usd, call.input_cost_usd, call.output_cost_usd, call.cache_cost_usd, call.price_source
