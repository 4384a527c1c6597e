"""Reading project source for code fingerprints: a module's top-level definitions and what they reference.

A project module is parsed once (per file version) into a table of its top-level definitions and
imports. A definition's digest is the dump of its syntax tree (no line numbers, no comments, no
docstrings), and its *references* are the global names its code loads (``clean``,
``text_utils.clean``, ``np.mean``), local names of its functions left out. ``code_walk`` follows
those references from a transform class through the project.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import inspect
import logging
import os
import sys
import textwrap
import tokenize

log = logging.getLogger("runway_for_ml.pipeline.fingerprint")

_DIGEST_CHARS = 16
module_tables: dict[tuple[str, str], tuple[tuple[int, int], ModuleTable]] = {}

Target = tuple[str, "str | None"]  # (absolute module name, attribute or None for the module itself)


def class_source(klass: type) -> str:
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


def source_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]


@dataclasses.dataclass
class Def:
    """One top-level definition (or the statements binding one module constant)."""

    nodes: list[ast.AST]
    package: str
    source_digest: str | None = None
    _refs: set[tuple[str, ...]] | None = None
    _imports: dict[str, Target] | None = None

    @property
    def digest(self) -> str:
        if self.source_digest is None:
            for node in self.nodes:
                _strip_docstrings(node)  # here, not when parsing: most definitions of a module are never used
            self.source_digest = source_digest("\n".join(ast.dump(node) for node in self.nodes))
        return self.source_digest

    def references(self) -> tuple[set[tuple[str, ...]], dict[str, Target]]:
        if self._refs is None:
            collector = _References(self.package)
            for node in self.nodes:
                collector.visit(node)
            self._refs, self._imports = collector.refs, collector.imports
        return self._refs, self._imports or {}


@dataclasses.dataclass
class ModuleTable:
    name: str
    defs: dict[str, Def]
    imports: dict[str, Target]


def module_file(name: str) -> str | None:
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None) if module is not None else None
    if path is None and module is None:
        try:
            spec = importlib.util.find_spec(name)  # imports parent packages (project ones are loaded already)
        except Exception:  # a parent package that fails to import: nothing to read here
            return None
        path = spec.origin if spec is not None else None
    return path if isinstance(path, str) and path.endswith(".py") else None


def module_table(name: str) -> ModuleTable | None:
    """The parsed top-level definitions of a module's source file (cached per file version)."""
    path = module_file(name)
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    signature = (stat.st_mtime_ns, stat.st_size)
    cached = module_tables.get((name, path))
    if cached is not None and cached[0] == signature:
        return cached[1]
    try:
        with tokenize.open(path) as fh:
            tree = ast.parse(fh.read(), filename=path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as exc:
        log.warning("cannot parse %s (%s); its code is not part of cache keys", path, exc)
        return None
    package = name if os.path.basename(path) == "__init__.py" else name.rpartition(".")[0]
    table = ModuleTable(name, {}, {})
    _read_statements(tree.body, table, package)
    module_tables[(name, path)] = (signature, table)
    return table


def _read_statements(body: list[ast.stmt], table: ModuleTable, package: str) -> None:
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            table.defs[stmt.name] = Def([stmt], package)
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
                    table.defs[name] = Def([node], package)
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


def _import_bindings(stmt: ast.Import | ast.ImportFrom, package: str) -> dict[str, Target]:
    out: dict[str, Target] = {}
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
        self.imports: dict[str, Target] = {}
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


def def_from_source(klass: type) -> Def | None:
    try:
        source = textwrap.dedent(inspect.getsource(klass))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None
    if not tree.body or not isinstance(tree.body[0], ast.ClassDef):
        return None
    node = tree.body[0]
    return Def([node], klass.__module__.rpartition(".")[0])
