"""Read fields alike from SDK models (attributes) and plain JSON (dicts), so one reader serves both."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def as_mapping(obj: Any) -> Mapping[str, Any]:
    """A plain mapping of a usage object, two levels deep (pydantic fields and extra fields alike).

    Cheaper than ``model_dump()`` (this runs once per call, on the caller's time)."""
    if isinstance(obj, dict | Mapping):  # a dict's check is the cheap one
        return obj
    fields = getattr(obj, "__dict__", None)
    if fields is None:
        return {}
    out = {**fields, **(getattr(obj, "__pydantic_extra__", None) or {})}
    for key, value in out.items():
        nested = getattr(value, "__dict__", None)
        if nested is not None and not isinstance(value, type):
            out[key] = {**nested, **(getattr(value, "__pydantic_extra__", None) or {})}
    return out


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
