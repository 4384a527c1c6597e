"""Imports flow one way: a module imports only its own layer or lower ones (lazy imports included).

The layers, bottom to top, are listed in docs/architecture.md. One upward edge is sanctioned: the
SLURM job (``launcher.job``) replays a CLI command in-process on the compute node, so that submitit's
signal handling and the running Trainer share one process.
"""

import ast
from pathlib import Path

import runway_for_ml

LAYERS = [
    {"errors", "version", "registry", "atomic"},
    {"project"},
    {"config"},
    {"pipeline"},
    {"executors", "metrics", "loggers"},
    {"experiment"},
    {"launcher"},
    {"serving"},
    {"cli", "demo", "pkg"},
]
ALLOWED_UPWARD = {("runway_for_ml.launcher.job", "runway_for_ml.cli.main")}
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
PACKAGE = Path(runway_for_ml.__file__).parent


def _layer(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts or parts[0] == "__init__":
        return "pkg"
    return parts[0]


def _edges():
    for path in PACKAGE.rglob("*.py"):
        if "project_template" in path.parts:
            continue
        module = ".".join(("runway_for_ml", *path.relative_to(PACKAGE).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target.startswith("runway_for_ml."):
                    yield module, target


def test_every_module_belongs_to_a_layer():
    unknown = {_layer(m) for m, _ in _edges()} - set(RANK)
    assert not unknown, f"add these to a layer in LAYERS and docs/architecture.md: {unknown}"


def test_imports_only_go_down():
    upward = [
        f"{src} imports {dst}"
        for src, dst in _edges()
        if RANK[_layer(dst)] > RANK[_layer(src)] and (src, dst) not in ALLOWED_UPWARD
    ]
    assert not upward, "imports must flow one way (see docs/architecture.md):\n" + "\n".join(upward)
