"""The package's layers, computed from the source: imports point down only.

Each layer may import the layers below it, never one above. Module-level and function-level
imports count (a lazy import is still a dependency); imports under `if TYPE_CHECKING:` do not
(they only name types). docs/architecture.md draws the same stack.
"""

from __future__ import annotations

import ast
import re

from tests.support.paths import ROOT

PACKAGE = ROOT / "mlci"

# Top to bottom. Packages on one line are one layer (they may import each other; the cycle test
# keeps them from importing in circles).
LAYERS: list[tuple[str, ...]] = [
    ("mlci.cli", "mlci.__main__"),
    ("mlci.project",),
    ("mlci.flows",),
    ("mlci.report",),
    ("mlci.signing",),
    ("mlci.github",),
    ("mlci.registry",),
    ("mlci.modeling", "mlci.transformers"),
    ("mlci.data",),
    ("mlci.storage",),
    ("mlci.config",),
    ("mlci.stats",),
    ("mlci.contracts",),
    ("mlci.errors", "mlci._internal", "mlci"),
]


def layer_of(module: str) -> int:
    """Return the index of the layer `module` belongs to (the longest matching package wins)."""
    best: tuple[int, int] | None = None
    for index, packages in enumerate(LAYERS):
        for package in packages:
            if (module == package or module.startswith(package + ".")) and (best is None or len(package) > best[1]):
                best = (index, len(package))
    assert best is not None, f"{module} is in no layer: add its package to LAYERS (and docs/architecture.md)"
    return best[0]


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Return (line, module) of each runtime import of an mlci module (not under `if TYPE_CHECKING:`)."""
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mlci" and not node.level:
            names = [f"mlci.{a.name}" for a in node.names] if node.module == "mlci" else [node.module]
            found += [(node.lineno, name) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "mlci"]
    return found


def upward_imports(sources: dict[str, str]) -> list[str]:
    """Return `module:line imports target` for each import of a higher layer, in `sources` (module -> text)."""
    problems = []
    for module, text in sorted(sources.items()):
        tree = ast.parse(text)
        # The package's own lazy `mlci.Project` (its __getattr__) is the front door, not a dependency.
        lazy = {
            line
            for node in ast.walk(tree)
            if module == "mlci" and isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
        }
        own = layer_of(module)
        for line, target in _imports(tree):
            if target == "mlci.__version__" or line in lazy:
                continue
            if layer_of(target) < own:
                problems.append(f"{module}:{line} imports {target} (layer {layer_of(target)} above {own})")
    return problems


def package_sources() -> dict[str, str]:
    """Return every module of the mlci package by dotted name, with its text."""
    sources = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        sources[name] = path.read_text()
    return sources


def test_every_import_points_down_the_layers():
    assert upward_imports(package_sources()) == []


def test_an_upward_import_is_caught_at_module_and_function_level():
    sources = package_sources()
    sources["mlci.stats.gates"] += "\nfrom mlci.flows.check import check\n"
    sources["mlci.data.tables"] += "\n\ndef later():\n    from mlci.cli.app import main\n"
    problems = upward_imports(sources)
    assert any(p.startswith("mlci.stats.gates:") and "mlci.flows.check" in p for p in problems), problems
    assert any(p.startswith("mlci.data.tables:") and "mlci.cli.app" in p for p in problems), problems
    # A type-only import names a type; it does not make a dependency.
    sources = package_sources()
    sources["mlci.stats.gates"] += (
        "\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mlci.flows.check import check\n"
    )
    assert upward_imports(sources) == []


def test_at_most_six_modules_sit_directly_under_the_package():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 6, top


def test_every_package_of_mlci_has_a_layer():
    for name in package_sources():
        layer_of(name)


def test_the_architecture_map_lists_every_module_and_only_files_that_exist():
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    modules = {str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")}
    listed = set(re.findall(r"^(mlci/\S+\.py)\s", text, flags=re.M))
    assert modules - listed == set(), "docs/architecture.md does not list these modules"
    assert listed - modules == set(), "docs/architecture.md lists modules that do not exist"
    assert "DESIGN.md" not in text and "../" not in text  # the map names nothing outside the repository
