"""Sampling, then redaction: what becomes of one call's content.

`sample_call` takes the call (its identity, labels and outcome) and its raw content document, from any
receiver (span attributes today; GenAI events on the logs signal can feed the same function). Unsampled
content is dropped in memory. A sampled document is redacted; when redaction fails, the content is dropped
(fail closed) and the call is still stored. Nothing here logs or raises content: a failure is logged by the
exception's type name only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tokentrail.model import Call, Sample
from tokentrail.samples.content import Doc
from tokentrail.samples.policy import Policy, RateCap, decide

log = logging.getLogger(__name__)


def _chars(parts_holder: Any) -> int:
    """Characters of the text in messages or parts (JSON text for anything structured)."""
    if not parts_holder:
        return 0
    return len(json.dumps(parts_holder, ensure_ascii=False))


def sample_call(call: Call, document: Doc, policy: Policy) -> Sample | None:
    """The call's redacted sample, or None (not sampled, or redaction failed)."""
    reason = decide(policy, call)
    if reason is None:
        return None
    from tokentrail.samples.redact import redact  # presidio takes ~1 s to import: only once content comes

    try:
        redacted, report = redact(document, policy.redact)
    except Exception as exc:  # fail closed: drop the content, keep the call
        log.warning(
            "redaction failed (%s) for span %s/%s: its content was dropped",
            type(exc).__name__,
            call.trace_id,
            call.span_id,
        )
        return None
    input_chars = _chars(redacted.get("system")) + _chars(redacted.get("messages"))
    return Sample(reason, input_chars, _chars(redacted.get("output")), redacted, report)


def take_samples(calls: Iterable[Call], policy: Policy) -> None:
    """Replace each call's raw content with its sample (or nothing)."""
    for call in calls:
        document, call.content = call.content, None
        if document is not None:
            call.sample = sample_call(call, document, policy)


def cap_samples(table: pa.Table, cap: RateCap, per_minute: int) -> pa.Table:
    """`table` (from `calls_to_arrow`) with the samples past this minute's cap dropped. When some must go,
    those kept by the rate go first: the policy promises to keep errors and threshold breaches."""
    index = table.schema.get_field_index("sample")  # not `column_names`: 22 us to list 64 names
    if index < 0:
        return table
    column = table.column(index)
    wanted = len(column) - column.null_count
    granted = cap.allow(wanted, per_minute)
    if granted == wanted:
        return table
    reasons = pc.struct_field(column, "reason").to_pylist()
    ranked = sorted((i for i, r in enumerate(reasons) if r is not None), key=lambda i: reasons[i] == "rate")
    chosen = set(ranked[:granted])
    keep = pa.array([i in chosen for i in range(len(column))])
    capped = pc.if_else(keep, column, pa.nulls(len(column), column.type))
    return table.set_column(index, "sample", capped)
