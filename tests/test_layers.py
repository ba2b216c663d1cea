"""The layers contract (docs/architecture.md): crl's packages import downwards only, and no modules in a circle.

Read from the source with `ast`, so the test sees imports inside functions too (a lazy import still couples
two modules; hiding one in a function is how the old flat layout grew its seven-module circle).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CRL = ROOT / "crl"

# Lowest first. A module may import from its own package and from any package on a lower line; packages that
# share a line are independent of each other.
LAYERS: list[tuple[str, ...]] = [
    ("errors",),
    ("graphs", "viz"),
    ("config",),
    ("data",),
    ("core",),
    ("engine",),
    ("runs",),
    ("analysis",),
    ("jobs",),
    ("cli",),
    ("ui",),
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def _modules() -> dict[str, Path]:
    found = {}
    for path in CRL.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The longest crl module that `name` (a module or a name inside one) refers to."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    """Every crl module that `module` imports, anywhere in its body."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(
                filter(None, (_resolve(alias.name) for alias in node.names if alias.name.startswith("crl")))
            )
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source == "crl" or source.startswith("crl."):
                for alias in node.names:
                    target = _resolve(f"{source}.{alias.name}")
                    targets.add(target if target != source or f"{source}.{alias.name}" in MODULES else source)
    targets.discard(module)
    targets.discard("crl")  # the root package only re-exports; nothing inside crl imports through it
    return targets


GRAPH = {module: _imports(module) for module in MODULES}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_package_has_a_layer():
    packages = {_package(m) for m in MODULES} - {None}
    assert packages - set(RANK) == set(), "add the new package to LAYERS (and to docs/architecture.md)"


def test_imports_point_down_only():
    upward = []
    for module, targets in GRAPH.items():
        own = _package(module)
        if own is None:
            continue
        for target in targets:
            other = _package(target)
            if other is not None and other != own and RANK[other] >= RANK[own]:
                upward.append(f"{module} imports {target}")
    assert sorted(upward) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
