"""Prompt content: a text template or a list of chat messages, with the model and parameters.

A version's content id is the SHA-256 of its canonical JSON (sorted keys, no whitespace, UTF-8); the same
content twice is the same version. `format` fills ``{name}`` placeholders (str.format rules).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from tokentrail.exceptions import InputError

SHORT = 12


class ContentError(InputError):
    """Content that is not a template or a list of {role, content} messages."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class Content:
    template: str | None = None
    messages: tuple[Mapping[str, str], ...] | None = None
    model: str | None = None
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "params": dict(self.params)}
        if self.messages is not None:
            body["messages"] = [dict(m) for m in self.messages]
        else:
            body["template"] = self.template
        return body

    @property
    def content_id(self) -> str:
        return sha256(self.as_dict())

    def render(self) -> str:
        """The text people compare (diffs): the template, or each message as `role: content`."""
        head = f"# model: {self.model or '-'}  params: {json.dumps(dict(self.params), sort_keys=True)}\n"
        if self.messages is None:
            return head + (self.template or "")
        return head + "\n".join(f"[{m['role']}]\n{m['content']}" for m in self.messages)

    @classmethod
    def from_mapping(cls, body: Mapping[str, Any]) -> Content:
        template, messages = body.get("template"), body.get("messages")
        if (template is None) == (messages is None):
            raise ContentError("give exactly one of 'template' (text) or 'messages' (a list)")
        if template is not None and not isinstance(template, str):
            raise ContentError("'template' must be a string")
        model, params = body.get("model"), body.get("params") or {}
        if model is not None and not isinstance(model, str):
            raise ContentError("'model' must be a string")
        if not isinstance(params, dict):
            raise ContentError("'params' must be an object")
        return cls(template, _messages(messages), model, params)


def _messages(raw: Any) -> tuple[Mapping[str, str], ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise ContentError("'messages' must be a non-empty list of {role, content}")
    for m in raw:
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("role"), str)
            or not isinstance(m.get("content"), str)
        ):
            raise ContentError("each message must be an object with string 'role' and 'content'")
    return tuple({"role": m["role"], "content": m["content"]} for m in raw)


def fill(text: str, values: Mapping[str, Any]) -> str:
    try:
        return text.format_map(dict(values))
    except (KeyError, IndexError, ValueError) as exc:
        raise ContentError(f"cannot fill the template: {exc!r}") from None
