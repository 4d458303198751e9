"""Price overrides: negotiated discounts, explicit rates and aliases, read from a TOML file.

The file holds two arrays of tables. Within each array the first matching rule wins, so put the most
specific rules first. Patterns are shell globs (``*``, ``?``, ``[...]``), matched case-insensitively
against the call's ``provider`` (a ``gen_ai.provider.name`` value such as ``openai``, ``anthropic``,
``aws.bedrock``) and against the model id exactly as recorded on the call (``us.anthropic.claude-...``,
an ARN, a deployment name). Prices are USD per million tokens.

```toml
# Explicit prices, checked before genai-prices: custom and fine-tuned models, provisioned throughput
# expressed per token, or a negotiated rate card for a known model. Discounts do not apply to these.
[[model]]
provider = "openai"                       # optional glob
model = "ft:gpt-4o-mini-2024-07-18:acme:*" # required glob
input = 0.30                              # required: non-cached input
output = 1.20                             # required: output (reasoning included)
cache_read = 0.15                         # optional, defaults to input
cache_write = 0.375                       # optional, defaults to input
reasoning = 1.20                          # optional, defaults to output
tier = "batch"                            # optional: only calls with this service tier

# Price an opaque id (a Bedrock application inference profile, an Azure deployment) as a known model.
# The list price of that model is used, so discounts apply.
[[model]]
provider = "aws.bedrock"
model = "arn:aws:bedrock:*:application-inference-profile/a1b2c3"
price_as = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"

# A negotiated discount: a fraction off the genai-prices list price (0 <= discount <= 1).
[[discount]]
provider = "aws.bedrock"                  # optional glob
model = "*claude*"                        # optional glob
tier = "batch"                            # optional
discount = 0.2
```

A call's service tier comes from its attributes (see ``pricing.SERVICE_TIER_ATTRIBUTES``), e.g.
``batch``, ``flex`` or ``priority``. A rule without ``tier`` matches every tier.

Errors: every problem raises `PricingConfigError` (a `ValueError`) naming the file, the rule
(``model[2]`` is the second ``[[model]]`` table) and the key, e.g.
``overrides.toml: model[2].input: must be a non-negative number, got 'cheap'``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from genai_prices.types import TieredPrices

from tokentrail.exceptions import InputError

__all__ = (
    "DiscountRule",
    "ModelRule",
    "Overrides",
    "Price",
    "PricingConfigError",
    "Rates",
    "load_overrides",
    "parse_overrides",
)

_MATCH_KEYS = frozenset({"provider", "model", "tier"})
_RATE_KEYS = ("input", "output", "cache_read", "cache_write", "reasoning")
_MODEL_KEYS = _MATCH_KEYS | {"price_as", *_RATE_KEYS}
_DISCOUNT_KEYS = _MATCH_KEYS | {"discount"}


class PricingConfigError(InputError):
    """The overrides file is missing, not TOML, or not in the documented format."""


Price = Decimal | TieredPrices  # tiered prices come only from genai-prices' data


@dataclasses.dataclass(frozen=True, slots=True)
class Rates:
    """USD per million tokens, per thousand requests for `request`.

    ``None`` prices like the parent: cache reads and writes like input, reasoning like output.
    """

    input: Price | None
    output: Price | None
    cache_read: Price | None = None
    cache_write: Price | None = None
    reasoning: Price | None = None
    request: Decimal | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Pattern:
    provider: re.Pattern[str] | None
    model: re.Pattern[str] | None
    tier: str | None

    def matches(self, provider: str | None, model: str, tier: str | None) -> bool:
        if self.tier is not None and self.tier != tier:
            return False
        if self.provider is not None and not self.provider.match((provider or "").lower()):
            return False
        return self.model is None or bool(self.model.match(model.lower()))


@dataclasses.dataclass(frozen=True, slots=True)
class ModelRule:
    """A ``[[model]]`` table: explicit `rates`, or `price_as` another model id."""

    name: str  # "model[1]", for messages and describe_model
    pattern: _Pattern
    rates: Rates | None
    price_as: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class DiscountRule:
    """A ``[[discount]]`` table."""

    name: str  # "discount[1]"
    pattern: _Pattern
    discount: Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class Overrides:
    """The parsed overrides file (empty when there is none)."""

    origin: str = ""
    models: tuple[ModelRule, ...] = ()
    discounts: tuple[DiscountRule, ...] = ()

    def model_rule(self, provider: str | None, model: str, tier: str | None) -> ModelRule | None:
        return next((r for r in self.models if r.pattern.matches(provider, model, tier)), None)

    def discount_rule(self, provider: str | None, model: str, tier: str | None) -> DiscountRule | None:
        return next((r for r in self.discounts if r.pattern.matches(provider, model, tier)), None)


def load_overrides(path: Path) -> Overrides:
    """Read and validate an overrides file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PricingConfigError(f"{path}: cannot read overrides file: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PricingConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_overrides(data, str(path))


def parse_overrides(data: Mapping[str, Any], origin: str = "<overrides>") -> Overrides:
    """Validate already-decoded TOML (a mapping) into `Overrides`."""
    unknown = sorted(set(data) - {"model", "discount"})
    if unknown:
        raise PricingConfigError(
            f"{origin}: unknown table {unknown[0]!r}; expected [[model]] or [[discount]]"
        )
    models = tuple(_model_rule(t, f"model[{i}]", origin) for i, t in _tables(data, "model", origin))
    discounts = tuple(
        _discount_rule(t, f"discount[{i}]", origin) for i, t in _tables(data, "discount", origin)
    )
    return Overrides(origin=origin, models=models, discounts=discounts)


def _tables(data: Mapping[str, Any], key: str, origin: str) -> list[tuple[int, Mapping[str, Any]]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise PricingConfigError(f"{origin}: {key}: must be an array of tables, written [[{key}]]")
    return list(enumerate(value, start=1))


def _model_rule(table: Mapping[str, Any], name: str, origin: str) -> ModelRule:
    where = f"{origin}: {name}"
    _check_keys(table, _MODEL_KEYS, where)
    if "model" not in table:
        raise PricingConfigError(f"{where}: 'model' is required (a glob on the model id)")
    price_as = _optional_str(table, "price_as", where)
    has_rates = any(k in table for k in _RATE_KEYS)
    if price_as is not None and has_rates:
        raise PricingConfigError(f"{where}: give either 'price_as' or prices ('input', 'output'), not both")
    rates = None if price_as is not None else _rates(table, where)
    return ModelRule(name, _pattern(table, where), rates, price_as)


def _rates(table: Mapping[str, Any], where: str) -> Rates:
    return Rates(
        input=_required_price(table, "input", where),
        output=_required_price(table, "output", where),
        cache_read=_optional_price(table, "cache_read", where),
        cache_write=_optional_price(table, "cache_write", where),
        reasoning=_optional_price(table, "reasoning", where),
    )


def _discount_rule(table: Mapping[str, Any], name: str, origin: str) -> DiscountRule:
    where = f"{origin}: {name}"
    _check_keys(table, _DISCOUNT_KEYS, where)
    if "discount" not in table:
        raise PricingConfigError(f"{where}: 'discount' is required (a fraction off the list price, e.g. 0.2)")
    discount = _optional_price(table, "discount", where)
    if discount is None or discount > 1:
        raise PricingConfigError(f"{where}.discount: must be between 0 and 1, got {table['discount']!r}")
    return DiscountRule(name, _pattern(table, where), discount)


def _check_keys(table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PricingConfigError(
            f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}"
        )


def _pattern(table: Mapping[str, Any], where: str) -> _Pattern:
    provider = _optional_str(table, "provider", where)
    model = _optional_str(table, "model", where)
    tier = _optional_str(table, "tier", where)
    return _Pattern(_glob(provider), _glob(model), tier.lower() if tier else None)


def _glob(pattern: str | None) -> re.Pattern[str] | None:
    return None if pattern is None else re.compile(fnmatch.translate(pattern.lower()))


def _optional_str(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PricingConfigError(f"{where}.{key}: must be a non-empty string, got {value!r}")
    return value.strip()


def _required_price(table: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = _optional_price(table, key, where)
    if value is None:
        raise PricingConfigError(f"{where}: '{key}' is required (USD per million tokens)")
    return value


def _optional_price(table: Mapping[str, Any], key: str, where: str) -> Decimal | None:
    value = table.get(key)
    if value is None:
        return None
    ok = (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    )
    if not ok:
        raise PricingConfigError(f"{where}.{key}: must be a non-negative number, got {value!r}")
    return Decimal(str(value))
