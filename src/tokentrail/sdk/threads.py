"""Carry the caller's context into threads: labels, the current trace and span, a ``degraded`` block.

A new thread starts with an empty contextvars context, so calls made in a ``ThreadPoolExecutor`` worker or a
``threading.Thread`` would lose what the code that started them set. ``tokentrail.instrument()`` patches two
methods (on by default; ``configure(propagate_threads=False)`` or ``TOKENTRAIL_PROPAGATE_THREADS=0`` before
``instrument()`` leaves them alone, and ``uninstrument()`` undoes them):

- ``ThreadPoolExecutor.submit`` (``map`` and ``loop.run_in_executor`` go through it): each work item runs in
  a copy of the context current when it was *submitted*, wherever the pool was created;
- ``threading.Thread.start``: the thread's ``run`` (a subclass's own ``run`` too) runs in a copy of the
  context current when it was *started*.

A copy is cheap (contextvars contexts are immutable mappings), and what the thread sets stays in its copy.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tokentrail.sdk.patching import PatchSet


def instrument(patches: PatchSet) -> bool:
    """Patch ``ThreadPoolExecutor.submit`` and ``Thread.start``; False when already patched."""
    changed = patches.apply(ThreadPoolExecutor, "submit", _submit_factory)
    return patches.apply(threading.Thread, "start", _start_factory) or changed


def _submit_factory(orig: Callable[..., Future[Any]]) -> Callable[..., Future[Any]]:
    def submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return orig(self, functools.partial(contextvars.copy_context().run, fn), *args, **kwargs)

    return submit


def _start_factory(orig: Callable[[threading.Thread], None]) -> Callable[[threading.Thread], None]:
    def start(self: threading.Thread) -> None:
        run, context, own = self.run, contextvars.copy_context(), vars(self).get("run")

        def run_in_context() -> None:
            try:
                context.run(run)
            finally:
                _put_back(self, own)  # and no cycle left behind (thread -> closure -> thread)

        self.run = run_in_context  # type: ignore[method-assign]
        try:
            orig(self)
        except BaseException:
            _put_back(self, own)
            raise

    return start


def _put_back(thread: threading.Thread, own: Any) -> None:
    """Restore the thread's own ``run`` attribute (usually none: the class's method)."""
    if own is None:
        vars(thread).pop("run", None)
    else:
        thread.run = own  # type: ignore[method-assign]
