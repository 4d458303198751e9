"""The package's shape: imports run only down the layers, no import circle, short functions.

The import graph is read from the source with `ast` (every `import`, including those inside functions and
under `TYPE_CHECKING`), so a lazy import cannot hide an arrow that runs up.
"""

from __future__ import annotations

import ast
import statistics
from collections.abc import Iterator
from pathlib import Path

import tokentrail

PACKAGE = Path(tokentrail.__file__).parent

# Top to bottom. A module may import from its own component and from any component in a lower layer only.
LAYERS: list[set[str]] = [
    {"__init__", "__main__"},
    {"cli"},
    {"demo", "server", "replay"},
    {"alerts", "ingest", "archive", "retention"},
    {"query", "samples", "experiments", "exporters"},
    {"analytics", "pricing", "budgets", "keys", "prompts", "render", "sdk"},
    {"store", "pricing_overrides", "usage", "simulator"},
    {"errors"},
    {"model", "semconv", "settings", "times"},
    {"exceptions"},
]
SDK_MAY_IMPORT = {"sdk", "model", "semconv", "usage", "errors", "exceptions"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("tokentrail", *path.relative_to(PACKAGE).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _resolve(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        targets = {_resolve(t) for t in _imported(name, path) if t.startswith("tokentrail")}
        graph[name] = {t for t in targets if t and t != name}
    return graph


def _component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _target_component(module: str) -> str:
    """The component an import reaches; `import tokentrail` reaches the SDK, which the root re-exports."""
    return "sdk" if module == "tokentrail" else _component(module)


def _layer(component: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if component in layer)


def test_every_component_has_a_layer() -> None:
    components = {_component(name) for name in MODULES}
    placed = set().union(*LAYERS)
    assert components - placed == set(), "put each new top-level module in LAYERS"


def test_imports_only_run_down_the_layers() -> None:
    upward = []
    for module, targets in _graph().items():
        here = _component(module)
        for target in targets:
            there = _target_component(target)
            if there != here and _layer(there) <= _layer(here):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_the_sdk_depends_on_nothing_but_its_base() -> None:
    outside = {
        f"{module} -> {target}"
        for module, targets in _graph().items()
        if _component(module) == "sdk"
        for target in targets
        if _target_component(target) not in SDK_MAY_IMPORT
    }
    assert outside == set()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_there_is_no_import_circle() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _function_lengths() -> dict[str, int]:
    lengths = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lengths[f"{name}:{node.lineno} {node.name}"] = node.end_lineno - node.lineno + 1
    return lengths


def test_functions_are_short() -> None:
    lengths = _function_lengths()
    assert {where: n for where, n in lengths.items() if n > 40} == {}
    assert statistics.quantiles(lengths.values(), n=10)[-1] <= 20
