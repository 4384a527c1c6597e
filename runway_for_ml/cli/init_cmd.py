"""``runway init [DIR] [--template digits|text] [--force]``: create a runway project from a template.

``runway init --list-templates`` lists the templates. ``digits`` (the default) classifies
scikit-learn's digits with an MLP; ``text`` trains transformers on Amazon food reviews (needs
``pip install 'runway_for_ml[text]'``).

>>> main(["init", "myproj", "--template", "text"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from runway_for_ml.atomic import atomic_path
from runway_for_ml.errors import RunwayError, did_you_mean

# Files of the template package that are not part of a project.
_SKIP_TOP = {"__init__.py"}
_SKIP_ANY = {"__pycache__", ".pytest_cache", ".ruff_cache"}
# Stored under another name in the template so they do not act on the runway_for_ml repo itself.
_RENAMES = {"gitignore": ".gitignore"}
MARKER = ".runway"
# name -> (package holding the template files, one-line description, first command to run)
TEMPLATES: dict[str, tuple[str, str, str]] = {
    "digits": (
        "runway_for_ml.project_template",
        "scikit-learn digits -> stratified split -> standardise -> MLP (seconds on CPU)",
        "runway-run digits",
    ),
    "text": (
        "runway_for_ml.project_template_text",
        "Amazon food reviews -> trained tokenizer -> BERT / MiniLM+LoRA / T5 with transformers "
        "(needs pip install 'runway_for_ml[text]')",
        "runway-run reviews",
    ),
}
DEFAULT_TEMPLATE = "digits"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", default=".", help="project folder to create (default: the current folder)")
    parser.add_argument(
        "--force", action="store_true", help="write the template into a non-empty folder, overwriting template files"
    )
    parser.add_argument(
        "--template",
        default=DEFAULT_TEMPLATE,
        metavar="NAME",
        help=f"project template: {', '.join(TEMPLATES)} (default: {DEFAULT_TEMPLATE}); see --list-templates",
    )
    parser.add_argument("--list-templates", action="store_true", help="list the templates and exit")


def _template_files(template: str = DEFAULT_TEMPLATE) -> list[tuple[Path, Path]]:
    """(source file, relative destination) pairs of the template."""
    if template not in TEMPLATES:
        raise RunwayError(
            f"unknown template '{template}'{did_you_mean(template, TEMPLATES)}",
            hint=f"templates: {', '.join(TEMPLATES)} (runway init --list-templates)",
        )
    root = Path(str(resources.files(TEMPLATES[template][0])))
    pairs = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_ANY)
        rel_dir = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            if (rel_dir == Path(".") and name in _SKIP_TOP) or name.endswith((".pyc", ".lock")):
                continue
            dest_name = _RENAMES.get(name, name) if rel_dir == Path(".") else name
            pairs.append((Path(dirpath) / name, rel_dir / dest_name))
    return pairs


def init_project(target: Path, *, force: bool = False, template: str = DEFAULT_TEMPLATE) -> list[Path]:
    """Copy the template into ``target``; return the created files (relative).

    A non-empty ``target`` is refused unless ``force``. Into a new or empty folder the template is
    assembled in a temporary sibling and renamed into place, so an error never leaves half a project.
    """
    target = Path(target).resolve()
    if target.exists() and not target.is_dir():
        raise RunwayError(f"cannot init a project at {target}: it is a file", hint="choose a folder name")
    non_empty = target.is_dir() and any(target.iterdir())
    if non_empty and not force:
        raise RunwayError(
            f"{target} is not empty; refusing to write the project template into it",
            hint="choose a new folder (`runway init myproj`), or pass --force to add/overwrite the template files",
        )
    files = _template_files(template)
    if not non_empty:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.init-", dir=target.parent))
        try:
            for src, rel in files:
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, staging / rel)
            (staging / MARKER).touch()
            if target.is_dir():
                target.rmdir()
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    else:
        for src, rel in files:
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            atomic_path(dest, lambda tmp, src=src: shutil.copyfile(src, tmp))
        (target / MARKER).touch()
    return [rel for _, rel in files]


def run(args: argparse.Namespace) -> int:
    if getattr(args, "list_templates", False):
        for name, (_package, description, _first) in TEMPLATES.items():
            default = " (default)" if name == DEFAULT_TEMPLATE else ""
            print(f"{name:<8} {description}{default}")
        return 0
    template = getattr(args, "template", DEFAULT_TEMPLATE)
    target = Path(args.dir)
    init_project(target, force=args.force, template=template)
    shown = args.dir if args.dir != "." else "the current folder"
    print(f"Created a runway project ({template} template) in {shown}.")
    cd = f"cd {args.dir} && " if args.dir != "." else ""
    print(f"Next: {cd}{TEMPLATES[template][2]}      # train, infer and evaluate the example experiment")
    return 0
