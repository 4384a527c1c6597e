"""Design rules of the package's source that the import contracts cannot state.

- No private name crosses a module boundary: ``from runway_for_ml.x import _name`` (or
  ``x._name`` on an imported runway_for_ml module) in any module other than ``x``. A name two modules
  share is part of a concept's API: public, or the code moves to where it is used.
- Function-level imports only for heavy or optional libraries: a function-level import of one of the
  package's own modules is a defect when that module loads no third-party library the importer does
  not load already (the check follows module-level imports, statically); it belongs at module level.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

import runway_for_ml

PACKAGE = Path(runway_for_ml.__file__).parent

# (importing module, "defining.module._name"): the few crossings kept on purpose, each with its reason.
ALLOWED_PRIVATE_IMPORTS: dict[tuple[str, str], str] = {}


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(root: Path, dotted: str) -> bool:
    rel = Path(*dotted.split("."))
    return (root.parent / rel).with_suffix(".py").is_file() or (root.parent / rel / "__init__.py").is_file()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(root: Path) -> list[tuple[str, str, int]]:
    """``(importer, "module._name", line)`` for every private name one module takes from another in ``root``."""
    top = root.name
    found: list[tuple[str, str, int]] = []
    for path in sorted(root.rglob("*.py")):
        if any(part.startswith("project_template") for part in path.parts):
            continue
        module = _module_name(path, root)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules: dict[str, str] = {}  # local name -> the package module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = node.module or ""
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join([*base, target] if target else base)
                if target != top and not target.startswith(top + "."):
                    continue
                for alias in node.names:
                    if _private(alias.name) and target != module:
                        found.append((module, f"{target}.{alias.name}", node.lineno))
                    elif _is_module(root, f"{target}.{alias.name}"):
                        modules[alias.asname or alias.name] = f"{target}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == top or alias.name.startswith(top + "."):
                        if alias.asname:
                            modules[alias.asname] = alias.name
                        else:
                            modules[top] = top
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            owner = ast.unparse(node.value)
            head, _, rest = owner.partition(".")
            if head not in modules:
                continue
            dotted = modules[head] + ("." + rest if rest else "")
            if dotted != module and _is_module(root, dotted):
                found.append((module, f"{dotted}.{node.attr}", node.lineno))
    return found


def test_no_private_name_crosses_a_module_boundary():
    crossings = [c for c in private_imports(PACKAGE) if (c[0], c[1]) not in ALLOWED_PRIVATE_IMPORTS]
    lines = sorted({f"{importer}:{line} takes {name}" for importer, name, line in crossings})
    assert not lines, (
        f"{len(lines)} private name(s) used across modules; make the shared name public (a concept's API) "
        "or move the code to where it is used:\n" + "\n".join(lines)
    )


def test_allowed_private_imports_are_still_used():
    used = {(c[0], c[1]) for c in private_imports(PACKAGE)}
    stale = sorted(set(ALLOWED_PRIVATE_IMPORTS) - used)
    assert not stale, f"remove these from ALLOWED_PRIVATE_IMPORTS: {stale}"


def test_the_private_import_check_sees_both_forms(tmp_path):
    pkg = tmp_path / "priv_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("_x = 1\ny = 2\n\n\ndef _own():\n    return _x\n")
    (pkg / "sub" / "b.py").write_text("from priv_pkg.sub.a import _x, y\nfrom . import a\n\nz = a._own() + a.y\n")
    (pkg / "c.py").write_text("import priv_pkg.sub.a as m\nfrom .sub.a import y\n\nw = m._x + y\n")
    found = sorted((importer, name) for importer, name, _ in private_imports(pkg))
    assert found == [
        ("priv_pkg.c", "priv_pkg.sub.a._x"),
        ("priv_pkg.sub.b", "priv_pkg.sub.a._own"),
        ("priv_pkg.sub.b", "priv_pkg.sub.a._x"),
    ]


# --- Function-level imports are for heavy or optional libraries only ---------------------------------

# (importing module, imported module): function-level imports of a light module kept on purpose.
ALLOWED_LAZY_IMPORTS: dict[tuple[str, str], str] = {
    ("runway_for_ml.launcher.job", "runway_for_ml.cli.main"): (
        "the one sanctioned upward edge (.importlinter): a SLURM job replays the command in-process"
    ),
}
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


@dataclass
class _ModuleImports:
    module_level: set[str] = field(default_factory=set)  # package modules and third-party top-level names
    in_functions: list[tuple[list[str], int]] = field(default_factory=list)  # (package modules, line)


class _ImportPlaces(ast.NodeVisitor):
    def __init__(self, root: Path, module: str, package: str) -> None:
        self.root, self.module, self.package = root, module, package
        self.found = _ModuleImports()
        self._depth = 0

    def _nested(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested

    def visit_If(self, node: ast.If) -> None:
        if ast.unparse(node.test) not in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):  # annotations never run
            self.generic_visit(node)

    def _add(self, targets: list[str], line: int) -> None:
        top = self.root.name
        ours = [t for t in targets if t == top or t.startswith(top + ".")]
        if self._depth:
            if ours:
                self.found.in_functions.append((ours, line))
            return
        self.found.module_level.update(ours)
        self.found.module_level.update(t.split(".")[0] for t in targets if t not in ours)

    def visit_Import(self, node: ast.Import) -> None:
        self._add([alias.name for alias in node.names], node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        target = node.module or ""
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - (node.level - 1)]
            target = ".".join([*base, target] if target else base)
        names = [f"{target}.{a.name}" if _is_module(self.root, f"{target}.{a.name}") else target for a in node.names]
        self._add(names, node.lineno)


def _import_places(root: Path) -> dict[str, _ModuleImports]:
    places: dict[str, _ModuleImports] = {}
    for path in sorted(root.rglob("*.py")):
        if any(part.startswith("project_template") for part in path.parts):
            continue
        module = _module_name(path, root)
        visitor = _ImportPlaces(root, module, module if path.name == "__init__.py" else module.rpartition(".")[0])
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        places[module] = visitor.found
    return places


def light_lazy_imports(root: Path) -> list[tuple[str, str, int]]:
    """``(importer, imported, line)``: a function-level import of a package module that loads no
    third-party library the importer does not load already (so it could sit at module level)."""
    places = _import_places(root)

    def deps(module: str) -> set[str]:  # what importing `module` runs first: its packages, its module-level imports
        parts = module.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts))} | places[module].module_level

    libraries: dict[str, set[str]] = {}

    def libs(module: str) -> set[str]:  # third-party libraries loaded by importing `module` (reachability)
        if module not in libraries:
            seen, todo, found_libs = {module}, [module], set()
            while todo:
                for dep in deps(todo.pop()):
                    if dep in places and dep not in seen:
                        seen.add(dep)
                        todo.append(dep)
                    elif dep not in places and dep.split(".")[0] not in STDLIB and dep.split(".")[0] != root.name:
                        found_libs.add(dep)
            libraries[module] = found_libs
        return libraries[module]

    found = []
    for module, imports in places.items():
        for targets, line in imports.in_functions:
            light = [t for t in targets if t in places and t != module and not libs(t) - libs(module)]
            found.extend((module, target, line) for target in light)
    return found


def test_function_level_imports_are_for_heavy_libraries_only():
    lazy = [c for c in light_lazy_imports(PACKAGE) if (c[0], c[1]) not in ALLOWED_LAZY_IMPORTS]
    lines = sorted({f"{importer}:{line} imports {imported}" for importer, imported, line in lazy})
    assert not lines, (
        f"{len(lines)} function-level import(s) of light package modules: import them at module level "
        "(only torch, Lightning, datasets, transformers, wandb, ... are imported where they are used):\n"
        + "\n".join(lines)
    )


def test_allowed_lazy_imports_are_still_lazy():
    found = light_lazy_imports(PACKAGE)
    stale = sorted(set(ALLOWED_LAZY_IMPORTS) - {(c[0], c[1]) for c in found})
    assert not stale, f"remove these from ALLOWED_LAZY_IMPORTS: {stale}"


def test_the_lazy_import_check_tells_heavy_from_light(tmp_path):
    pkg = tmp_path / "lazy_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "heavy.py").write_text("import torch\n")
    (pkg / "light.py").write_text("import json\n")
    (pkg / "user.py").write_text(
        "def f():\n    from lazy_pkg import heavy\n\n\ndef g():\n    if True:\n        from lazy_pkg.light import x\n"
    )
    assert light_lazy_imports(pkg) == [("lazy_pkg.user", "lazy_pkg.light", 7)]
