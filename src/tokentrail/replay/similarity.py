"""Output similarity of a replayed call: token-set Jaccard between the archived output and the new one.

The new output is redacted first (default redaction), so both sides carry placeholders, not raw values; the
raw new output is never stored.
"""

from __future__ import annotations

import re

from tokentrail.samples.policy import Redaction

TOKEN = re.compile(r"<[A-Z_]+_\d+>|\w+")


def tokens(text: str) -> set[str]:
    return {t.lower() for t in TOKEN.findall(text)}


def jaccard(archived: str, replayed: str) -> float:
    from tokentrail.samples.redact import redact  # presidio takes ~0.9 s to import: only when comparing

    redacted, _ = redact({"output": replayed}, Redaction())
    a, b = tokens(archived), tokens(str(redacted["output"]))
    return len(a & b) / len(a | b) if a | b else 1.0
