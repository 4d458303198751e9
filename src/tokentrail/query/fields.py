"""Field names a query may use on tokentrail data, besides the native columns of `model.COLUMNS`.

Bedrock model-invocation-log field names work on any tokentrail data, whatever its source, so queries
written for CloudWatch Logs Insights run unchanged:

- ``@timestamp``, ``timestamp``: ``start_time``; compared with a number it reads epoch milliseconds.
- ``@ingestionTime``: ``received_at``.
- ``@message``: for an imported log record, the record as it was logged minus prompt and response content
  (the ``source_record`` column), so ``parse @message "assumed-role/*/*@" as Role, Caller`` reads the log's
  own text; for other rows, a JSON object text of the row's main fields (`MESSAGE_FIELDS`), values as text.
- A path into the invocation log record under one of `RECORD_ROOTS` that no name here maps
  (``output.outputBodyJson.usage.inputTokens``, ``inferenceRegion``, ``input.inputContentType``,
  ``identity.type``, ...): that path in ``source_record``, an integer when the leaf names a count
  (`COUNT_LEAF`), a double when it names a time (`TIME_LEAF`), else text (an object or array as its JSON
  text); null for rows without the record.
- ``requestMetadata.<key>``: the label column when ``key`` names a label (`METADATA_LABELS`), else
  ``metadata[key]``.
- ``input.inputTokenCount``: ``input_tokens - cache_read_tokens - cache_write_tokens``, since Bedrock's
  count leaves the cache out and ours includes it; null cache counts count as 0, a null ``input_tokens``
  stays null.
- ``output.outputTokenCount``: ``output_tokens``.
- ``input.cacheReadInputTokenCount``, ``input.cacheWriteInputTokenCount``: ``cache_read_tokens``,
  ``cache_write_tokens``.
- ``modelId``: the record's ``modelId`` as logged (an ARN stays an ARN), else
  ``coalesce(request_model, response_model)``, the model asked for.
- ``model``: ``coalesce(response_model, request_model)``, the model that answered.
- ``requestId``: ``response_id``.
- ``region``, ``identity.arn``, ``accountId``: ``attributes`` keys ``aws.region``, ``aws.identity.arn``,
  ``aws.account.id``.
- ``errorCode``: ``attributes`` key ``error.type``, the provider's own error code (``ThrottlingException``).
- ``output.outputBodyJson.metrics.latencyMs``, ``latency``, ``latency_ms``: ``duration_ms``.
- ``metadata.<key>``, ``attributes.<key>``: that key of the ``metadata`` or ``attributes`` JSON column.

Importers and normalisers: write ``aws.region``, ``aws.identity.arn``, ``aws.account.id`` and ``error.type``
into ``attributes`` (see `ATTRIBUTE_KEYS`), so these names find them.

A ``requestMetadata.<key>`` for a label compiles to ``coalesce(label_column, metadata[key], metadata[synonym],
...)``: rows whose label went into its column and rows that kept it only in ``metadata`` (under any synonym)
both answer.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from typing import Final, Protocol

from sqlglot import exp

from tokentrail import model
from tokentrail.query.dialects import Dialect
from tokentrail.query.errors import QueryError
from tokentrail.query.nodes import Pos
from tokentrail.query.typed import NUM, STR, TIME, Typed, kind_of_column, wrap

# requestMetadata keys → label column. Every label is also its own key.
METADATA_LABELS: Final[dict[str, str]] = {
    **{label: label for label in model.LABELS},
    "application_name": "app",
    "application": "app",
    "applicationName": "app",
    "tenant_id": "tenant",
    "tenantId": "tenant",
    "costCenter": "cost_center",
    "userId": "user_id",
    "user": "user_id",
    "env": "environment",
    "experiment_id": "experiment",
    "experimentId": "experiment",
    "promptName": "prompt_name",
    "promptVersion": "prompt_version",
    "conversationId": "conversation_id",
}

# Keys of the `attributes` column that the Bedrock names read; importers should write them.
ATTRIBUTE_KEYS: Final[dict[str, str]] = {
    "region": "aws.region",
    "identity.arn": "aws.identity.arn",
    "accountId": "aws.account.id",
    "errorCode": "error.type",
}

# The columns of @message, in order.
MESSAGE_FIELDS: Final = (
    "start_time",
    "trace_id",
    "span_id",
    "name",
    "kind",
    "service",
    "provider",
    "operation",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "duration_ms",
    "ttft_ms",
    "cost_usd",
    "status",
    "error_class",
    "http_status",
    "stop_reason",
    *model.LABELS,
)


class Source(Protocol):
    """Where native columns come from: the relation of the current stage."""

    dialect: Dialect

    def column(self, name: str) -> exp.Expr: ...


def _col(name: str) -> Callable[[Source], Typed]:
    return lambda src: Typed(src.column(name), kind_of_column(name))


def _first(*names: str, record: list[str] | None = None) -> Callable[[Source], Typed]:
    """The first non-null of the columns ``names``, after the ``record`` path of ``source_record``."""

    def build(src: Source) -> Typed:
        values = [src.column(n) for n in names]
        if record is not None:
            values.insert(0, src.dialect.json_path(src.column("source_record"), record))
        return Typed(exp.Coalesce(this=values[0], expressions=values[1:]), STR)

    return build


def _attribute(key: str) -> Callable[[Source], Typed]:
    return lambda src: Typed(src.dialect.json_lookup(src.column("attributes"), key), STR)


def _bedrock_input_tokens(src: Source) -> Typed:
    zero = exp.Literal.number(0)
    total: exp.Expr = src.column("input_tokens")
    for part in ("cache_read_tokens", "cache_write_tokens"):
        total = exp.Sub(this=total, expression=exp.Coalesce(this=src.column(part), expressions=[zero]))
    return Typed(wrap(total), NUM)


def _message(src: Source) -> Typed:
    pairs = []
    for name in MESSAGE_FIELDS:
        value = src.column(name)
        text = src.dialect.format_time(value) if kind_of_column(name) == TIME else exp.cast(value, "TEXT")
        pairs.append((name, text))
    synthetic = src.dialect.json_object(pairs)
    record = exp.Nullif(this=src.column("source_record"), expression=exp.Literal.string(""))
    return Typed(exp.Coalesce(this=record, expressions=[synthetic]), STR)


# Top-level keys of a Bedrock model invocation log record whose paths read the stored record.
RECORD_ROOTS: Final = frozenset(
    {"schemaType", "schemaVersion", "identity", "inferenceRegion", "input", "output", "performanceConfig"}
)
# Leaf names of counts (integers) and of times (doubles) in the record and its bodies: ``inputTokens``,
# ``cache_read_input_tokens``, ``outputVideoWidth``; ``latencyMs``, ``invocationLatency``,
# ``outputVideoDurationSeconds``. Any other leaf is text (``performanceConfig.latency`` is "standard").
COUNT_LEAF: Final = re.compile(
    r"(?:Tokens?|TokenCount|tokenCount|_tokens?|_token_count|Width|Height|PerSecond)$"
)
TIME_LEAF: Final = re.compile(r"(?:[lL]atencyMs|Latency|Seconds)$")


def _record_path(name: str, src: Source) -> Typed:
    keys = name.split(".")
    leaf = keys[-1]
    number = "BIGINT" if COUNT_LEAF.search(leaf) else "DOUBLE" if TIME_LEAF.search(leaf) else None
    return Typed(src.dialect.json_path(src.column("source_record"), keys, number), NUM if number else STR)


_ALIASES: Final[dict[str, Callable[[Source], Typed]]] = {
    "@timestamp": _col("start_time"),
    "timestamp": _col("start_time"),
    "@ingestionTime": _col("received_at"),
    "@message": _message,
    "input.inputTokenCount": _bedrock_input_tokens,
    "output.outputTokenCount": _col("output_tokens"),
    "input.cacheReadInputTokenCount": _col("cache_read_tokens"),
    "input.cacheWriteInputTokenCount": _col("cache_write_tokens"),
    "modelId": _first("request_model", "response_model", record=["modelId"]),
    "model": _first("response_model", "request_model"),
    "requestId": _col("response_id"),
    "output.outputBodyJson.metrics.latencyMs": _col("duration_ms"),
    "latency": _col("duration_ms"),
    "latency_ms": _col("duration_ms"),
    **{name: _attribute(key) for name, key in ATTRIBUTE_KEYS.items()},
}

ALIAS_NAMES: Final = tuple(_ALIASES)


def resolve(name: str, src: Source, pos: Pos) -> Typed | None:
    """A native column, an alias or a JSON key path; None when ``name`` is none of these."""
    if name in model.COLUMN_TYPES:
        return Typed(src.column(name), kind_of_column(name))
    if name in _ALIASES:
        return _ALIASES[name](src)
    prefix, _, key = name.partition(".")
    if prefix in RECORD_ROOTS:
        _check_key(name, pos)
        return _record_path(name, src)
    if not key or prefix not in ("requestMetadata", "metadata", "attributes"):
        return None
    _check_key(key, pos)
    if prefix == "requestMetadata":
        return _request_metadata(key, src)
    return Typed(src.dialect.json_lookup(src.column(prefix), key), STR)


def _request_metadata(key: str, src: Source) -> Typed:
    lookup = src.dialect.json_lookup
    label = METADATA_LABELS.get(key)
    if label is None:
        return Typed(lookup(src.column("metadata"), key), STR)
    synonyms = [other for other, target in METADATA_LABELS.items() if target == label and other != key]
    keys = [key, *synonyms]
    lookups = [lookup(src.column("metadata"), k) for k in keys]
    return Typed(exp.Coalesce(this=src.column(label), expressions=lookups), STR)


def _check_key(key: str, pos: Pos) -> None:
    if any(char in key for char in "\"\\'"):
        raise QueryError(
            f"unsupported character in the key {key!r}",
            pos.line,
            pos.column,
            "keys may not hold quotes or backslashes",
        )


def known_names(extra: Iterable[str] = ()) -> list[str]:
    """Names to suggest from: the given ones, native columns, aliases, label keys of requestMetadata."""
    labels = (f"requestMetadata.{key}" for key in METADATA_LABELS)
    return [*extra, *model.COLUMN_NAMES, *ALIAS_NAMES, *labels, *sorted(RECORD_ROOTS)]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' hint from the closest names, or None."""
    pool = list(dict.fromkeys(candidates))
    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        close = [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)]
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?" if close else None
