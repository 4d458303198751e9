"""The SDK's modules import each other in one direction only: no circle, counting the imports made inside
functions and under ``TYPE_CHECKING`` too."""

from __future__ import annotations

import ast
from pathlib import Path

import tokentrail.sdk

PACKAGE = "tokentrail.sdk"


def sdk_imports() -> dict[str, set[str]]:
    """Each module of `tokentrail.sdk` -> the modules of `tokentrail.sdk` it imports anywhere."""
    folder = Path(tokentrail.sdk.__file__).parent
    modules = {f"{PACKAGE}.{path.stem}": path for path in folder.glob("*.py") if path.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        named: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                named.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                named.add(node.module)
                named.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {other for other in named if other in modules and other != name}
    return graph


def circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` (its modules in order), or None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for other in sorted(graph[name]):
            found = visit(other, [*path, name])
            if found:
                return found
        done.add(name)
        return None

    return next((found for name in sorted(graph) if (found := visit(name, [])) is not None), None)


def test_the_sdk_has_no_import_circle() -> None:
    graph = sdk_imports()
    assert f"{PACKAGE}.call" in graph and f"{PACKAGE}.stream" in graph[f"{PACKAGE}.call"]
    assert circle(graph) is None


def test_the_check_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circle(graph) == ["a", "b", "c", "a"]
    assert circle({"a": {"b"}, "b": set()}) is None
