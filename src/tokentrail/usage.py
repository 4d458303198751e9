"""Provider usage objects → tokentrail's token fields, by each provider's own counting rules.

Our rule (OTel GenAI semantic conventions): ``input_tokens`` is all input, cache reads and writes included;
``output_tokens`` includes reasoning. OpenAI's ``prompt_tokens`` already includes ``cached_tokens``;
Anthropic's ``input_tokens`` excludes the cache, so its three counters are summed; Bedrock's
``inputTokens`` / ``inputTokenCount`` exclude cache reads and writes, which are added.

A module of its own, importing nothing heavy, so the SDK can use it without loading price data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from tokentrail.semconv import normalize_provider

USAGE_FIELDS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def normalize_usage(provider: str | None, raw: Mapping[str, Any]) -> dict[str, int | None]:
    """Convert a provider's raw usage object (as a dict) to our fields, see `USAGE_FIELDS`.

    - OpenAI (Chat Completions ``prompt_tokens``/``completion_tokens`` or Responses
      ``input_tokens``/``output_tokens``): input already includes ``cached_tokens``, output already
      includes ``reasoning_tokens``; both are copied.
    - Anthropic: ``input_tokens`` excludes the cache, so input = input + cache_read + cache_creation.
    - Bedrock (Converse ``inputTokens``, invocation-log ``inputTokenCount``, InvokeModel headers):
      input excludes cache reads and writes, so they are added. A Bedrock body in Anthropic's format
      (``input_tokens``) follows the Anthropic rule.
    - Anything else is read as already normalised (the field names of `USAGE_FIELDS`).

    Missing counts are None, never 0. Values that are not integers are ignored (None).
    """
    family = _usage_family(normalize_provider(provider), raw)
    return _NORMALIZERS[family](raw)


class Deferred(Mapping[str, int | None]):
    """`normalize_usage(provider, raw)`, computed when first read. A stream reports its usage in two or
    three events (an Anthropic stream's start and its delta; on Bedrock, then its metrics), each superseding
    the last; the SDK's worker reads only the last, so normalising each cost two or three times the work."""

    __slots__ = ("_provider", "_raw", "_value")

    def __init__(self, provider: str | None, raw: Mapping[str, Any]) -> None:
        self._provider = provider
        self._raw = raw
        self._value: dict[str, int | None] | None = None

    def _normalized(self) -> dict[str, int | None]:
        if self._value is None:
            self._value = normalize_usage(self._provider, self._raw)
        return self._value

    def __getitem__(self, key: str) -> int | None:
        return self._normalized()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._normalized())

    def __len__(self) -> int:
        return len(self._normalized())

    def get(self, key: str, default: Any = None) -> Any:
        return self._normalized().get(key, default)


def _usage_family(provider: str | None, raw: Mapping[str, Any]) -> str:
    if provider == "aws.bedrock":
        return "anthropic" if "input_tokens" in raw else "bedrock"
    if provider in ("anthropic", "gcp.vertex_ai") and "input_tokens" in raw:
        return "anthropic"
    if provider in ("openai", "azure.ai.openai") or "prompt_tokens" in raw:
        return "openai"
    if "cache_creation_input_tokens" in raw or "cache_read_input_tokens" in raw:
        return "anthropic"
    if any(key in raw for key in ("inputTokens", "inputTokenCount", "x-amzn-bedrock-input-token-count")):
        return "bedrock"
    return "otel"


def _openai_usage(raw: Mapping[str, Any]) -> dict[str, int | None]:
    details_in = _sub(raw, "prompt_tokens_details") or _sub(raw, "input_tokens_details")
    details_out = _sub(raw, "completion_tokens_details") or _sub(raw, "output_tokens_details")
    return _usage(
        input_tokens=_int(raw, "prompt_tokens", "input_tokens"),
        output_tokens=_int(raw, "completion_tokens", "output_tokens"),
        cache_read_tokens=_int(details_in, "cached_tokens"),
        cache_write_tokens=_int(details_in, "cache_write_tokens"),
        reasoning_tokens=_int(details_out, "reasoning_tokens"),
    )


def _anthropic_usage(raw: Mapping[str, Any]) -> dict[str, int | None]:
    read = _int(raw, "cache_read_input_tokens")
    write = _int(raw, "cache_creation_input_tokens")
    return _usage(
        input_tokens=_sum(_int(raw, "input_tokens"), read, write),
        output_tokens=_int(raw, "output_tokens"),
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=_int(_sub(raw, "output_tokens_details"), "thinking_tokens"),
    )


def _bedrock_usage(raw: Mapping[str, Any]) -> dict[str, int | None]:
    # An invocation-log record keeps the counts under "input" and "output"; flatten it.
    flat = {**raw, **_sub(raw, "input"), **_sub(raw, "output")} if "input" in raw or "output" in raw else raw
    h = "x-amzn-bedrock-"
    read = _int(flat, "cacheReadInputTokens", "cacheReadInputTokenCount", h + "cache-read-input-token-count")
    write = _int(
        flat, "cacheWriteInputTokens", "cacheWriteInputTokenCount", h + "cache-write-input-token-count"
    )
    return _usage(
        input_tokens=_sum(_int(flat, "inputTokens", "inputTokenCount", h + "input-token-count"), read, write),
        output_tokens=_int(flat, "outputTokens", "outputTokenCount", h + "output-token-count"),
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=None,
    )


def _otel_usage(raw: Mapping[str, Any]) -> dict[str, int | None]:
    return {field: _int(raw, field) for field in USAGE_FIELDS}


_NORMALIZERS: Final = {
    "openai": _openai_usage,
    "anthropic": _anthropic_usage,
    "bedrock": _bedrock_usage,
    "otel": _otel_usage,
}


def _usage(**fields: int | None) -> dict[str, int | None]:
    return {field: fields[field] for field in USAGE_FIELDS}


def _sub(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def _int(raw: Mapping[str, Any], *keys: str) -> int | None:
    """The first of `keys` present as an integer (headers may carry digit strings)."""
    for key in keys:
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _sum(*values: int | None) -> int | None:
    """The sum of the known values; None when the first (the base count) is unknown."""
    if values[0] is None:
        return None
    return sum(v for v in values if v is not None)
