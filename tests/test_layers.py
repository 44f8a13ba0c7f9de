"""The package is a straight stack: each floor imports only its own floor and those below,
no module imports another in a circle, and no module grows past 500 lines.

Floors, lowest first (odebench/__init__.py says what each holds):
core; the experiment packages (mnist, spirals, cnf), which never import each other;
odebench.families, their registry; the products; the pipeline; perf.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "odebench"
MAX_LINES = 500

FLOORS = {
    "core": 0,
    "mnist": 1,
    "spirals": 1,
    "cnf": 1,
    "families": 2,
    "products": 3,
    "pipeline": 4,
    "perf": 5,
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The odebench modules ``name`` imports, anywhere in its body (lazy imports count)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            submodules = {f"{module}.{alias.name}" for alias in node.names}
            found |= (submodules & MODULES.keys()) or {module}
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _floor_of(module: str) -> tuple[str, int] | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # odebench/__init__.py: the public surface, imported lazily
    return parts[1], FLOORS[parts[1]]


def test_every_subpackage_has_a_floor():
    assert {name.split(".")[1] for name in MODULES if "." in name} == set(FLOORS)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if "." in m))
def test_no_module_imports_from_a_higher_floor_or_a_sibling_experiment(module):
    package, floor = _floor_of(module)
    for imported in GRAPH[module]:
        other, other_floor = _floor_of(imported)
        assert other_floor <= floor, f"{module} imports {imported}, a higher floor"
        if floor == 1 and other_floor == 1:
            assert other == package, f"{module} imports {imported}, another experiment"


def test_no_import_cycle():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in GRAPH[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert cycles == []


def test_no_module_is_longer_than_500_lines():
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}  # fmt: skip
    assert long == {}
