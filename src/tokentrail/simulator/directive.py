"""Per-request directives: the ``x-tokentrail-sim`` request header, a JSON object that overrides the plan.

Keys (all optional; unknown keys are rejected with a 400):

==================  ==========================================================================================
``ttft_ms``         time to the first content chunk, ms (exact, not scaled by the profile's time_scale)
``itl_ms``          constant gap between content chunks, ms
``output_tokens``   output tokens (reasoning included); a request's max_tokens still truncates
``input_tokens``    input tokens, instead of counting the prompt
``cache_read_tokens``, ``cache_write_tokens``   cached input tokens (subsets of input_tokens)
``reasoning_tokens``  hidden reasoning tokens (subset of output_tokens)
``tokens_per_chunk``  output tokens per content chunk
``fail``            list indexed by attempt (0 = first try): an HTTP status (int), a mode name
                    (``"timeout"``, ``"content_filter"``, ``"midstream"``) or ``0``/``null`` for success.
                    Attempts past the end succeed. Giving ``fail`` (even ``[]``) turns off the profile's
                    spontaneous errors for the request.
``fail_mode``       how integer ``fail`` entries fail: ``status`` (default; an HTTP error), ``timeout``,
                    ``content_filter`` or ``midstream`` (the status picks the error type)
``fail_after``      content chunks sent before a midstream error or content filter stop
``hang_ms``         how long a timeout hangs before the provider's timeout error (ends early on hang-up)
``tool_call``       a tool name to call, or ``false`` to never call a tool
``stall_ms``, ``stall_after``   add a stall to the gap after content chunk ``stall_after`` (default middle)
==================  ==========================================================================================
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

DIRECTIVE_HEADER = "x-tokentrail-sim"
PLAN_HEADER = "x-tokentrail-sim-plan"
FAIL_MODES = ("status", "timeout", "content_filter", "midstream")


class DirectiveError(ValueError):
    """The directive header is malformed; the message says which key."""


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    mode: str  # status | timeout | content_filter | midstream
    status: int = 0  # HTTP status for status and midstream failures (selects the error type)
    after_chunks: int = 0  # content chunks sent before a midstream error or a content filter stop


@dataclasses.dataclass(frozen=True, slots=True)
class Directive:
    ttft_ms: float | None = None
    itl_ms: float | None = None
    output_tokens: int | None = None
    input_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    tokens_per_chunk: int | None = None
    fail: tuple[int | str | None, ...] | None = None
    fail_mode: str = "status"
    fail_after: int | None = None
    hang_ms: float | None = None
    tool_call: str | bool | None = None
    stall_ms: float | None = None
    stall_after: int | None = None

    @classmethod
    def parse(cls, raw: str | None) -> Directive:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DirectiveError(f"{DIRECTIVE_HEADER} is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise DirectiveError(f"{DIRECTIVE_HEADER} must be a JSON object")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise DirectiveError(f"unknown {DIRECTIVE_HEADER} key(s): {', '.join(unknown)}")
        return cls(**{key: _CHECKS[key](key, value) for key, value in data.items()})

    def failure_for(self, entry: int | str | None) -> Failure | None:
        if entry is None or entry == 0:
            return None
        if isinstance(entry, str):
            return Failure(entry, 500 if entry == "midstream" else 0)
        return Failure(self.fail_mode, entry)


def _ms(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise DirectiveError(f"{key} must be a non-negative number of ms, got {value!r}")
    return float(value)


def _count(key: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DirectiveError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _positive(key: str, value: Any) -> int:
    return _count(key, value, 1)


def _fail(key: str, value: Any) -> tuple[int | str | None, ...]:
    if not isinstance(value, list):
        raise DirectiveError(f"{key} must be a list, e.g. [429, 429]")
    for entry in value:
        ok_status = isinstance(entry, int) and not isinstance(entry, bool) and (entry == 0 or entry >= 400)
        ok_mode = isinstance(entry, str) and entry in FAIL_MODES[1:]
        if not (entry is None or ok_status or ok_mode):
            raise DirectiveError(
                f"{key} entries must be 0, null, an HTTP status >= 400 or one of {FAIL_MODES[1:]}"
            )
    return tuple(value)


def _fail_mode(key: str, value: Any) -> str:
    if value not in FAIL_MODES:
        raise DirectiveError(f"{key} must be one of {', '.join(FAIL_MODES)}, got {value!r}")
    return str(value)


def _tool_call(key: str, value: Any) -> str | bool:
    if value is False or (isinstance(value, str) and value):
        return value
    raise DirectiveError(f"{key} must be a tool name or false, got {value!r}")


_CHECKS: dict[str, Any] = {
    "ttft_ms": _ms,
    "itl_ms": _ms,
    "output_tokens": _positive,
    "input_tokens": _positive,
    "cache_read_tokens": _count,
    "cache_write_tokens": _count,
    "reasoning_tokens": _count,
    "tokens_per_chunk": _positive,
    "fail": _fail,
    "fail_mode": _fail_mode,
    "fail_after": _count,
    "hang_ms": _ms,
    "tool_call": _tool_call,
    "stall_ms": _ms,
    "stall_after": _count,
}
