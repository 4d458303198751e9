"""The public API is exactly `__all__`, sorted, and every name in it exists (as in httpx's test)."""

from __future__ import annotations

import tokentrail


def test_all_is_sorted_and_complete() -> None:
    assert tokentrail.__all__ == sorted(tokentrail.__all__)
    public = {name for name in vars(tokentrail) if not name.startswith("_")}
    public -= {"annotations"}  # `from __future__ import annotations` if ever added
    modules = {name for name in public if type(getattr(tokentrail, name)).__name__ == "module"}
    assert public - modules == set(tokentrail.__all__)


def test_module_functions_are_bound_to_the_default_instance() -> None:
    from tokentrail.sdk.instance import DEFAULT

    for name in (
        "configure",
        "instrument",
        "uninstrument",
        "labels",
        "trace",
        "tool",
        "degraded",
        "sdk_stats",
        "budget_guard",
        "refresh_budgets",
    ):
        assert getattr(tokentrail, name).__self__ is DEFAULT
