"""Redaction of a content document, before anything touches disk.

The finders are presidio-analyzer's pattern recognizers, called one by one on each string (no
``AnalyzerEngine``, so no NLP engine and no spaCy model is ever loaded), plus recognizers of our own for
secrets, the policy's own patterns and its deny-list terms. Presidio's e-mail recognizer checks the domain
with tldextract, which downloads the public suffix list on first use; ours uses tldextract's bundled snapshot
with no download and no cache, so nothing reaches the network.

Each value found becomes a typed placeholder numbered within the sample: the same address is ``<EMAIL_1>``
wherever it appears in the document, another one ``<EMAIL_2>``, so a replay still makes sense. The report says
how many values of each type were replaced, never which.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from typing import Any

import tldextract
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import (
    AuTfnRecognizer,
    CreditCardRecognizer,
    EmailRecognizer,
    EsNifRecognizer,
    IbanRecognizer,
    InAadhaarRecognizer,
    IpRecognizer,
    ItFiscalCodeRecognizer,
    PhoneRecognizer,
    SgFinRecognizer,
    UkNinoRecognizer,
    UsSsnRecognizer,
)

from tokentrail.samples.policy import Redaction

MIN_SCORE = 0.3
"""Matches presidio scores below this (its weakest patterns, with no context words) are left alone."""

NAMES = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "IBAN_CODE": "IBAN"}
"""Presidio's entity names that read better shortened in a placeholder."""

SECRETS = {  # entity -> pattern; all scored 1.0
    "PRIVATE_KEY": r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
    "AWS_ACCESS_KEY": r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b",
    "API_KEY": r"\bsk-[A-Za-z0-9_\-]{16,}",
    "JWT": r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}",
    "BEARER_TOKEN": r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{12,}=*",
}
STRUCTURE = frozenset(
    {"version", "provider", "operation", "model", "role", "type", "finish_reason", "id", "content_id"}
)
"""Keys of the document whose values are structure, not content."""

_SUFFIXES = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail patterns, the domain checked against tldextract's bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return bool(_SUFFIXES(pattern_text.rpartition("@")[2]).suffix)


def _own(entity: str, regex: str) -> PatternRecognizer:
    return PatternRecognizer(supported_entity=entity, patterns=[Pattern(entity, regex, 1.0)])


def recognizers(config: Redaction) -> tuple[EntityRecognizer, ...]:
    """The finders for a policy's redaction settings (built once per settings)."""
    return _recognizers(config.model_dump_json())


@functools.lru_cache(maxsize=8)
def _recognizers(key: str) -> tuple[EntityRecognizer, ...]:
    config = Redaction.model_validate_json(key)
    found: list[EntityRecognizer] = [
        OfflineEmailRecognizer(),
        PhoneRecognizer(supported_regions=("US", "GB", "DE", "FR", "IN", "AU", "CA", "ES", "IT")),
        CreditCardRecognizer(),
        IbanRecognizer(),
        UsSsnRecognizer(),
        UkNinoRecognizer(),
        EsNifRecognizer(),
        ItFiscalCodeRecognizer(),
        InAadhaarRecognizer(),
        AuTfnRecognizer(),
        SgFinRecognizer(),
        IpRecognizer(),
    ]
    found += [_own(entity, regex) for entity, regex in SECRETS.items()]
    found += [_own(entity, regex) for entity, regex in config.patterns.items()]
    if config.deny:
        found.append(PatternRecognizer(supported_entity="DENY", deny_list=list(config.deny)))
    return tuple(found)


def find(text: str, finders: Iterable[EntityRecognizer]) -> list[RecognizerResult]:
    """Non-overlapping matches, the highest score (then the longest) winning an overlap, in text order."""
    hits = [
        hit
        for finder in finders
        for hit in finder.analyze(text, finder.supported_entities, None) or ()  # type: ignore[arg-type]
        if hit.score >= MIN_SCORE
    ]
    hits.sort(key=lambda h: (-h.score, -(h.end - h.start), h.start))
    taken: list[RecognizerResult] = []
    for hit in hits:
        if all(hit.end <= t.start or hit.start >= t.end for t in taken):
            taken.append(hit)
    return sorted(taken, key=lambda h: h.start)


@dataclasses.dataclass
class Placeholders:
    """The placeholders of one sample: the same value of the same type always gets the same one."""

    seen: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    found: dict[str, int] = dataclasses.field(default_factory=dict)

    def of(self, entity: str, value: str) -> str:
        name = NAMES.get(entity, entity)
        key = (name, value)
        self.found[name] = self.found.get(name, 0) + 1
        if key not in self.seen:
            self.counts[name] = self.counts.get(name, 0) + 1
            self.seen[key] = f"<{name}_{self.counts[name]}>"
        return self.seen[key]

    def report(self) -> dict[str, int]:
        """How many values were replaced, per type."""
        return dict(sorted(self.found.items()))


def redact_text(text: str, finders: Iterable[EntityRecognizer], names: Placeholders) -> str:
    out, at = [], 0
    for hit in find(text, finders):
        out += [text[at : hit.start], names.of(hit.entity_type, text[hit.start : hit.end])]
        at = hit.end
    return "".join(out) + text[at:]


def redact(document: dict[str, Any], config: Redaction) -> tuple[dict[str, Any], dict[str, int]]:
    """The document with every content string redacted, and the report (type -> values replaced)."""
    finders = recognizers(config)
    names = Placeholders()

    def walk(value: Any, key: str | None) -> Any:
        if isinstance(value, str):
            return value if key in STRUCTURE else redact_text(value, finders, names)
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        return value

    return walk(document, None), names.report()
