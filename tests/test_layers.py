"""The package's layers: imports run only downward (book; chapters and bench; lottery; engine; then
the top modules), with no circle among modules, inside functions included."""

import ast
from pathlib import Path

import lt_utils

PACKAGE = Path(lt_utils.__file__).parent
LAYERS = {"errors": 0, "validation": 0, "atomic": 0, "engine": 1, "lottery": 2, "chapters": 3, "bench": 3, "book": 4}
"""Each top-level module or sub-package and its layer: a module imports only its own layer or lower."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every lt_utils module and the lt_utils modules it imports, anywhere in its body."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lt_utils"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("lt_utils")}
        graph[name] = {m for m in found if m != name}
    return graph


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_every_top_level_module_and_sub_package_has_a_layer():
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | {
        p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert names == set(LAYERS)
    assert len([p for p in PACKAGE.glob("*.py") if p.stem != "__init__"]) <= 6


def test_imports_run_only_downward():
    upward = [(m, d) for m, deps in _imports().items() for d in deps
              if _layer(m) is not None and _layer(d) is not None and _layer(d) > _layer(m)]
    assert upward == []


def test_no_import_circle():
    graph = _imports()
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                circles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []
