"""Log records other than GenAI events, kept when configured (`TOKENTRAIL_KEEP_LOGS`; dropped otherwise).

Runs in the decoding workers. Each kept record becomes one row of model.LOG_RECORD_COLUMNS:
- GenAI content events (ingest/logs.py `GENAI_EVENTS`) are never kept, not even those without the ids that
  would join them to a call: their content goes to the samples pipeline or nowhere.
- The body and every string attribute value (nested ones too; keys stay) go through the samples' redactor
  (samples/redact.py) with the sampling policy's `[redact]` settings before anything is stored; a record
  whose redaction fails is dropped (fail closed).
- Records whose severity number is below the minimum (`TOKENTRAIL_KEEP_LOGS_MIN_SEVERITY`) are dropped.
- `record_id` hashes the record as sent with its resource's service and its scope's name, so a retried
  request stores each record once (OTLP/HTTP protobuf, JSON and gRPC alike); two records equal in every
  field, time included, are stored once.
- The tenant is the `tokentrail.tenant` attribute of the record, else of its resource; a tenant-bound key
  then stamps or rejects it as it does spans (ingest/tenants.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from tokentrail import semconv as sc
from tokentrail.ingest.logs import GENAI_EVENTS, event_name
from tokentrail.ingest.normalize import any_value, attributes_dict, ns_to_datetime
from tokentrail.samples.policy import Redaction
from tokentrail.store.arrow import LOG_RECORDS

log = logging.getLogger(__name__)
TENANT = sc.label_attribute("tenant")
Other = tuple[Any, Any, Any]  # (ResourceLogs, ScopeLogs, LogRecord) of a record that is not GenAI content


@dataclasses.dataclass(frozen=True, slots=True)
class Origin:
    """What a record's resource and scope say about it."""

    service: str
    scope: str
    tenant: str | None


def origin_of(resource_logs: Any, scope_logs: Any) -> Origin:
    attrs = attributes_dict(resource_logs.resource.attributes)
    tenant = attrs.get(TENANT)
    return Origin(str(attrs.get(sc.SERVICE_NAME) or ""), scope_logs.scope.name, tenant and str(tenant))


def record_id(origin: Origin, record: Any) -> str:
    digest = hashlib.sha256(f"{origin.service}\0{origin.scope}\0".encode())
    digest.update(record.SerializeToString(deterministic=True))
    return digest.hexdigest()[:32]


def hex_id(raw: bytes, size: int) -> str:
    return raw.hex() if len(raw) == size and any(raw) else ""


def redacted(record: Any, config: Redaction) -> tuple[str | None, dict[str, Any], dict[str, int]]:
    """(body, attributes, report): every string value redacted, the body as text (JSON when structured)."""
    from tokentrail.samples.redact import redact  # presidio takes ~1 s to import: only once records come

    raw = {"body": any_value(record.body), "attributes": attributes_dict(record.attributes)}
    doc, report = redact(raw, config, structure=frozenset())
    body = doc["body"]
    if body is not None and not isinstance(body, str):
        body = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return body, doc["attributes"], report


def row(record: Any, origin: Origin, config: Redaction, received: dt.datetime) -> tuple[Any, ...]:
    body, attributes, report = redacted(record, config)
    observed = ns_to_datetime(record.observed_time_unix_nano) if record.observed_time_unix_nano else None
    time = ns_to_datetime(record.time_unix_nano) if record.time_unix_nano else observed or received
    tenant = next((kv.value.string_value for kv in record.attributes if kv.key == TENANT), None)
    return (
        record_id(origin, record),
        time,
        observed,
        record.severity_number,
        record.severity_text or None,
        body,
        attributes,
        origin.service or None,
        origin.scope or None,
        event_name(record) or None,
        hex_id(record.trace_id, 16),
        hex_id(record.span_id, 8),
        tenant or origin.tenant,
        report,
    )


def kept_records(
    others: Sequence[Other], min_severity: int, config: Redaction, received: dt.datetime
) -> pa.Table:
    """The records to keep, redacted, as an Arrow table of model.LOG_RECORD_COLUMNS."""
    rows, origins = [], dict[int, Origin]()
    for resource_logs, scope_logs, record in others:
        if event_name(record) in GENAI_EVENTS or record.severity_number < min_severity:
            continue
        origin = origins.get(id(scope_logs)) or origins.setdefault(
            id(scope_logs), origin_of(resource_logs, scope_logs)
        )
        try:
            rows.append(row(record, origin, config, received))
        except Exception as exc:  # fail closed: a record that cannot be redacted is not stored
            log.warning("redaction failed (%s): a log record was dropped", type(exc).__name__)
    return LOG_RECORDS.table(rows)
