"""Design rules of the package's source that the import contracts cannot state.

- No private name crosses a module boundary: ``from runway_for_ml.x import _name`` (or
  ``x._name`` on an imported runway_for_ml module) in any module other than ``x``. A name two modules
  share is part of a concept's API: public, or the code moves to where it is used.
"""

from __future__ import annotations

import ast
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
