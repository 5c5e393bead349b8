"""The house rules of ARCHITECTURE.md that imports can break: no cycles among module-level imports,
models/ imports neither FastAPI, Dash nor app/, collectors/ never opens the database."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "models", "collectors", "dashboards", "seed_data", "alerts")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    """Modules imported at module level (imports inside functions or TYPE_CHECKING blocks are lazy)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


def _graph() -> dict[str, set[str]]:
    """Who imports whom at module level; a module naming its own package (``from collectors.adapters
    import x12`` inside the package) is the package's own business, not a cycle between rooms."""
    modules = _modules()
    return {
        name: {m for m in _imports(path) if m in modules and m != name and not name.startswith(m + ".")}
        for name, path in modules.items()
    }


def test_module_level_imports_have_no_cycles() -> None:
    graph, cycles = _graph(), []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(" → ".join([*stack[stack.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_models_import_no_web_layer_and_collectors_no_database_connection() -> None:
    for name, path in _modules().items():
        imported = _imports(path)
        if name.startswith("models"):
            assert not {m for m in imported if m.split(".")[0] in ("fastapi", "dash", "app", "dashboards")}, name
        if name.startswith("collectors"):  # table definitions may shape Arrow schemas; connections are the writer's
            assert not {m for m in imported if m.startswith(("models.store.db", "duckdb", "sqlalchemy.engine"))}, name


def test_the_checks_see_the_tree() -> None:
    graph = _graph()
    assert len(graph) > 80 and "app.services.replay.deliver" in graph["app.services.replay"]
