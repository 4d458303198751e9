"""Deterministic text: prompt token counting, generated words, tool arguments and embeddings.

Token counting is the simulator's own rule, not a real tokenizer: the prompt's text is every string
value found in the request's prompt fields (messages, system, tools, input, prompt), skipping the
structural keys in `STRUCTURAL_KEYS`; input tokens = ceil(characters / chars_per_token), at least 1.
Generated text is one word per token from a small built-in list.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

STRUCTURAL_KEYS = frozenset({"role", "type", "id", "toolUseId", "tool_use_id", "cache_control", "cachePoint"})
CACHE_MARKERS = frozenset({"cache_control", "cachePoint"})

WORDS = tuple(
    """the latency of every request tells a story about queues tokens and caches while the model streams
    its answer one piece at a time so we measure first token time gaps between chunks and the total cost
    of input output and cached tokens for each feature tenant and team that calls it when a provider
    throttles or stalls the client retries and the trace shows where time went""".split()  # noqa: SIM905
)


def strings_in(value: Any) -> Iterator[str]:
    """Every string value inside a JSON value, skipping structural keys."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in STRUCTURAL_KEYS:
                yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


def prompt_text(*values: Any) -> str:
    """The prompt's text: its string values, one per line."""
    return "\n".join(strings_in(values))


def has_cache_marker(value: Any) -> bool:
    """True when the request marks a cache breakpoint (Anthropic cache_control, Bedrock cachePoint)."""
    if isinstance(value, Mapping):
        return any(key in CACHE_MARKERS or has_cache_marker(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(has_cache_marker(item) for item in value)
    return False


def count_tokens(text: str, chars_per_token: float = 4.0) -> int:
    return max(1, math.ceil(len(text) / max(chars_per_token, 0.1)))


def words(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(count)]


def split_tokens(total: int, per_chunk: int) -> list[int]:
    """Token counts per chunk: `per_chunk` each, the last one possibly smaller."""
    per_chunk = max(1, per_chunk)
    return [min(per_chunk, total - start) for start in range(0, total, per_chunk)]


def text_pieces(rng: random.Random, sizes: Sequence[int]) -> list[str]:
    """One text piece per chunk; piece i holds sizes[i] words, space-separated across pieces."""
    pieces: list[str] = []
    for size in sizes:
        chunk = " ".join(words(rng, size))
        pieces.append(chunk if not pieces else " " + chunk)
    return pieces


def split_text(text: str, parts: int) -> list[str]:
    """Split `text` into `parts` contiguous, non-empty pieces (fewer if the text is shorter)."""
    parts = max(1, min(parts, len(text)))
    bounds = [round(i * len(text) / parts) for i in range(parts + 1)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(parts)]


def tool_arguments(rng: random.Random, schema: Any) -> dict[str, Any]:
    """Arguments that fit a JSON schema's top-level properties (all of them, required or not)."""
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    if not isinstance(properties, Mapping) or not properties:
        return {"query": " ".join(words(rng, 3))}
    return {name: _value_for(rng, spec) for name, spec in properties.items()}


def _value_for(rng: random.Random, spec: Any) -> Any:
    kind = spec.get("type") if isinstance(spec, Mapping) else None
    if isinstance(spec, Mapping) and isinstance(spec.get("enum"), list) and spec["enum"]:
        return rng.choice(spec["enum"])
    if kind == "integer":
        return rng.randint(1, 100)
    if kind == "number":
        return round(rng.uniform(0, 100), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        return [_value_for(rng, spec.get("items", {}))]
    if kind == "object":
        return tool_arguments(rng, spec)
    return " ".join(words(rng, 2))


def embedding(text: str, dimensions: int, seed: int) -> list[float]:
    """A unit vector determined by the text and the seed."""
    rng = random.Random(f"{seed}:{text}")
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 6) for v in vector]


def float32_bytes(vector: Sequence[float]) -> bytes:
    """Little-endian float32, the layout of OpenAI's base64 embeddings."""
    return struct.pack(f"<{len(vector)}f", *vector)
