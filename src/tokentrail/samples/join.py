"""Content waiting for its span: GenAI events on the logs signal may arrive before the span they belong to.

`Waiting` holds each span's content body in memory, by (trace_id, span_id), for at most `wait_s` and at most
`max_bytes` in all (the oldest is dropped first when a new one does not fit). Content for the same span that
arrives in several requests is merged in arrival order. Each entry remembers the tenants the sending key may
write as (None: any), so content can only join a call of those tenants. Nothing here is written anywhere.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import time
from collections.abc import Callable, Iterable

from tokentrail.samples.content import Doc

Key = tuple[str, str]
LISTS = ("system", "messages", "output")


@dataclasses.dataclass
class Held:
    body: Doc
    tenants: tuple[str, ...] | None
    size: int
    deadline: float


def size_of(body: Doc) -> int:
    return len(json.dumps(body, ensure_ascii=False, default=str))


def merge(first: Doc, then: Doc) -> Doc:
    """Two bodies of the same call, in arrival order."""
    merged = {name: [*(first.get(name) or []), *(then.get(name) or [])] for name in LISTS}
    return {**merged, "system": merged["system"] or None, "tools": first.get("tools") or then.get("tools")}


class Waiting:
    """Bounded content waiting for its span (see the module docstring). Used from one event loop."""

    def __init__(self, wait_s: float, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.wait_s, self.max_bytes, self._clock = wait_s, max_bytes, clock
        self._held: collections.OrderedDict[Key, Held] = collections.OrderedDict()
        self.bytes = 0
        self.dropped: collections.Counter[str] = collections.Counter()  # why held content was let go

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, key: Key, body: Doc, tenants: tuple[str, ...] | None) -> None:
        old = self._held.pop(key, None)
        if old is not None:
            self.bytes -= old.size
            body = merge(old.body, body)
        held = Held(body, tenants, size_of(body), self._clock() + self.wait_s)
        if held.size > self.max_bytes:
            self.dropped["too_big"] += 1
            return
        while self.bytes + held.size > self.max_bytes:
            _, evicted = self._held.popitem(last=False)
            self.bytes -= evicted.size
            self.dropped["evicted"] += 1
        self._held[key] = held
        self.bytes += held.size

    def take(self, keys: Iterable[Key]) -> dict[Key, Held]:
        """The content held for these spans, no longer held."""
        if not self._held:
            return {}
        found = {key: self._held.pop(key) for key in set(keys) if key in self._held}
        self.bytes -= sum(h.size for h in found.values())
        return found

    def expired(self) -> dict[Key, Held]:
        """The content whose wait is over, no longer held (oldest first)."""
        now, out = self._clock(), {}
        while self._held:
            key, held = next(iter(self._held.items()))
            if held.deadline > now:
                break
            out[key] = self._held.pop(key)
            self.bytes -= held.size
        return out

    def stats(self) -> dict[str, int]:
        """Content waiting now and content let go without its span (evicted, too_big), by name."""
        dropped = {f"content_{reason}": n for reason, n in self.dropped.items()}
        return {"content_waiting": len(self._held), "content_waiting_bytes": self.bytes} | dropped
