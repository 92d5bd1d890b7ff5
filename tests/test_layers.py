"""The package's layers import downwards only.

Every ``import`` / ``from ... import`` of every module of ``lit_mmrec`` (function-level ones included)
is read with ``ast``; a layer (the first package below ``lit_mmrec``) may not import the layers its
rule forbids, and the layers ``data``, ``nn``, ``metrics`` and ``models`` import each other without a
cycle: data in, building blocks and metrics on top, backbones on those. And ``lit_mmrec.callbacks``
exports every class its modules define.
"""

from __future__ import annotations

import ast
import importlib
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.plugins.io import CheckpointIO

import lit_mmrec
import lit_mmrec.callbacks

PACKAGE = Path(lit_mmrec.__file__).parent

#: layer -> the layers it must not import
FORBIDDEN = {
    "data": {"metrics", "models", "nn", "callbacks", "experiments", "cli"},
    "nn": {"models", "callbacks", "experiments", "cli"},
    "metrics": {"models", "callbacks", "experiments", "cli"},
    "models": {"callbacks", "cli", "experiments"},
}
ACYCLIC = ("data", "nn", "metrics", "models")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the ``lit_mmrec`` modules (or names in them) that ``path`` imports."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            found |= {source} | {f"{source}.{alias.name}" for alias in node.names}
    return {module for module in found if module.startswith("lit_mmrec.")}


def layer(module: str) -> str:
    return module.split(".")[1]


def layer_imports() -> dict[str, dict[str, set[str]]]:
    """layer -> imported layer -> the importing modules."""
    edges: dict[str, dict[str, set[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        if source == "lit_mmrec":
            continue
        for target in imported_modules(path):
            if layer(target) != layer(source):
                edges.setdefault(layer(source), {}).setdefault(layer(target), set()).add(source)
    return edges


def test_the_walk_sees_the_known_imports():
    edges = layer_imports()
    assert "lit_mmrec.models.base" in edges["models"]["data"]
    assert "lit_mmrec.models.base" in edges["models"]["metrics"]
    assert {"data", "models"} <= set(edges["cli"])


@pytest.mark.parametrize("source", sorted(FORBIDDEN))
def test_layer_imports_none_of_its_forbidden_layers(source):
    edges = layer_imports().get(source, {})
    wrong = {target: sorted(modules) for target, modules in edges.items() if target in FORBIDDEN[source]}
    assert not wrong, f"lit_mmrec.{source} imports {wrong}"


def test_no_import_cycle_between_the_core_layers():
    edges = layer_imports()
    graph = {source: {t for t in edges.get(source, {}) if t in ACYCLIC} for source in ACYCLIC}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"import cycle between layers: {error.args[1]}")


def test_callbacks_package_exports_every_callback_of_its_modules():
    callbacks = lit_mmrec.callbacks
    defined = set()
    for path in (PACKAGE / "callbacks").glob("*.py"):
        module = importlib.import_module(f"lit_mmrec.callbacks.{path.stem}")
        defined |= {
            name for name, value in vars(module).items()
            if isinstance(value, type) and value.__module__ == module.__name__ and not name.startswith("_")
            and issubclass(value, (L.Callback, CheckpointIO))
        }
    assert defined <= set(callbacks.__all__)
    assert all(getattr(callbacks, name).__name__ == name for name in callbacks.__all__)
