"""The content-free copy of an imported log record, stored in ``source_record`` so that ``@message`` and
JSON paths into the record answer what the user's own log said.

Only the request and response bodies (``input.inputBodyJson``, ``output.outputBodyJson``) hold prompt and
response content; the rest of a record (ids, identity, region, metadata, token counts, error code) is kept
as it is. Inside a body:

- numbers, booleans and nulls are kept (usage, metrics, indexes, settings such as ``maxTokens``);
- strings are kept only under keys that name ids and kinds, never text: `KEPT_TEXT_KEYS` (``id``,
  ``toolUseId``, ``name``, ``type``, ``role``, ``model``, stop reasons, ...);
- whole subtrees under `DROPPED_KEYS` go (tool-call arguments, tool schemas, embeddings, raw bytes), since
  even their numbers are content;
- a container left empty by the removal goes too, and runs of equal objects in a list (the stream's delta
  chunks, once their text is gone) are kept once.
"""

from __future__ import annotations

from typing import Any, Final

KEPT_TEXT_KEYS: Final = frozenset(
    {
        "id",
        "toolUseId",
        "tool_use_id",
        "name",
        "type",
        "role",
        "model",
        "stopReason",
        "stop_reason",
        "completionReason",
        "finish_reason",
        "anthropic_version",
        "status",
        "latency",
        "format",
        "guardrailIdentifier",
        "guardrailVersion",
    }
)
DROPPED_KEYS: Final = frozenset(
    {
        "input",
        "arguments",
        "inputSchema",
        "input_schema",
        "parameters",
        "json",
        "embedding",
        "embeddings",
        "embeddingsByType",
        "bytes",
        "partial_json",
    }
)
_BODIES: Final = (("input", "inputBodyJson"), ("output", "outputBodyJson"))
_GONE: Final = object()


def content_free(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` whose bodies hold no prompt or response content (``record`` is not changed)."""
    copy = dict(record)
    for section, body in _BODIES:
        part = copy.get(section)
        if isinstance(part, dict) and body in part:
            part = copy[section] = dict(part)
            kept = _scrub(part[body], body)
            if kept is _GONE:
                del part[body]
            else:
                part[body] = kept
    return copy


def _scrub(value: Any, key: str) -> Any:
    """``value`` (found under ``key``) without content, or `_GONE` when nothing of it may stay."""
    if isinstance(value, dict):
        return _scrub_dict(value)
    if isinstance(value, list):
        return _scrub_list(value, key)
    if isinstance(value, str):
        return value if key in KEPT_TEXT_KEYS else _GONE
    return value


def _scrub_dict(value: dict[str, Any]) -> Any:
    kept = {}
    for key, item in value.items():
        if key not in DROPPED_KEYS:
            scrubbed = _scrub(item, key)
            if scrubbed is not _GONE:
                kept[key] = scrubbed
    return kept if kept or not value else _GONE


def _scrub_list(value: list[Any], key: str) -> Any:
    kept: list[Any] = []
    for item in value:
        scrubbed = _scrub(item, key)
        repeated = isinstance(scrubbed, dict) and bool(kept) and kept[-1] == scrubbed
        if scrubbed is not _GONE and not repeated:
            kept.append(scrubbed)
    return kept if kept or not value else _GONE
