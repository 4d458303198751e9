"""The OTLP logs signal: GenAI events become content documents joined to their span; other records are
counted and dropped.

Events read (by `event_name`, or the older `event.name` attribute):
- `gen_ai.client.inference.operation.details`: attributes `gen_ai.system_instructions`,
  `gen_ai.input.messages`, `gen_ai.output.messages` (JSON strings or structured values);
- the older per-message events: `gen_ai.system.message` and `gen_ai.user.message` / `gen_ai.tool.message`
  (body: the message), `gen_ai.choice` (body: `{"message": ..., "finish_reason": ...}`).
A document holds prompt and response content: it goes only to the sampling pipeline, never to the hot table.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

DETAILS = "gen_ai.client.inference.operation.details"
ROLE_OF = {"gen_ai.system.message": "system", "gen_ai.user.message": "user", "gen_ai.tool.message": "tool"}
GENAI_EVENTS = frozenset({DETAILS, "gen_ai.choice", *ROLE_OF})


@dataclasses.dataclass
class ContentDocument:
    """The content of one call, keyed by its span."""

    trace_id: str
    span_id: str
    system_instructions: list[Any] = dataclasses.field(default_factory=list)
    input_messages: list[Any] = dataclasses.field(default_factory=list)
    output_messages: list[Any] = dataclasses.field(default_factory=list)
    tool_calls: list[Any] = dataclasses.field(default_factory=list)


def plain(value: Any) -> Any:
    """An AnyValue as Python data; strings holding JSON arrays or objects are parsed."""
    data = json_format.MessageToDict(value).popitem()[1] if value.ByteSize() else None
    data = unwrap(data)
    if isinstance(data, str) and data[:1] in "[{":
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            return data
    return data


def unwrap(node: Any) -> Any:
    """MessageToDict's AnyValue shapes ({"stringValue": ...}, kvlistValue, arrayValue) as plain values."""
    if isinstance(node, dict):
        if "values" in node and set(node) == {"values"}:
            items = node["values"]
            if items and isinstance(items[0], dict) and "key" in items[0]:
                return {kv["key"]: unwrap(kv.get("value", {})) for kv in items}
            return [unwrap(v) for v in items]
        if len(node) == 1:
            key, value = next(iter(node.items()))
            if key.endswith("Value"):
                return unwrap(value)
    if isinstance(node, list):
        return [unwrap(v) for v in node]
    return node


def event_name(record: Any) -> str:
    if record.event_name:
        return str(record.event_name)
    return next((str(kv.value.string_value) for kv in record.attributes if kv.key == "event.name"), "")


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def add_event(doc: ContentDocument, name: str, record: Any) -> None:
    attrs = {kv.key: plain(kv.value) for kv in record.attributes}
    if name == DETAILS:
        doc.system_instructions += listed(attrs.get("gen_ai.system_instructions"))
        doc.input_messages += listed(attrs.get("gen_ai.input.messages"))
        doc.output_messages += listed(attrs.get("gen_ai.output.messages"))
    elif name == "gen_ai.choice":
        body = plain(record.body)
        message = body.get("message", body) if isinstance(body, dict) else body
        doc.output_messages.append(message)
        if isinstance(message, dict):
            doc.tool_calls += listed(message.get("tool_calls"))
    elif name == "gen_ai.system.message":
        doc.system_instructions.append(plain(record.body))
    else:
        body = plain(record.body)
        doc.input_messages.append(
            {"role": ROLE_OF[name], **(body if isinstance(body, dict) else {"content": body})}
        )
    for message in doc.output_messages:
        for part in message.get("parts", []) if isinstance(message, dict) else []:
            if isinstance(part, dict) and part.get("type") == "tool_call" and part not in doc.tool_calls:
                doc.tool_calls.append(part)


def documents(request: ExportLogsServiceRequest) -> tuple[list[ContentDocument], int]:
    """The GenAI content documents in a request, one per span, and the count of other records."""
    docs: dict[tuple[str, str], ContentDocument] = {}
    other = 0
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                name = event_name(record)
                if name not in GENAI_EVENTS or len(record.span_id) != 8:
                    other += 1
                    continue
                key = (record.trace_id.hex(), record.span_id.hex())
                add_event(docs.setdefault(key, ContentDocument(*key)), name, record)
    return list(docs.values()), other
