"""The design the package keeps: one-way layers, no import cycles, no hidden edges.

The layer order itself is an import-linter contract (``.importlinter``, run by ``lint-imports`` in
``make test``; function-level imports count). This file checks what a contract cannot say:

- every top-level module and subpackage is in a layer of the contract (a new one goes into
  ``.importlinter`` and docs/architecture.md);
- ``from runway_for_ml import X`` counts as an import of the module that defines ``X`` (the contract
  only sees an import of the root package): those edges flow one way too;
- no import cycle between modules, counting imports inside functions (grimp reads every import
  statement; only ``if TYPE_CHECKING:`` imports, which never run, are left out);
- no module imports a name from its own package's ``__init__`` (which re-exports the package's
  modules: a hidden cycle, even when the import is lazy).
"""

from __future__ import annotations

import ast
import configparser
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grimp
import networkx as nx

import runway_for_ml

PACKAGE = Path(runway_for_ml.__file__).parent
CONTRACTS = PACKAGE.parent / ".importlinter"


def _contract_layers() -> list[set[str]]:
    """The layers of the import-linter contract, bottom to top (``pkg``: the root ``__init__``, on top)."""
    parser = configparser.ConfigParser()
    parser.read(CONTRACTS)
    lines = [line.strip() for line in parser["importlinter:contract:layers"]["layers"].splitlines() if line.strip()]
    layers = [{name.strip() for name in line.replace("|", ":").split(":")} for line in reversed(lines)]
    layers[-1].add("pkg")
    return layers


LAYERS = _contract_layers()
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    module_level: bool  # False: inside a function, or under `if TYPE_CHECKING:`
    from_own_init: bool  # a name taken from the package __init__ that holds `src`
    via_root: bool = False  # `from runway_for_ml import X`: resolved to the module defining X


def _layer(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts or parts[0] == "__init__":
        return "pkg"
    return parts[0]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("runway_for_ml", *parts))


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


class _Imports(ast.NodeVisitor):
    """Collect (target, name or None, module_level) for every import, noting where it sits."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str | None, bool, int]] = []
        self._depth = 0

    def _nested(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested

    def visit_If(self, node: ast.If) -> None:
        test = ast.unparse(node.test)
        if test in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            self._nested(node)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, None, self._depth == 0, 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            self.found.append((node.module or "", alias.name, self._depth == 0, node.level))


def _edges() -> Iterator[Edge]:
    exports = runway_for_ml._EXPORTS
    for path in PACKAGE.rglob("*.py"):
        if "project_template" in path.parts or path.parent.name.startswith("project_template"):
            continue
        module = _module_name(path)
        package = _package_of(module, path)
        visitor = _Imports()
        visitor.visit(ast.parse(path.read_text()))
        for target, name, module_level, level in visitor.found:
            if level:  # relative import: resolve against the package
                base = package.split(".")
                base = base[: len(base) - (level - 1)]
                target = ".".join([*base, target] if target else base)
            if target != "runway_for_ml" and not target.startswith("runway_for_ml."):
                continue
            from_own_init = via_root = False
            if name is not None and _is_module(f"{target}.{name}"):
                dst = f"{target}.{name}"
            elif target == "runway_for_ml" and name in exports:
                dst = exports[name]  # `from runway_for_ml import X`: the module that defines X
                via_root = True
            else:
                dst = target
                from_own_init = name is not None and target == package and target != "runway_for_ml"
            if dst != module:
                yield Edge(module, dst, module_level, from_own_init, via_root)


def test_every_module_belongs_to_a_layer():
    names = {path.stem for path in PACKAGE.glob("*.py") if path.name != "__init__.py"}
    names |= {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    unknown = names - set(RANK)
    assert not unknown, f"add these to a layer in .importlinter and docs/architecture.md: {sorted(unknown)}"


def test_names_taken_from_the_root_package_only_go_down():
    # import-linter sees `from runway_for_ml import Experiment` as an import of the root package;
    # the edge that matters is to the module that defines the name.
    upward = [f"{e.src} imports {e.dst}" for e in _edges() if e.via_root and RANK[_layer(e.dst)] > RANK[_layer(e.src)]]
    assert not upward, "imports must flow one way (see docs/architecture.md):\n" + "\n".join(sorted(set(upward)))


def _import_cycles(package: str) -> list[str]:
    """Every import cycle among ``package``'s modules, function-level imports included."""
    found = grimp.build_graph(package, include_external_packages=False, exclude_type_checking_imports=True)
    graph = nx.DiGraph((m, d) for m in found.modules for d in found.find_modules_directly_imported_by(m))
    return sorted(" -> ".join([*c, c[0]]) for c in nx.simple_cycles(graph))


def test_no_import_cycles_even_inside_functions():
    # A lazy import only hides a cycle: move the shared piece to the module it belongs to instead.
    cycles = _import_cycles("runway_for_ml")
    assert not cycles, "import cycles (function-level imports count):\n" + "\n".join(cycles)


def test_the_cycle_check_sees_function_level_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "cyc_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyc_pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyc_pkg.a import x\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cyc_pkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _import_cycles("cyc_pkg") in (
        ["cyc_pkg.a -> cyc_pkg.b -> cyc_pkg.a"],
        ["cyc_pkg.b -> cyc_pkg.a -> cyc_pkg.b"],
    )


def test_no_module_takes_names_from_its_own_package_init():
    hidden = sorted({f"{e.src} imports from {e.dst}/__init__" for e in _edges() if e.from_own_init})
    assert not hidden, "import from the defining module instead (hidden cycle):\n" + "\n".join(hidden)


def test_the_checks_see_the_edges_they_guard(tmp_path):
    # The resolver must see through `from runway_for_ml import X` and relative imports, or the
    # checks above could pass on code that breaks them.
    source = (
        "from runway_for_ml import Experiment\n"
        "from . import transform\n"
        "from runway_for_ml.pipeline import TRANSFORMS\n"
        "def f():\n    import runway_for_ml.cli.main\n"
    )
    visitor = _Imports()
    visitor.visit(ast.parse(source))
    assert visitor.found == [
        ("runway_for_ml", "Experiment", True, 0),
        ("", "transform", True, 1),
        ("runway_for_ml.pipeline", "TRANSFORMS", True, 0),
        ("runway_for_ml.cli.main", None, False, 0),
    ]
    assert runway_for_ml._EXPORTS["Experiment"].startswith("runway_for_ml.experiment.")
    assert _is_module("runway_for_ml.pipeline.transform") and not _is_module("runway_for_ml.pipeline.TRANSFORMS")
