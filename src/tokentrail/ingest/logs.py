"""The OTLP logs signal: GenAI events become the content of their span's call; other records are counted and
dropped.

Events read (by `event_name`, or the older `event.name` attribute), all of a span's events merged in order:
- `gen_ai.client.inference.operation.details`: attributes `gen_ai.system_instructions`,
  `gen_ai.input.messages`, `gen_ai.output.messages` (JSON strings or structured values, already in the
  shapes of samples/content.py);
- the older per-message events: `gen_ai.system.message`, `gen_ai.user.message`, `gen_ai.assistant.message`
  and `gen_ai.tool.message` (body: `{"content": ..., "tool_calls": [...], "id": ...}`), and `gen_ai.choice`
  (body: `{"message": ..., "finish_reason": ...}`), turned into the same shapes.
What comes out is the body of a content document (system, messages, tools, output) keyed by (trace_id,
span_id): it goes only to the sampling pipeline (server/content.py), never to the hot table.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tokentrail.samples.content import Doc, text_part

DETAILS = "gen_ai.client.inference.operation.details"
ROLE_OF = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
GENAI_EVENTS = frozenset({DETAILS, "gen_ai.choice", *ROLE_OF})


@dataclasses.dataclass
class ContentDocument:
    """The content of one call read from its events, keyed by its span."""

    trace_id: str
    span_id: str
    system: list[Any] = dataclasses.field(default_factory=list)
    messages: list[Any] = dataclasses.field(default_factory=list)
    output: list[Any] = dataclasses.field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.trace_id, self.span_id

    def body(self) -> Doc:
        """The content part of a document (samples/content.py); the call adds provider, model and params."""
        system = self.system or None
        return {"system": system, "messages": self.messages, "tools": None, "output": self.output}


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


def tool_call(call: Any) -> Doc:
    """An older event's tool call (`{"id", "function": {"name", "arguments"}}`) as a tool_call part."""
    call = call if isinstance(call, dict) else {}
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    name, arguments = function.get("name"), function.get("arguments")
    return {"type": "tool_call", "id": call.get("id"), "name": name, "arguments": arguments}


def message(role: str, body: Any) -> Doc:
    """An older per-message event's body as a message of parts."""
    body = body if isinstance(body, dict) else {"content": body}
    content = body.get("content")
    if role == "tool":
        parts = [{"type": "tool_call_response", "id": body.get("id"), "response": content}]
    else:
        parts = [text_part(c) for c in listed(content)]
    parts += [tool_call(c) for c in listed(body.get("tool_calls"))]
    out: Doc = {"role": body.get("role") or role, "parts": parts}
    if body.get("finish_reason"):
        out["finish_reason"] = body["finish_reason"]
    return out


def add_event(doc: ContentDocument, name: str, record: Any) -> None:
    if name == DETAILS:
        attrs = {kv.key: plain(kv.value) for kv in record.attributes}
        doc.system += listed(attrs.get("gen_ai.system_instructions"))
        doc.messages += listed(attrs.get("gen_ai.input.messages"))
        doc.output += listed(attrs.get("gen_ai.output.messages"))
        return
    body = plain(record.body)
    if name == "gen_ai.choice":
        body = body if isinstance(body, dict) else {"message": body}
        inner = body.get("message")
        inner = inner if isinstance(inner, dict) else {"content": inner}
        doc.output.append(message("assistant", {"finish_reason": body.get("finish_reason"), **inner}))
    elif name == "gen_ai.system.message":
        doc.system += message("system", body)["parts"]
    else:
        doc.messages.append(message(ROLE_OF[name], body))


def count_records(request: ExportLogsServiceRequest) -> int:
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)


def documents(request: ExportLogsServiceRequest) -> tuple[list[ContentDocument], int]:
    """The GenAI content in a request, one document per span, and the count of other records."""
    docs: dict[tuple[str, str], ContentDocument] = {}
    other = 0
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                name = event_name(record)
                if name not in GENAI_EVENTS or len(record.span_id) != 8 or len(record.trace_id) != 16:
                    other += 1
                    continue
                key = (record.trace_id.hex(), record.span_id.hex())
                add_event(docs.setdefault(key, ContentDocument(*key)), name, record)
    return list(docs.values()), other
