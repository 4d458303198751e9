"""The one boundary where exceptions become error classes, and the handling of our own bugs.

Provider errors are mapped by exception type (walking the MRO, so the most specific class wins), then by a
structured provider error code (Bedrock ``ThrottlingException``, Anthropic ``overloaded_error``) and HTTP
status through the one table every path shares (`tokentrail.errors.classify_error`). Message text is never
read.

An internal error (a bug in tokentrail) must never break the host application: `internal_error` logs it
loudly with a short traceback and returns, so the user's call goes on. Under pytest (``PYTEST_CURRENT_TEST``
is set) or with ``configure(raise_internal_errors=True)`` it re-raises, so tests catch it. On the span
worker's thread (`tokentrail.sdk.worker`) there is no call to raise into: the error is logged and, in those
two cases, kept and raised by the next ``force_flush``.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Mapping
from typing import Final

from tokentrail.errors import classify_error
from tokentrail.model import ErrorClass

log: Final = logging.getLogger("tokentrail")

TypeTable = Mapping[type, "ErrorClass | None"]
"""Exception type -> class; None means "decide by the HTTP status"."""


@functools.cache
def builtin_types() -> Mapping[type, ErrorClass]:
    import asyncio  # here, not at import: it is slow to import and only errors need it

    return {
        TimeoutError: ErrorClass.TIMEOUT,
        ConnectionError: ErrorClass.CONNECTION,
        asyncio.CancelledError: ErrorClass.CANCELLED,
        KeyboardInterrupt: ErrorClass.CANCELLED,
        GeneratorExit: ErrorClass.CANCELLED,
    }


def classify(
    exc: BaseException,
    types: TypeTable,
    code: str | None = None,
    status: int | None = None,
    provider: str | None = None,
) -> ErrorClass:
    """The error class of `exc`: by type, then by provider error code, then by HTTP status."""
    builtin = builtin_types()
    for cls in type(exc).__mro__:
        if cls in types:
            found = types[cls]
            if found is not None:
                return found
            break
        if cls in builtin:
            return builtin[cls]
    return classify_error(code, status, provider)


def internal_error(raises: bool) -> None:
    """Call inside ``except Exception:`` around instrumentation code (never around the user's call)."""
    if raises:
        raise
    exc = sys.exc_info()[1]
    if exc is not None:
        log_internal_error(exc)


def log_internal_error(exc: BaseException) -> None:
    short = "".join(traceback.format_exception(exc, limit=-4))
    log.error("tokentrail internal error; instrumentation skipped, your call is unaffected:\n%s", short)
