"""Rebuild a provider request from a sample's content document, send it through the provider's official
client, and read the answer's text. Placeholders such as ``<EMAIL_1>`` are sent as they are.

What is sent again: the system instructions (``system`` and system/developer messages), every message with
its text, tool calls and tool results, the tool definitions, the tool choice, and the recorded parameters
(temperature, top_p, top_k, max_tokens, stop sequences, seed, frequency and presence penalties), each mapped
to what the target provider's API takes (a parameter it has no field for is left out).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tokentrail.sdk.content import tool_choice

Doc = dict[str, Any]
PROVIDERS = ("openai", "anthropic", "aws.bedrock")
DEFAULT_MAX_TOKENS = 1024  # Anthropic and Bedrock need a limit when the original call named none
SYSTEM_ROLES = ("system", "developer")
ANSWER_PARTS = ("text", "tool_call")


def part_text(part: Doc) -> str:
    if part.get("type") == "text":
        return str(part.get("content", ""))
    if part.get("type") == "tool_call_response":
        response = part.get("response")
        return response if isinstance(response, str) else json.dumps(response)
    return ""


def message_text(message: Doc) -> str:
    return "".join(part_text(p) for p in message.get("parts", []))


def parts_of(message: Doc, kind: str) -> list[Doc]:
    return [p for p in message.get("parts") or [] if p.get("type") == kind]


def split_system(doc: Doc) -> tuple[str | None, list[Doc]]:
    """The system text (``system`` and the system/developer messages) and the other messages."""
    system = ["".join(part_text(p) for p in doc.get("system") or [])]
    rest = []
    for message in doc.get("messages") or []:
        if message.get("role") in SYSTEM_ROLES:
            system.append(message_text(message))
        else:
            rest.append(message)
    return "\n".join(s for s in system if s) or None, rest


def output_text(doc: Doc) -> str:
    """The archived answer as compared: its text and the names of the tools it called."""
    return "\n".join(answer_text(m.get("parts") or []) for m in doc.get("output") or [])


def answer_text(parts: Iterable[Doc]) -> str:
    return " ".join(p.get("content") or p.get("name") or "" for p in parts if p.get("type") in ANSWER_PARTS)


def tool_specs(doc: Doc) -> list[Doc]:
    """The tool definitions as name, description, parameters (the function shape unwrapped)."""
    out = []
    for tool in doc.get("tools") or []:
        spec = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        if spec.get("name"):
            out.append({k: spec[k] for k in ("name", "description", "parameters") if spec.get(k) is not None})
    return out


def choice(doc: Doc) -> Any:
    return tool_choice({"tool_choice": (doc.get("params") or {}).get("tool_choice")})


def pick_params(doc: Doc, names: dict[str, str]) -> Doc:
    params = doc.get("params") or {}
    return {target: params[source] for source, target in names.items() if params.get(source) is not None}


def arguments(part: Doc) -> Any:
    value = part.get("arguments")
    return value if isinstance(value, dict) else {} if value in (None, "") else {"value": value}
