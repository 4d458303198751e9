"""Redaction: every listed kind found, typed consistent placeholders, a report without values, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import PII, PII_POLICY, pii_prompt, raw_fragments
from tokentrail.samples.policy import parse
from tokentrail.samples.redact import redact

POLICY = parse(PII_POLICY)


def document(text: str) -> dict[str, object]:
    return {
        "version": 1,
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "parts": [{"type": "text", "content": text}]}],
        "output": [{"role": "assistant", "parts": [{"type": "text", "content": f"Noted, {PII['EMAIL']}."}]}],
    }


def test_every_kind_is_replaced_by_a_typed_consistent_placeholder() -> None:
    redacted, report = redact(document(pii_prompt()), POLICY.redact)
    text = redacted["messages"][0]["parts"][0]["content"]
    for kind in PII:
        assert f"<{kind}_1>" in text, kind
    assert text.count("<EMAIL_1>") == 2 and "<EMAIL_2>" in text  # the same address, then another
    assert redacted["output"][0]["parts"][0]["content"] == "Noted, <EMAIL_1>."  # across the whole sample
    flat = repr(redacted).encode()
    assert not [raw for raw in raw_fragments() if raw in flat]
    assert report == {kind: 1 for kind in PII} | {"EMAIL": 4}
    assert redacted["model"] == "gpt-4o-mini" and redacted["messages"][0]["role"] == "user"


def test_ordinary_text_is_left_alone() -> None:
    text = "Order 12 shipped on 2024-05-01 at 10:30; version 1.2.3 costs 19.99 and weighs 4 kg."
    redacted, report = redact(document(text), POLICY.redact)
    assert redacted["messages"][0]["parts"][0]["content"] == text and report == {"EMAIL": 1}


def test_nothing_reaches_the_network_and_no_nlp_model_loads(tmp_path: Path) -> None:
    """A fresh interpreter whose sockets may only reach loopback and whose spaCy cannot load a model."""
    code = """
import socket, spacy
def refuse(self, address, *a):
    host = address[0] if isinstance(address, tuple) else address
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise AssertionError(f"network use: {address}")
    return real(self, address, *a)
real = socket.socket.connect
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.getaddrinfo = lambda *a, **k: (_ for _ in ()).throw(AssertionError(f"dns lookup: {a}"))
spacy.load = lambda *a, **k: (_ for _ in ()).throw(AssertionError("a spaCy model was loaded"))
from support import PII_POLICY, pii_prompt
from tokentrail.samples.policy import parse
from tokentrail.samples.redact import redact
doc = {"messages": [{"role": "user", "parts": [{"type": "text", "content": pii_prompt()}]}]}
redacted, report = redact(doc, parse(PII_POLICY).redact)
assert report["EMAIL"] == 3 and report["PHONE"] == 1, report
print("ok")
"""
    tests_dir = str(Path(__file__).parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([os.environ.get("PYTHONPATH", ""), tests_dir]),
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
    assert not (tmp_path / "cache").exists()  # no suffix list cached either
