"""A runway project on disk: finding its root, resolving config arguments, importing user code.

A project is a folder made by ``runway init``: it has ``configs/`` and a ``.runway`` marker (or an
``experiments/`` folder). User code lives in its ``data_processing/``, ``executors/``, ``modeling/``
and ``metrics/`` packages, plus any modules listed in ``meta.user_modules``; importing them runs their
``@register_*`` decorators.

>>> root = find_project_root()  # doctest: +SKIP
>>> import_user_modules(root, ["my_pkg.extra_transforms"])  # doctest: +SKIP

``find_project_root()`` is the nearest ancestor of the cwd that is a project, or None.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

from runway_for_ml.errors import RunwayError, did_you_mean

__all__ = [
    "DATA_PACKAGES",
    "USER_PACKAGES",
    "active_project_root",
    "find_project_root",
    "import_user_modules",
    "resolve_config_arg",
    "similar_files",
]

USER_PACKAGES = ("data_processing", "executors", "modeling", "metrics")
# Where a project's transforms live: what the data commands (prepare, dag, cache) import first.
DATA_PACKAGES = ("data_processing",)
MARKER = ".runway"
_imported: set[tuple[str, str]] = set()
# The project whose code was imported last: the one a command (or Experiment.load_model) works on.
_active_root: list[Path] = []


def active_project_root() -> Path | None:
    """The project root given to the last :func:`import_user_modules` call, else the one above the cwd.

    For code that runs inside an experiment (an executor reading a pipeline node) without being
    handed the project: the experiment layer imports the project's code first, with its root.
    """
    return _active_root[-1] if _active_root else find_project_root()


def find_project_root(start: str | Path | None = None) -> Path | None:
    """Return the nearest folder at or above ``start`` (default: cwd) that is a runway project."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "configs").is_dir() and ((folder / MARKER).exists() or (folder / "experiments").is_dir()):
            return folder
    return None


def resolve_config_arg(arg: str, root: Path | None = None) -> Path:
    """Turn a command's config argument into a file: a path as given, or an experiment name.

    ``digits`` resolves to ``<project>/configs/experiments/digits.jsonnet``.
    """
    as_path = Path(arg)
    if as_path.is_file():
        return as_path
    looks_like_path = as_path.suffix in {".jsonnet", ".json", ".libsonnet"} or "/" in arg
    root = root or find_project_root()
    if not looks_like_path and root is not None:
        candidate = root / "configs" / "experiments" / f"{arg}.jsonnet"
        if candidate.is_file():
            return candidate
        known = sorted(p.stem for p in (root / "configs" / "experiments").glob("*.jsonnet"))
        raise RunwayError(
            f"unknown experiment '{arg}'{did_you_mean(arg, known)}: no {candidate.relative_to(root)} in project {root}",
            hint="create it with `runway-experiment "
            + arg
            + "`"
            + (f"; existing: {', '.join(known[:10])}" if known else ""),
        )
    if root is None and not looks_like_path:
        raise RunwayError(
            f"'{arg}' is neither a config file nor an experiment of a runway project (no project above {Path.cwd()})",
            hint="give the path to a .jsonnet file, or run `runway init` first and cd into the project",
        )
    raise RunwayError(f"config file not found: {arg}{similar_files(as_path)}", hint="check the path")


def similar_files(path: Path) -> str:
    """A did-you-mean over the config files next to ``path`` (``""`` when none is close)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return ""
    names = [p.name for p in folder.iterdir() if p.suffix in {".jsonnet", ".json", ".libsonnet"}]
    return did_you_mean(path.name, names)


def import_user_modules(
    root: Path | None, extra: Iterable[str] = (), *, packages: Iterable[str] = USER_PACKAGES
) -> list[str]:
    """Import the project's user ``packages`` (default: all of them) and ``extra`` modules.

    Returns the module names imported. Data commands pass ``packages=DATA_PACKAGES`` so that the
    project's executors and metrics (and torch / Lightning with them) load only when a node needs
    them. A failure inside user code surfaces as a RunwayError naming the file and line; it is never
    swallowed.
    """
    names: list[str] = []
    if root is not None:
        root = Path(root).resolve()
        _active_root[:] = [root]
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        for package in packages:
            folder = root / package
            if not folder.is_dir():
                continue
            _forget_foreign(package, folder)
            names.append(package)
            names.extend(f"{package}.{m.name}" for m in pkgutil.iter_modules([str(folder)]))
    names.extend(extra)
    for name in names:
        key = (str(root), name)
        if key in _imported:
            continue
        _import_one(name, root)
        _imported.add(key)
    return names


def _forget_foreign(package: str, folder: Path) -> None:
    """Drop an already-imported ``package`` (and its submodules) that lives in another project.

    User packages have generic names (``data_processing``, ``metrics``); a process that works with two
    projects (a notebook, a test session) must import each project's own copy.
    """
    loaded = sys.modules.get(package)
    if loaded is None:
        return
    paths = [Path(p).resolve() for p in getattr(loaded, "__path__", [])]
    if folder.resolve() in paths:
        return
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    for key in [k for k in _imported if k[1] == package or k[1].startswith(package + ".")]:
        _imported.discard(key)


def _import_one(name: str, root: Path | None) -> None:
    try:
        importlib.import_module(name)
    except RunwayError:
        raise
    except SyntaxError as exc:
        raise RunwayError(f"syntax error in user module '{name}' at {exc.filename}:{exc.lineno}: {exc.msg}") from exc
    except Exception as exc:
        location = _user_frame(exc, root)
        if isinstance(exc, ModuleNotFoundError) and exc.name and name.startswith(exc.name) and root is None:
            # Outside a project the module's folder is not on sys.path: say that, not "not found".
            raise RunwayError(
                f"no runway project found above {Path.cwd()} (no {MARKER} marker), so the user module "
                f"'{name}' of meta.user_modules cannot be imported",
                hint="run the command inside your project (make one with `runway init DIR`), "
                f"or make '{name}' importable (pip install -e, PYTHONPATH)",
            ) from exc
        if isinstance(exc, ModuleNotFoundError) and exc.name and name.startswith(exc.name):
            raise RunwayError(
                f"cannot import user module '{name}': module '{exc.name}' not found",
                hint="meta.user_modules lists importable module names, relative to the project folder",
            ) from exc
        raise RunwayError(f"importing user module '{name}' failed at {location}: {type(exc).__name__}: {exc}") from exc


def _user_frame(exc: BaseException, root: Path | None) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    chosen = frames[-1] if frames else None
    for frame in reversed(frames):
        if root is not None and str(root) in frame.filename:
            chosen = frame
            break
    return f"{chosen.filename}:{chosen.lineno}" if chosen else "<unknown>"
