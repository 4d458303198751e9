"""The types the SDK's modules share. This module imports none of them, so any can import it.

A provider module gives each call a `Reader` (a complete response) or an `Observer` (the kept chunks of a
stream, on the span worker) and a `Classifier` (every chunk, on the caller's thread); see
`tokentrail.sdk.stream` for who does what. Readers and observers take the call record
(`tokentrail.sdk.call.CallRecord`) as their type parameter: ``Observer[CallRecord]``. `TimedCall` is what a
stream timer needs from its call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeAlias, TypeVar

CallT = TypeVar("CallT")

Reader: TypeAlias = Callable[[Any, CallT], None]
"""On the worker: reads a complete response into the call (usage, model, stop reason, tools)."""

Observer: TypeAlias = Callable[[Any, CallT], "str | bool | None"]
"""On the worker: reads one kept chunk into the call (usage, model, stop reason, tools); returns its output
text, True for output without text (a tool-call delta), or None/False/"" for a framing chunk."""

Classifier: TypeAlias = Callable[[Any], "str | bool | None"]
"""On the caller, per chunk: output text or True for a plain output chunk (nothing else to read), False or ""
for a framing chunk with nothing to read, None to keep the chunk for the worker's `Observer`."""

Shown: TypeAlias = Callable[[Any], Any]
"""What the application sees of a stream chunk (None: the chunk is hidden), when tokentrail changed the
request (`tokentrail.sdk.call.Request.shown`)."""


class TimedCall(Protocol):
    """What a stream timer (`tokentrail.sdk.stream.StreamTimer`) needs from its call."""

    @property
    def capture(self) -> bool:
        """Content is captured: every chunk is kept, so the text is complete."""

    @property
    def text(self) -> list[str] | None:
        """The captured output text (on the worker; None without capture)."""

    def end(self, *, exc: BaseException | None = None, closed: bool = False) -> None:
        """The stream ended: exhausted, failed (`exc`) or closed early (`closed`)."""

    def internal_error(self) -> None:
        """Report a bug of tokentrail's (call inside ``except``)."""
