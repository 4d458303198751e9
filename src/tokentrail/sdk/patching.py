"""Reversible, idempotent method patches, at class level (every client) or on one client instance.

A wrapper carries its `Patch` record as ``__tokentrail_patch__``, so patching twice is a no-op and a patch is
recognised without any module-level registry. A wrapper factory receives the original *unbound* function
(``orig(self, *args)``) and returns the unbound wrapper; on an instance it is bound with `MethodType`.
An instance patch wraps the class's *original* function (a class-level wrapper is unwrapped first), so a
client patched both ways is recorded once.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from types import MethodType
from typing import Any, Final

from tokentrail.sdk.errors import log

MARK: Final = "__tokentrail_patch__"
_MISSING: Final = object()

Factory = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclasses.dataclass(slots=True)
class Patch:
    owner: Any
    name: str
    previous: Any  # the value in the owner's own __dict__ before, or _MISSING
    wrapper: Any
    patch_set: PatchSet


def unwrap(fn: Any) -> Any:
    """The original function under any tokentrail wrappers."""
    while getattr(fn, MARK, None) is not None:
        fn = fn.__wrapped__
    return fn


def patch_of(owner: Any, name: str) -> Patch | None:
    value = vars(owner).get(name)
    if isinstance(value, MethodType):
        value = value.__func__
    found = getattr(value, MARK, None)
    return found if isinstance(found, Patch) else None


class PatchSet:
    """The patches one tokentrail instance applied; `revert` undoes them all."""

    def __init__(self) -> None:
        self._patches: list[Patch] = []

    def apply(self, owner: Any, name: str, factory: Factory) -> bool:
        """Wrap ``owner.name``; False when this set already did. Another instance's patch is replaced."""
        existing = patch_of(owner, name)
        if existing is not None:
            if existing.patch_set is self:
                return False
            existing.patch_set.revert_one(existing)
        previous = vars(owner).get(name, _MISSING)
        is_class = isinstance(owner, type)
        original = unwrap(getattr(owner, name) if is_class else getattr(type(owner), name))
        wrapper = factory(original)
        functools.update_wrapper(wrapper, original)
        patch = Patch(owner, name, previous, None, self)
        setattr(wrapper, MARK, patch)
        patch.wrapper = wrapper if is_class else MethodType(wrapper, owner)
        setattr(owner, name, patch.wrapper)
        self._patches.append(patch)
        return True

    def revert_one(self, patch: Patch) -> None:
        if patch in self._patches:
            self._patches.remove(patch)
        if vars(patch.owner).get(patch.name) is not patch.wrapper:
            log.warning(
                "tokentrail: %r.%s was re-patched by someone else; left as is", patch.owner, patch.name
            )
            return
        if patch.previous is _MISSING:
            delattr(patch.owner, patch.name)
        else:
            setattr(patch.owner, patch.name, patch.previous)

    def revert(self) -> int:
        count = 0
        for patch in reversed(list(self._patches)):
            self.revert_one(patch)
            count += 1
        return count

    def __len__(self) -> int:
        return len(self._patches)
