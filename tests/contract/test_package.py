"""The package's shape, computed from its source: who reads the environment, and the import graph."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import ROOT

PACKAGE = ROOT / "mlci"


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(), filename=str(path))
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Return every node that can execute: all of them except the bodies of `if TYPE_CHECKING:`."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)
    return out


def import_graph() -> dict[str, set[str]]:
    """Return each mlci module's runtime imports of other mlci modules (module- and function-level).

    Function-level imports count: they are how the old pipelines<->deploy cycle hid, and a cycle
    of lazy imports is still two modules that cannot be understood or changed apart. Imports under
    `if TYPE_CHECKING:` do not count: they never execute and only name types for annotations.
    A package's own `__init__` is not an edge target when a submodule is named, because Python
    imports the parent first by design. mlci's own `__getattr__` (the lazy `mlci.Project`) is not
    an edge either: it runs when a user asks for `mlci.Project`, never when a module imports
    `mlci.__version__`.
    """
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, tree in modules.items():
        # The package a relative import is anchored to: the module itself when it is an __init__.
        is_package = (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").exists()
        package = name if is_package else name.rpartition(".")[0]
        lazy = {
            id(inner)
            for node in ast.walk(tree)
            if name == "mlci" and isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
            for inner in ast.walk(node)
        }
        for node in _runtime_nodes(tree):
            if id(node) in lazy:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith("mlci"):
                    graph[name].add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_package_import_graph_has_no_cycles():
    graph = import_graph()
    # The graph sees function-level imports (the CLI imports everything lazily).
    assert {"mlci.flows.check", "mlci.flows.release", "mlci.flows.deploy"} <= graph["mlci.project"]
    assert find_cycles(graph) == []


def test_the_cycle_finder_finds_a_lazy_import_cycle():
    # The shape of the old pipelines <-> deploy cycle: both imports inside functions.
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert find_cycles(graph) == [["a", "b"]]


def _reads_environment(tree: ast.AST) -> list[int]:
    """Return the lines that touch the process environment: os.environ, os.getenv, os.putenv."""
    names = ("environ", "environb", "getenv", "putenv", "unsetenv")
    lines = []
    for node in ast.walk(tree):
        attribute = isinstance(node, ast.Attribute) and node.attr in names
        imported = isinstance(node, ast.ImportFrom) and node.module == "os" and any(a.name in names for a in node.names)
        if attribute or imported:
            lines.append(node.lineno)
    return lines


def test_no_module_below_the_cli_reads_the_process_environment():
    readers = {name: lines for name, tree in _modules().items() if (lines := _reads_environment(tree))}
    assert readers and all(name.startswith("mlci.cli.") for name in readers), readers


def test_results_have_one_serialiser_not_hand_written_pairs():
    # mlci._internal.serial (pydantic) serialises every typed result; a to_dict/from_dict/_jsonable
    # written by hand per class is how the report document drifted from its readers.
    hand_written = [
        f"{name}:{node.lineno} {node.name}"
        for name, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name in ("to_dict", "from_dict", "_jsonable")
    ]
    assert hand_written == []
