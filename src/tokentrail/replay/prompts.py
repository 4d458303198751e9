"""`--prompt NAME@VERSION`: replay the samples of prompt NAME with another version from the registry.

A sample's document names the version its call was labelled with (``prompt``: name, version, content id).
The messages that came from that version are found among the sample's messages (the version's template or
messages, with each ``{variable}`` matching any text, in order and with the same roles) and replaced by the
chosen version's, filled with the variables: those recorded with the call (OpenInference
``llm.prompt_template.variables``) first, else the text each placeholder matched in the recorded messages. A
placeholder with no value is sent as it is, and so are redaction placeholders such as ``<EMAIL_1>``.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Mapping
from typing import Any

from tokentrail.exceptions import TokentrailError
from tokentrail.replay.requests import Doc, message_text

REF = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127})@v?(?P<version>[1-9][0-9]*)$")
Entry = tuple[str | None, str]  # (role, or None: the role of the message it replaces; text)


class PromptMismatch(TokentrailError):
    """The sample's messages do not hold the version its call was labelled with (the sample is skipped)."""


def parse_ref(text: str) -> tuple[str, int]:
    """'triage@3' (or 'triage@v3') -> ('triage', 3); ValueError otherwise."""
    found = REF.match(text)
    if found is None:
        raise ValueError(f"--prompt takes NAME@VERSION, such as triage@3; not {text!r}")
    return found["name"], int(found["version"])


def entries(version: Mapping[str, Any]) -> list[Entry]:
    """A registry version (GET /api/prompts/{name}'s entry) as messages: a template is one, of any role."""
    if version.get("messages") is not None:
        return [(m["role"], m["content"]) for m in version["messages"]]
    return [(None, version.get("template") or "")]


@dataclasses.dataclass(frozen=True)
class Chosen:
    """The version to replay with, and every version of the prompt (to recognise the archived one)."""

    name: str
    version: Mapping[str, Any]
    versions: list[Mapping[str, Any]]

    @classmethod
    def of(cls, body: Mapping[str, Any], number: int) -> Chosen:
        versions = list(body.get("versions") or [])
        for version in versions:
            if version.get("version") == number:
                return cls(str(body["name"]), version, versions)
        raise LookupError(f"prompt {body.get('name')!r} has no version {number}")

    def archived(self, ref: Mapping[str, Any]) -> Mapping[str, Any]:
        for version in self.versions:
            if ref.get("content_id") and version.get("content_id") == ref["content_id"]:
                return version
        for version in self.versions:
            if str(version.get("version")) == str(ref.get("version")).removeprefix("v"):
                return version
        raise PromptMismatch(f"the sample's version {ref.get('version')!r} is not in the registry")

    def uses(self, doc: Doc) -> bool:
        return (doc.get("prompt") or {}).get("name") == self.name

    def apply(self, doc: Doc) -> Doc:
        """The document with the archived version's messages replaced by the chosen version's."""
        ref = doc.get("prompt") or {}
        messages = [{"role": "system", "parts": doc["system"]}] if doc.get("system") else []
        messages += doc.get("messages") or []
        old = entries(self.archived(ref))
        at, found = locate(old, messages)
        values = {**found, **(ref.get("variables") or {})}
        new = [
            {"role": role or messages[at]["role"], "parts": [{"type": "text", "content": fill(text, values)}]}
            for role, text in entries(self.version)
        ]
        params = {**(doc.get("params") or {}), **(self.version.get("params") or {})}
        replaced = messages[:at] + new + messages[at + len(old) :]
        return doc | {"system": None, "messages": replaced, "params": params}

    def labels(self) -> dict[str, str]:
        """The labels of a call made with the chosen version (as `tokentrail.prompt` sets them)."""
        number, content_id = self.version.get("version"), self.version.get("content_id")
        return {"prompt_name": self.name, "prompt_version": str(number), "prompt_content_id": str(content_id)}

    @property
    def model(self) -> str | None:
        model = self.version.get("model")
        return str(model) if model else None


def pattern(text: str) -> tuple[re.Pattern[str], dict[str, str]]:
    """A regex matching `text` rendered with any values, and its groups' variable names."""
    out: list[str] = []
    names: dict[str, str] = {}
    seen: dict[str, str] = {}
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError:  # not a template: it matches itself
        return re.compile(re.escape(text), re.S), {}
    for literal, field, _, _ in pieces:
        out.append(re.escape(literal))
        if field is None:
            continue
        if field in seen:
            out.append(f"(?P={seen[field]})")
            continue
        group = f"v{len(names)}"
        seen[field], names[group] = group, field
        out.append(f"(?P<{group}>.*?)")
    return re.compile("".join(out), re.S), names


def matches(entry: Entry, message: Doc) -> dict[str, str] | None:
    role, text = entry
    if role is not None and role != message.get("role"):
        return None
    regex, names = pattern(text)
    found = regex.fullmatch(message_text(message))
    return None if found is None else {names[g]: v for g, v in found.groupdict().items()}


def locate(wanted: list[Entry], messages: list[Doc]) -> tuple[int, dict[str, str]]:
    """Where the run of `wanted` messages starts in `messages`, and the variables it matched."""
    for at in range(len(messages) - len(wanted) + 1):
        values: dict[str, str] = {}
        for entry, message in zip(wanted, messages[at : at + len(wanted)], strict=True):
            found = matches(entry, message)
            if found is None:
                break
            values |= found
        else:
            return at, values
    raise PromptMismatch("the sample's messages do not hold its prompt version's text")


def fill(text: str, values: Mapping[str, Any]) -> str:
    """`text` with each ``{name}`` that has a value filled in; the others are left as they are."""
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError:
        return text
    out = []
    for literal, field, spec, conversion in pieces:
        out.append(literal)
        if field is None:
            continue
        if field in values:
            out.append(str(values[field]))
        else:  # sent as it is
            out.append(
                "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            )
    return "".join(out)
