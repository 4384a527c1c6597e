"""Content-addressed keys of pipeline nodes.

The key of a node is the SHA-256 of the canonical JSON of its *components*:

- ``transform``: the transform class's qualified name ``<module>.<qualname>``,
- ``version``: the class's ``VERSION`` attribute if set, else a hash of its source code (and of the
  user-defined base classes between it and the framework's ``BaseTransform``),
- ``setup_kwargs``: the node's kwargs, top-level keys starting with ``_`` left out,
- ``input_keys``: the keys of its input nodes, in declared order.

Because an input's key is part of a node's key, a change anywhere upstream changes every key
downstream of it, and nothing else. Python's salted ``hash()`` is never used: keys are the same in
every process and on every machine.

>>> components = node_key_components(dict, "dict", {"test_size": 0.2, "_note": "ignored"}, [])
>>> components["setup_kwargs"]
{'test_size': 0.2}
>>> len(node_key(components))
64
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import enum
import functools
import hashlib
import importlib.util
import inspect
import json
import logging
import os
import re
import sys
import sysconfig
import textwrap
import tokenize
import types
import weakref
from pathlib import PurePath
from typing import Any

__all__ = [
    "canonical_json",
    "clear_cache",
    "code_fingerprint",
    "explain_change",
    "explain_extra",
    "fingerprint_extra",
    "node_key",
    "node_key_components",
    "transform_version",
]

log = logging.getLogger(__name__)

# Classes whose source is *not* part of a transform's version: the framework's own base classes
# (their code changes with the framework version, which would invalidate every cache for nothing).
_FRAMEWORK_BASE_MODULE = "runway_for_ml.pipeline.transform"

_CORE_COMPONENTS = frozenset({"transform", "version", "setup_kwargs", "input_keys"})


def canonical_json(value: Any) -> str:
    """Serialise ``value`` deterministically: sorted keys, no whitespace, ASCII only.

    Values JSON does not know are converted to a stable form (paths and enums to strings, sets to
    sorted lists, classes and functions to their qualified names).

    >>> canonical_json({"b": 1, "a": (1, 2)})
    '{"a":[1,2],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return f"{type(obj).__qualname__}.{obj.name}"
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=canonical_json)
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, type) or inspect.isroutine(obj):
        return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__dataclass__": type(obj).__qualname__, **dataclasses.asdict(obj)}
    item = getattr(obj, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    tolist = getattr(obj, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    text = repr(obj)
    if " at 0x" in text:
        # A default repr contains a memory address: the key would differ on every run.
        log.warning("setup_kwargs value %s has no stable representation; its node will never hit the cache", text)
    return {"__repr__": text}


def transform_version(cls: type) -> str:
    """Return the version of a transform class: ``str(cls.VERSION)`` if set, else a hash of its code.

    The hash is that of :func:`code_fingerprint`: the project code the class can reach (its source,
    its project base classes, the project functions, classes and constants it uses, transitively)
    and the versions of the libraries it uses. ``VERSION`` overrides all of it.

    >>> class Tokenize:
    ...     VERSION = 3
    >>> transform_version(Tokenize)
    '3'
    """
    explicit = getattr(cls, "VERSION", None)
    if explicit is not None:
        return str(explicit)
    try:
        return _version_cache[cls]
    except (KeyError, TypeError):
        pass
    version = hashlib.sha256(canonical_json(code_fingerprint(cls)).encode("ascii")).hexdigest()
    with contextlib.suppress(TypeError):
        _version_cache[cls] = version
    return version


def code_fingerprint(cls: type) -> dict:
    """What a transform's code is made of: ``{"objects": {name: digest}, "libraries": {dist: version}}``.

    ``objects`` maps each piece of *project* code the class can reach to a digest of its normalised
    syntax tree (comments, formatting and docstrings do not count): the class and its project base
    classes, then every module-level function, class and constant its code names, followed through
    imports into other project modules, transitively. Code of installed packages and the standard
    library is not read: it enters ``libraries`` as its distribution's version (``"python"`` is the
    interpreter's ``major.minor``, ``"runway_for_ml"`` the framework's version; the framework's
    transform base classes and error classes are left out). Memoised per class for the process;
    :func:`clear_cache` forgets it.

    >>> class Shout:
    ...     def _call(self, data):
    ...         return data.upper()
    >>> sorted(code_fingerprint(Shout)["objects"])
    ['runway_for_ml.pipeline.fingerprint.Shout']
    """
    try:
        return _code_cache[cls]
    except (KeyError, TypeError):
        pass
    walker = _CodeWalker()
    try:
        for klass in _versioned_classes(cls):
            walker.add_class(klass)
    except Exception as exc:  # pathological code (e.g. RecursionError); the class's own source still counts
        log.warning(
            "cannot follow the code of %s (%s: %s); only its own source is part of its cache key — "
            "set a VERSION class attribute to manage the key by hand",
            cls.__qualname__,
            type(exc).__name__,
            exc,
        )
        walker = _CodeWalker()
        walker.objects[f"{cls.__module__}.{cls.__qualname__}"] = _digest(_class_source(cls))
    result = {"objects": dict(sorted(walker.objects.items())), "libraries": dict(sorted(walker.libraries.items()))}
    with contextlib.suppress(TypeError):  # classes that refuse weak references are not cached
        _code_cache[cls] = result
    return result


def clear_cache() -> None:
    """Forget memoised code fingerprints, parsed modules and library versions.

    Keys are memoised per process (the code of a loaded class does not change under it). Call this
    in a long-lived process (a notebook) after reloading edited modules or upgrading a package.
    """
    _code_cache.clear()
    _version_cache.clear()
    _module_tables.clear()
    _module_kinds.clear()
    _distribution_names.clear()
    _packages_distributions.cache_clear()
    cache_clear = getattr(_distribution_version, "cache_clear", None)
    if callable(cache_clear):
        cache_clear()


def _versioned_classes(cls: type) -> list[type]:
    """``cls`` and the bases whose code belongs to the user's transform (not framework, stdlib, libraries)."""
    classes = []
    for klass in cls.__mro__:
        if klass is object or klass.__module__ == _FRAMEWORK_BASE_MODULE:
            continue
        if klass is not cls and _is_library_class(klass):
            continue
        classes.append(klass)
    return classes


def _is_library_class(klass: type) -> bool:
    """True for classes of the standard library and installed third-party packages (not runway_for_ml)."""
    module_name = klass.__module__ or ""
    if module_name == "builtins" or module_name.split(".")[0] in sys.builtin_module_names:
        return True
    if module_name.split(".")[0] == "runway_for_ml":
        return False
    path = getattr(sys.modules.get(module_name), "__file__", None)
    return bool(path) and _in_library_dir(path)


def _library_dirs() -> tuple[str, ...]:
    global _LIBRARY_DIRS
    if _LIBRARY_DIRS is None:
        paths = sysconfig.get_paths()
        dirs = {
            os.path.realpath(paths[name]) for name in ("stdlib", "platstdlib", "purelib", "platlib") if name in paths
        }
        _LIBRARY_DIRS = tuple(sorted(d + os.sep for d in dirs))
    return _LIBRARY_DIRS


_LIBRARY_DIRS: tuple[str, ...] | None = None


def _in_library_dir(path: str) -> bool:
    real = os.path.realpath(path)
    if f"{os.sep}site-packages{os.sep}" in real or f"{os.sep}dist-packages{os.sep}" in real:
        return True
    return real.startswith(_library_dirs())


def _class_source(klass: type) -> str:
    try:
        return inspect.getsource(klass)
    except (OSError, TypeError) as exc:
        log.warning(
            "cannot read the source of transform %s.%s (%s); code edits will not invalidate its cache — "
            "set a VERSION class attribute and bump it when the code changes",
            klass.__module__,
            klass.__qualname__,
            exc,
        )
        return f"<source unavailable: {klass.__module__}.{klass.__qualname__}>"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]


# ---------------------------------------------------------------------- following a transform's code
#
# A project module is parsed once (per file version) into a table of its top-level definitions and
# imports. A definition's digest is the dump of its syntax tree (no line numbers, no comments, no
# docstrings), and its *references* are the global names its code loads (``clean``,
# ``text_utils.clean``, ``np.mean``), local names of its functions left out. The walker starts from
# the transform class and resolves each reference: a definition of the same module, an import
# (followed into project modules; a library only adds its version), a builtin (ignored), or any
# other module global (star imports, globals made at run time) looked up on the live module.

_DIGEST_CHARS = 16
_BUILTIN_NAMES = frozenset(dir(builtins))
# Framework modules that cannot change a node's output: transform base classes (and the
# register decorator) and error classes.
_FRAMEWORK_SILENT = frozenset({_FRAMEWORK_BASE_MODULE, "runway_for_ml.errors"})
_STDLIB_NAMES = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(sys.builtin_module_names)

_code_cache: weakref.WeakKeyDictionary[type, dict] = weakref.WeakKeyDictionary()
_version_cache: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()
_module_tables: dict[tuple[str, str], tuple[tuple[int, int], _ModuleTable]] = {}
_module_kinds: dict[str, str] = {}
_distribution_names: dict[str, str] = {}

_Target = tuple[str, "str | None"]  # (absolute module name, attribute or None for the module itself)


@dataclasses.dataclass
class _Def:
    """One top-level definition (or the statements binding one module constant)."""

    nodes: list[ast.AST]
    package: str
    _digest: str | None = None
    _refs: set[tuple[str, ...]] | None = None
    _imports: dict[str, _Target] | None = None

    @property
    def digest(self) -> str:
        if self._digest is None:
            for node in self.nodes:
                _strip_docstrings(node)  # here, not when parsing: most definitions of a module are never used
            self._digest = _digest("\n".join(ast.dump(node) for node in self.nodes))
        return self._digest

    def references(self) -> tuple[set[tuple[str, ...]], dict[str, _Target]]:
        if self._refs is None:
            collector = _References(self.package)
            for node in self.nodes:
                collector.visit(node)
            self._refs, self._imports = collector.refs, collector.imports
        return self._refs, self._imports or {}


@dataclasses.dataclass
class _ModuleTable:
    name: str
    defs: dict[str, _Def]
    imports: dict[str, _Target]


def _module_file(name: str) -> str | None:
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None) if module is not None else None
    if path is None and module is None:
        try:
            spec = importlib.util.find_spec(name)  # imports parent packages (project ones are loaded already)
        except Exception:  # a parent package that fails to import: nothing to read here
            return None
        path = spec.origin if spec is not None else None
    return path if isinstance(path, str) and path.endswith(".py") else None


def _module_table(name: str) -> _ModuleTable | None:
    """The parsed top-level definitions of a module's source file (cached per file version)."""
    path = _module_file(name)
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    signature = (stat.st_mtime_ns, stat.st_size)
    cached = _module_tables.get((name, path))
    if cached is not None and cached[0] == signature:
        return cached[1]
    try:
        with tokenize.open(path) as fh:
            tree = ast.parse(fh.read(), filename=path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as exc:
        log.warning("cannot parse %s (%s); its code is not part of cache keys", path, exc)
        return None
    package = name if os.path.basename(path) == "__init__.py" else name.rpartition(".")[0]
    table = _ModuleTable(name, {}, {})
    _read_statements(tree.body, table, package)
    _module_tables[(name, path)] = (signature, table)
    return table


def _read_statements(body: list[ast.stmt], table: _ModuleTable, package: str) -> None:
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            table.defs[stmt.name] = _Def([stmt], package)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            table.imports.update(_import_bindings(stmt, package))
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            node = (
                stmt
                if not isinstance(stmt, ast.AnnAssign)
                else ast.Assign([stmt.target], stmt.value or ast.Constant(None))
            )
            for name in _target_names(targets):
                existing = table.defs.get(name)
                if existing is not None and not isinstance(existing.nodes[0], (ast.FunctionDef, ast.ClassDef)):
                    existing.nodes.append(node)  # X = ...; X += ... : every statement binding X counts
                else:
                    table.defs[name] = _Def([node], package)
        elif isinstance(stmt, ast.If):
            _read_statements(stmt.body + stmt.orelse, table, package)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            handlers = [s for h in stmt.handlers for s in h.body]
            _read_statements(stmt.body + handlers + stmt.orelse + stmt.finalbody, table, package)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            _read_statements(stmt.body, table, package)


def _target_names(targets: list[ast.expr]) -> list[str]:
    names = []
    for target in targets:
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            names.extend(_target_names(list(target.elts)))
        elif isinstance(target, ast.Starred):
            names.extend(_target_names([target.value]))
    return names


def _strip_docstrings(node: ast.AST) -> None:
    for child in ast.walk(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = child.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                child.body = body[1:] or [ast.Pass()]


def _import_bindings(stmt: ast.Import | ast.ImportFrom, package: str) -> dict[str, _Target]:
    out: dict[str, _Target] = {}
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                out[alias.asname] = (alias.name, None)
            else:  # `import a.b` binds `a`; `a.b.f` is followed through the submodule
                top = alias.name.partition(".")[0]
                out[top] = (top, None)
        return out
    base = stmt.module or ""
    if stmt.level:
        parts = package.split(".") if package else []
        parts = parts[: len(parts) - (stmt.level - 1)] if stmt.level > 1 else parts
        base = ".".join([*parts, *([stmt.module] if stmt.module else [])])
    for alias in stmt.names:
        if alias.name != "*":  # star imports are resolved on the live module
            out[alias.asname or alias.name] = (base, alias.name)
    return out


class _References(ast.NodeVisitor):
    """Collect the global names (and dotted chains) a definition loads, and imports inside it."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.refs: set[tuple[str, ...]] = set()
        self.imports: dict[str, _Target] = {}
        self._locals: list[set[str]] = []

    def _is_local(self, name: str) -> bool:
        return any(name in scope for scope in self._locals)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and not self._is_local(node.id):
            self.refs.add((node.id,))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            chain.append(current.attr)
            current = current.value
        if isinstance(current, ast.Name):
            if not self._is_local(current.id):
                self.refs.add((current.id, *reversed(chain)))
        else:
            self.visit(current)

    def visit_Global(self, node: ast.Global) -> None:
        self.refs.update((name,) for name in node.names)  # module state the function reads or writes

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name) and not self._is_local(node.target.id):
            self.refs.add((node.target.id,))  # `x += 1` reads x too
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.imports.update(_import_bindings(node, self.package))

    visit_ImportFrom = visit_Import  # type: ignore[assignment]

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._function(node.args, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node.args, [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)
        for stmt in node.body:  # a class body is not a scope its methods can see
            self.visit(stmt)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)  # annotations do not change what the code does
        if node.value is not None:
            self.visit(node.value)

    def visit_arg(self, node: ast.arg) -> None:
        return None

    def _function(self, args: ast.arguments, body: list) -> None:
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(default)
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        scope = {a.arg for a in params if a is not None} | _bound_in_scope(body)
        self._locals.append(scope)
        for stmt in body:
            self.visit(stmt)
        self._locals.pop()


def _bound_in_scope(body: list) -> set[str]:
    """Names a function body binds (assignments, loop targets, except names, nested defs), not imports."""
    bound: set[str] = set()
    declared_global: set[str] = set()
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            continue  # a nested scope: its own locals are collected when it is visited
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared_global.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.ExceptHandler) or type(node).__name__ in ("MatchAs", "MatchStar"):
            bound.update([node.name] if getattr(node, "name", None) else [])
        stack.extend(ast.iter_child_nodes(node))
    return bound - declared_global


class _CodeWalker:
    """Follow a transform's code from its classes through the project; collect digests and libraries."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        self.libraries: dict[str, str] = {}
        self._seen: set[tuple[str, ...]] = set()

    def add_class(self, klass: type) -> None:
        module_name, qualname = klass.__module__, klass.__qualname__
        table = _module_table(module_name) if "<locals>" not in qualname else None
        top = qualname.partition(".")[0]
        if table is not None and top in table.defs:
            self._add_def(table, top, root=True)
            return
        # A class made inside a function, or whose module file cannot be parsed: its own source.
        key = f"{module_name}.{qualname}"
        if ("def", key) in self._seen:
            return
        self._seen.add(("def", key))
        definition = _def_from_source(klass)
        if definition is None:
            self.objects[key] = _digest(_class_source(klass))  # warns that edits will not be noticed
            return
        self.objects[key] = definition.digest
        self._follow(_module_table(module_name), module_name, definition)

    def _add_def(self, table: _ModuleTable, name: str, *, root: bool = False) -> None:
        key = f"{table.name}.{name}"
        if ("def", key) in self._seen:
            return
        self._seen.add(("def", key))
        kind = _module_kind(table.name)
        if not root and kind != "project":
            self._library(table.name, kind)
            return
        definition = table.defs[name]
        self.objects[key] = definition.digest
        self._follow(table, table.name, definition)

    def _follow(self, table: _ModuleTable | None, module_name: str, definition: _Def) -> None:
        refs, local_imports = definition.references()
        for chain in sorted(refs):
            self._resolve(table, module_name, local_imports, chain)

    def _resolve(
        self, table: _ModuleTable | None, module_name: str, local_imports: dict[str, _Target], chain: tuple[str, ...]
    ) -> None:
        name, rest = chain[0], chain[1:]
        if name in local_imports:
            self._target(local_imports[name], rest)
        elif table is not None and name in table.defs:
            self._add_def(table, name)
        elif table is not None and name in table.imports:
            self._target(table.imports[name], rest)
        elif name in _BUILTIN_NAMES:
            return
        else:  # star imports, globals created at run time, classes made in functions
            module = sys.modules.get(module_name)
            value = vars(module).get(name, _ABSENT) if module is not None else _ABSENT
            if value is not _ABSENT:
                self._object(value, rest)

    def _target(self, target: _Target, rest: tuple[str, ...]) -> None:
        module_name, attribute = target
        if attribute is None:
            self._module(module_name, rest)
        else:
            self._from(module_name, attribute, rest)

    def _module(self, module_name: str, rest: tuple[str, ...]) -> None:
        kind = _module_kind(module_name)
        if kind != "project":
            self._library(module_name, kind)
        elif rest:
            self._from(module_name, rest[0], rest[1:])
        elif ("module", module_name) not in self._seen:
            # The module itself is used as a value: all of its definitions count.
            self._seen.add(("module", module_name))
            table = _module_table(module_name)
            for name in sorted(table.defs) if table is not None else ():
                self._add_def(table, name)

    def _from(self, module_name: str, attribute: str, rest: tuple[str, ...]) -> None:
        if ("from", module_name, attribute) in self._seen:
            return
        self._seen.add(("from", module_name, attribute))
        kind = _module_kind(module_name)
        if kind == "framework":
            # `from runway_for_ml import BaseTransform`: judge by where the object is defined.
            value = getattr(sys.modules.get(module_name), attribute, _ABSENT)
            defined_in = getattr(value, "__module__", None)
            if isinstance(defined_in, str) and defined_in in _FRAMEWORK_SILENT:
                return
        if kind != "project":
            self._library(module_name, kind)
            return
        table = _module_table(module_name)
        if table is not None and attribute in table.defs:
            self._add_def(table, attribute)
        elif table is not None and attribute in table.imports:
            self._target(table.imports[attribute], rest)  # re-exported from another module
        elif _module_file(f"{module_name}.{attribute}") is not None:
            self._module(f"{module_name}.{attribute}", rest)
        else:
            value = getattr(sys.modules.get(module_name), attribute, _ABSENT)
            if value is not _ABSENT:
                self._object(value, rest)

    def _object(self, value: Any, rest: tuple[str, ...]) -> None:
        if isinstance(value, types.ModuleType):
            self._module(value.__name__, rest)
            return
        module_name = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None)
        if not (isinstance(module_name, str) and isinstance(qualname, str)):
            return  # a plain value made at run time: nothing to read
        if not (inspect.isclass(value) or inspect.isroutine(value)):
            return
        if isinstance(value, type) and "<locals>" in qualname and _module_kind(module_name) == "project":
            self.add_class(value)
        else:
            self._from(module_name, qualname.partition(".")[0], ())

    def _library(self, module_name: str, kind: str) -> None:
        if kind == "stdlib":
            self.libraries["python"] = f"{sys.version_info.major}.{sys.version_info.minor}"
        elif kind == "framework":
            from runway_for_ml.version import __version__

            self.libraries["runway_for_ml"] = __version__
        elif kind == "library":
            top = module_name.partition(".")[0]
            dist = _distribution_name(top)
            self.libraries[dist] = _distribution_version(dist)
        elif kind == "missing":
            self.libraries[module_name.partition(".")[0]] = "not installed"


def _def_from_source(klass: type) -> _Def | None:
    try:
        source = textwrap.dedent(inspect.getsource(klass))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None
    if not tree.body or not isinstance(tree.body[0], ast.ClassDef):
        return None
    node = tree.body[0]
    return _Def([node], klass.__module__.rpartition(".")[0])


def _module_kind(module_name: str) -> str:
    """``project`` (source followed), ``framework``/``silent``, ``stdlib``, ``library`` or ``missing``."""
    kind = _module_kinds.get(module_name)
    if kind is not None:
        return kind
    top = module_name.partition(".")[0]
    if module_name in _FRAMEWORK_SILENT:
        kind = "silent"
    elif top == "runway_for_ml":
        kind = "framework"
    elif top in _STDLIB_NAMES or top == "__future__":
        kind = "stdlib"
    else:
        kind = _kind_by_location(top)
    _module_kinds[module_name] = kind
    return kind


def _kind_by_location(top: str) -> str:
    module = sys.modules.get(top)
    locations: list[str] = []
    if module is not None:
        locations = [getattr(module, "__file__", None) or "", *list(getattr(module, "__path__", []) or [])]
    else:
        try:
            spec = importlib.util.find_spec(top)  # a top-level name: finds, does not import
        except Exception:
            spec = None
        if spec is None:
            return "missing"
        locations = [spec.origin or "", *list(spec.submodule_search_locations or [])]
    locations = [p for p in locations if p and p not in ("built-in", "frozen")]
    if not locations:
        return "library"  # built into the interpreter or an extension without a file: not project code
    return "library" if _in_library_dir(locations[0]) else "project"


def _distribution_name(top: str) -> str:
    """The installed distribution that provides top-level module ``top`` (``yaml`` -> ``PyYAML``)."""
    name = _distribution_names.get(top)
    if name is not None:
        return name
    import importlib.metadata  # ~0.1 s: only when a library is referenced

    try:
        name = importlib.metadata.distribution(top).metadata["Name"] or top
    except importlib.metadata.PackageNotFoundError:
        name = _distribution_beside(top)
        if name is None:
            # Scanning every installed distribution's file list is slow (~0.5 s): the last resort.
            name = (_packages_distributions().get(top) or [top])[0]
    _distribution_names[top] = name
    return name


def _distribution_beside(top: str) -> str | None:
    """Find the distribution of ``top`` among the ``*.dist-info`` folders next to it (a few ms).

    ``top_level.txt`` names a distribution's modules when present; otherwise its ``RECORD`` (the
    installed file list) is searched for ``top/`` or a ``top`` module file.
    """
    locations = []
    module = sys.modules.get(top)
    if module is not None:
        locations = [getattr(module, "__file__", None) or "", *list(getattr(module, "__path__", []) or [])]
    else:
        with contextlib.suppress(Exception):
            spec = importlib.util.find_spec(top)
            locations = [spec.origin or "", *list(spec.submodule_search_locations or [])] if spec else []
    location = next((p for p in locations if p and os.path.isabs(p)), None)
    if location is None:
        return None
    # <site>/top/__init__.py, <site>/top (a namespace package's path) or <site>/top.py
    site = os.path.dirname(location)
    if os.path.basename(location).startswith("__init__."):
        site = os.path.dirname(site)
    pattern = re.compile(rb"(?:^|\n)" + re.escape(top.encode()) + rb"(?:/|\.py,|\.[^/\n,]*\.(?:so|pyd),)")
    try:
        infos = sorted(e.path for e in os.scandir(site) if e.name.endswith(".dist-info") and e.is_dir())
    except OSError:
        return None
    for info in infos:
        try:
            with open(os.path.join(info, "top_level.txt"), encoding="utf-8") as fh:
                provides = top in fh.read().split()
        except OSError:
            try:
                with open(os.path.join(info, "RECORD"), "rb") as fh:
                    provides = pattern.search(fh.read()) is not None
            except OSError:
                provides = False
        if provides:
            return _metadata_name(info)
    return None


def _metadata_name(info: str) -> str:
    try:
        with open(os.path.join(info, "METADATA"), encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("Name:"):
                    return line.partition(":")[2].strip()
                if not line.strip():
                    break
    except OSError:
        pass
    return os.path.basename(info).partition("-")[0]


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    import importlib.metadata

    return dict(importlib.metadata.packages_distributions())


@functools.cache
def _distribution_version(dist: str) -> str:
    """The installed version of distribution ``dist`` (module ``__version__`` as a fallback)."""
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = getattr(sys.modules.get(dist), "__version__", None)
        return str(version) if version is not None else "unknown"


def node_key_components(transform_cls: type, transform_name: str, setup_kwargs: dict, input_keys: list[str]) -> dict:
    """Collect what a node's key is made of.

    ``transform_name`` is the name the config used (a registered name or a dotted path); the key uses
    the class's qualified name so that both spellings of one class share their cache entries.

    >>> node_key_components(dict, "dict", {"k": 1, "_tmp": 2}, ["ab12"])["input_keys"]
    ['ab12']
    """
    del transform_name  # the resolved class, not the spelling in the config, identifies the transform
    kwargs = {k: v for k, v in (setup_kwargs or {}).items() if not str(k).startswith("_")}
    # Round-trip through canonical JSON so the components (stored in meta.json) compare equal to
    # what a later run computes, e.g. tuples become lists.
    kwargs = json.loads(canonical_json(kwargs))
    components = {
        "transform": f"{transform_cls.__module__}.{transform_cls.__qualname__}",
        "version": transform_version(transform_cls),
        "setup_kwargs": kwargs,
        "input_keys": list(input_keys),
    }
    if getattr(transform_cls, "VERSION", None) is None:
        # Per-object digests, so that `runway dag` can name what changed (VERSION overrides them).
        code = code_fingerprint(transform_cls)
        components["code"] = {"objects": dict(code["objects"]), "libraries": dict(code["libraries"])}
    return components


def node_key(components: dict) -> str:
    """Hex SHA-256 of the canonical JSON of ``components``.

    >>> node_key({"a": 1}) == node_key({"a": 1})
    True
    """
    return hashlib.sha256(canonical_json(components).encode("ascii")).hexdigest()


def fingerprint_extra(transform_cls: type, setup_kwargs: dict) -> Any:
    """Extra key material a transform contributes: its classmethod ``fingerprint_extra(setup_kwargs)``.

    The hook returns anything JSON-like (best: a dict of named parts, such as file content hashes or
    a checkpoint's hash) or None (no extra part). The value is round-tripped through canonical JSON
    so that it compares equal to the copy stored in an entry's ``meta.json``.

    >>> class Load:
    ...     @classmethod
    ...     def fingerprint_extra(cls, setup_kwargs):
    ...         return {"vocab.txt": ("sha256", "ab12")}
    >>> fingerprint_extra(Load, {})
    {'vocab.txt': ['sha256', 'ab12']}
    """
    hook = getattr(transform_cls, "fingerprint_extra", None)
    if not callable(hook):
        return None
    value = hook(dict(setup_kwargs or {}))
    return None if value is None else json.loads(canonical_json(value))


def explain_extra(transform_cls: type | None, old: Any, new: Any) -> list[str]:
    """Reasons for a change of the ``extra`` component (None when a side has no extra part).

    A transform may explain its own extra material with a classmethod
    ``explain_fingerprint_extra(old_extra, new_extra) -> list[str]`` (e.g. ``["checkpoint of
    digits_V0 changed"]``). Otherwise, or when that returns nothing, dict extras name their changed
    top-level keys and any other value gives one generic line.

    >>> explain_extra(None, {"a.csv": 1, "b.csv": 2}, {"a.csv": 1, "b.csv": 3, "c.csv": 4})
    ["extra 'b.csv' changed", "extra 'c.csv' added"]
    """
    if _same_or_both_none(old, new):
        return []
    hook = getattr(transform_cls, "explain_fingerprint_extra", None) if transform_cls is not None else None
    if callable(hook):
        try:
            custom = hook(old, new)
        except Exception as exc:  # an explanation must never break planning
            log.warning(
                "%s.explain_fingerprint_extra failed (%s: %s); showing the changed keys instead",
                getattr(transform_cls, "__qualname__", transform_cls),
                type(exc).__name__,
                exc,
            )
            custom = None
        if isinstance(custom, str):
            custom = [custom]
        if custom:
            return [str(reason) for reason in custom]
    if isinstance(old, (dict, type(None))) and isinstance(new, (dict, type(None))):
        old, new = old or {}, new or {}
        reasons = []
        for key in sorted(set(old) | set(new), key=str):
            if key not in old:
                reasons.append(f"extra '{key}' added")
            elif key not in new:
                reasons.append(f"extra '{key}' removed")
            elif not _same(old[key], new[key]):
                reasons.append(f"extra '{key}' changed")
        if reasons:
            return reasons
    short = getattr(transform_cls, "__name__", "the transform")
    if old is None:
        return [f"extra key material of {short} added"]
    if new is None:
        return [f"extra key material of {short} removed"]
    return [f"extra key material of {short} changed"]


def _same_or_both_none(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return canonical_json(a) == canonical_json(b)


def explain_change(
    previous_meta: dict, components: dict, input_nodes: list[str], transform_cls: type | None = None
) -> list[str]:
    """Say in words why ``components`` differ from those of the newest entry of the same node.

    ``previous_meta`` is that entry's ``meta.json`` (its ``components`` are compared); ``input_nodes``
    names the node's inputs in the order of ``components["input_keys"]``; ``transform_cls`` (when
    given) may explain a change of its ``extra`` part (see :func:`explain_extra`). Returns an empty
    list when nothing differs.

    >>> old = {"components": {"transform": "m.Split", "version": "1", "setup_kwargs": {"test_size": 0.2},
    ...        "input_keys": ["k1"]}}
    >>> new = dict(old["components"], setup_kwargs={"test_size": 0.3})
    >>> explain_change(old, new, ["input:Load"])
    ['setup_kwargs.test_size: 0.2 -> 0.3']
    """
    previous = previous_meta.get("components") or {
        k: previous_meta.get(k) for k in ("transform", "version", "setup_kwargs", "input_keys")
    }
    reasons: list[str] = []
    old_transform, new_transform = previous.get("transform"), components.get("transform")
    if old_transform != new_transform:
        reasons.append(f"transform changed {old_transform} -> {new_transform}")
    elif previous.get("version") != components.get("version"):
        short = str(new_transform).rsplit(".", 1)[-1]
        old_v, new_v = str(previous.get("version")), str(components.get("version"))
        code_reasons = _diff_code(previous.get("code"), components.get("code"))
        if code_reasons and _looks_like_code_hash(old_v) and _looks_like_code_hash(new_v):
            reasons.extend(code_reasons)
        elif _looks_like_code_hash(old_v) and _looks_like_code_hash(new_v):
            reasons.append(f"code of {short} changed")
        else:
            reasons.append(f"version of {short} changed {_short_version(old_v)} -> {_short_version(new_v)}")
    reasons.extend(
        _diff_values("setup_kwargs", previous.get("setup_kwargs") or {}, components.get("setup_kwargs") or {})
    )
    reasons.extend(
        _diff_inputs(list(previous.get("input_keys") or []), list(components.get("input_keys") or []), input_nodes)
    )
    reasons.extend(explain_extra(transform_cls, previous.get("extra"), components.get("extra")))
    # Other parts a caller added to the components (e.g. the runner's dummy_rows).
    for name in sorted((set(previous) | set(components)) - _CORE_COMPONENTS - {"extra", "code"}, key=str):
        reasons.extend(_diff_values(name, previous.get(name, _ABSENT), components.get(name, _ABSENT)))
    return reasons


def _diff_code(old: Any, new: Any) -> list[str]:
    """Name the project objects and libraries whose digests or versions differ between two ``code`` parts.

    >>> _diff_code({"objects": {"m.clean": "aa", "m.T": "bb"}, "libraries": {"datasets": "3.0"}},
    ...            {"objects": {"m.clean": "cc", "m.T": "bb"}, "libraries": {"datasets": "4.0"}})
    ['code changed: m.clean', 'library changed: datasets 3.0 -> 4.0']
    """
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return []
    reasons = []
    old_objects, new_objects = old.get("objects") or {}, new.get("objects") or {}
    for name in sorted(set(old_objects) | set(new_objects)):
        if name not in old_objects:
            reasons.append(f"code added: {name}")
        elif name not in new_objects:
            reasons.append(f"code removed: {name}")
        elif old_objects[name] != new_objects[name]:
            reasons.append(f"code changed: {name}")
    old_libs, new_libs = old.get("libraries") or {}, new.get("libraries") or {}
    for name in sorted(set(old_libs) | set(new_libs)):
        if name not in old_libs:
            reasons.append(f"library added: {name} {new_libs[name]}")
        elif name not in new_libs:
            reasons.append(f"library removed: {name} {old_libs[name]}")
        elif old_libs[name] != new_libs[name]:
            reasons.append(f"library changed: {name} {old_libs[name]} -> {new_libs[name]}")
    return reasons


def _looks_like_code_hash(version: str) -> bool:
    return len(version) == 64 and all(c in "0123456789abcdef" for c in version)


def _short_version(version: str) -> str:
    return f"code {version[:8]}" if _looks_like_code_hash(version) else repr(version)


_ABSENT = object()


def _diff_values(path: str, old: Any, new: Any) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out.extend(_diff_values(f"{path}.{key}", old.get(key, _ABSENT), new.get(key, _ABSENT)))
        return out
    if _same(old, new):
        return []
    return [f"{path}: {_show(old)} -> {_show(new)}"]


def _same(a: Any, b: Any) -> bool:
    return a is not _ABSENT and b is not _ABSENT and canonical_json(a) == canonical_json(b)


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _diff_inputs(old: list[str], new: list[str], input_nodes: list[str]) -> list[str]:
    if old == new:
        return []
    if sorted(old) == sorted(new):
        return ["inputs reordered"]
    names = list(input_nodes) + [f"#{i}" for i in range(len(input_nodes), len(new))]
    if len(old) != len(new):
        reasons = [f"number of inputs changed {len(old)} -> {len(new)}"]
        reasons += [f"input '{names[i]}' changed" for i, key in enumerate(new) if key not in old]
        return reasons
    return [f"input '{names[i]}' changed" for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
