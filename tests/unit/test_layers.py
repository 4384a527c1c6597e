"""The design the package keeps: one-way layers, no import cycles, no hidden edges.

- Imports flow one way: a module imports only its own layer or lower ones (lazy imports included).
  ``from runway_for_ml import X`` counts as an import of the module that defines ``X``.
- No module-level import cycle between modules (a cycle makes import order matter).
- No module imports a name from its own package's ``__init__`` (which re-exports the package's
  modules: a hidden cycle, even when the import is lazy).

The layers, bottom to top, are listed in docs/architecture.md. One upward edge is sanctioned: the
SLURM job (``launcher.job``) replays a CLI command in-process on the compute node, so that submitit's
signal handling and the running Trainer share one process. A new top-level module or subpackage
goes into LAYERS (and docs/architecture.md).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

import runway_for_ml

LAYERS = [
    {"errors", "version", "registry", "atomic", "progress", "original_paths", "lazy"},
    {"project"},
    {"config"},
    {"pipeline", "data_module", "data_ops"},
    {"executors", "metrics", "loggers", "utils"},
    {"experiment"},
    {"launcher"},
    {"serving"},
    {"cli", "demo", "pkg"},
]
ALLOWED_UPWARD = {("runway_for_ml.launcher.job", "runway_for_ml.cli.main")}
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
PACKAGE = Path(runway_for_ml.__file__).parent


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    module_level: bool  # False: inside a function, or under `if TYPE_CHECKING:`
    from_own_init: bool  # a name taken from the package __init__ that holds `src`


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
            from_own_init = False
            if name is not None and _is_module(f"{target}.{name}"):
                dst = f"{target}.{name}"
            elif target == "runway_for_ml" and name in exports:
                dst = exports[name]  # `from runway_for_ml import X`: the module that defines X
            else:
                dst = target
                from_own_init = name is not None and target == package and target != "runway_for_ml"
            if dst != module:
                yield Edge(module, dst, module_level, from_own_init)


def test_every_module_belongs_to_a_layer():
    unknown = {_layer(e.src) for e in _edges()} | {_layer(e.dst) for e in _edges()}
    assert not unknown - set(RANK), f"add these to a layer in LAYERS and docs/architecture.md: {unknown - set(RANK)}"


def test_imports_only_go_down():
    upward = [
        f"{e.src} imports {e.dst}"
        for e in _edges()
        if RANK[_layer(e.dst)] > RANK[_layer(e.src)] and (e.src, e.dst) not in ALLOWED_UPWARD
    ]
    assert not upward, "imports must flow one way (see docs/architecture.md):\n" + "\n".join(sorted(set(upward)))


def test_no_module_level_import_cycles():
    graph = nx.DiGraph((e.src, e.dst) for e in _edges() if e.module_level)
    cycles = [" -> ".join([*c, c[0]]) for c in nx.simple_cycles(graph)]
    assert not cycles, "module-level import cycles:\n" + "\n".join(sorted(cycles))


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
