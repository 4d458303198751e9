"""One exception tree: every exception class of the project (the simulator aside) derives from
TokentrailError, and no two share a name."""

from __future__ import annotations

import importlib
import pkgutil

import tokentrail
from tokentrail.exceptions import TokentrailError


def project_exceptions() -> list[type[BaseException]]:
    for module in pkgutil.walk_packages(tokentrail.__path__, "tokentrail."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found, todo = [], [BaseException]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("tokentrail."):
                found.append(sub)
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def test_every_exception_is_in_the_tree_except_the_simulators() -> None:
    outside = [
        f"{c.__module__}.{c.__qualname__}"
        for c in project_exceptions()
        if not issubclass(c, TokentrailError) and not c.__module__.startswith("tokentrail.simulator.")
    ]
    assert outside == []


def test_no_two_exception_classes_share_a_name() -> None:
    names = [c.__name__ for c in project_exceptions()]
    assert len(names) > 40
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


def test_value_and_lookup_errors_keep_their_builtin_bases() -> None:
    from tokentrail.alerts.backtest import UnknownRule
    from tokentrail.experiments.data import NotFound
    from tokentrail.query import QueryError
    from tokentrail.settings import SettingsError

    assert all(issubclass(c, ValueError) for c in (QueryError, SettingsError))
    assert all(issubclass(c, LookupError) for c in (UnknownRule, NotFound))
