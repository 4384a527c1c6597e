"""``runway migrate OLD_CONFIG [-o NEW]``: rewrite a config of the original runway_for_ml into this format.

Prints, key by key, what moved, was renamed, converted, set or dropped and why, then checks the result
with ``runway config``'s checks and looks up the transforms and executor it names (built in, or
registered by the project above ``-o``). Exit status 0 only when nothing is left to fix; 1 when lines
remain (they are also written into the new file's header). Without ``-o`` the new config goes to
stdout (the report to stderr); with ``-o`` it is written atomically (an existing file is kept unless
``--force``). A file ``runway migrate`` wrote has nothing to migrate and is left byte for byte.

    runway migrate old_project/configs/exp_configs/imdb.jsonnet -o configs/experiments/imdb.jsonnet
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_text_atomic
from runway_for_ml.config import load_config
from runway_for_ml.config.migrate import migrate_file, render_config, render_report
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.sections import validate_sections
from runway_for_ml.pipeline.user_code import import_pipeline_code, unknown_transform_names
from runway_for_ml.project import find_project_root, import_user_modules

# Named here rather than read from the executor registry: importing executors loads torch and
# Lightning, seconds that a config rewrite should not cost.
_BUILTIN_EXECUTORS = ("ClassificationExecutor", "SequenceClassificationExecutor", "Seq2SeqExecutor", "CausalLMExecutor")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old_config", metavar="OLD_CONFIG", help="a config file of the original runway_for_ml")
    parser.add_argument("-o", "--output", metavar="NEW", help="write the new config here (default: print it)")
    parser.add_argument("--force", action="store_true", help="overwrite NEW when it exists")
    parser.add_argument("--show-kept", action="store_true", help="list unchanged keys one per line too")


def run(args: argparse.Namespace) -> int:

    source = Path(args.old_config)
    output = Path(args.output) if args.output else None
    same_file = output is not None and source.is_file() and output.resolve() == source.resolve()
    if output is not None and output.exists() and not args.force and not same_file:
        raise RunwayError(
            f"{output} exists; runway migrate does not overwrite it", hint="pass --force, or choose another -o"
        )
    migration = migrate_file(source, experiment=_experiment_name(output, None))
    root = find_project_root(output.resolve().parent if output is not None else None)
    report = render_report(migration, show_kept=args.show_kept)
    if not migration.changed:
        # Already in this format: the file is left (or copied) byte for byte.
        remaining = _remaining(source, migration.config, root)
        if output is None:
            sys.stdout.write(source.read_text(encoding="utf-8"))
        elif not same_file:
            write_text_atomic(output, source.read_text(encoding="utf-8"))
        summary = _summary(report, remaining)
        where = "" if output is None else (f"{output} left unchanged\n" if same_file else f"wrote {output} (a copy)\n")
        (sys.stderr if output is None else sys.stdout).write(summary + where)
        return 1 if remaining else 0
    if same_file and not args.force:
        raise RunwayError(
            f"{output} is the file being migrated", hint="pass --force to replace it, or choose another -o"
        )
    name = _experiment_name(output, migration.experiment_name)
    remaining = _remaining(render_config(migration, source, experiment=name), migration.config, root)
    text = render_config(migration, source, experiment=name, remaining=remaining)
    summary = _summary(report, remaining + [f"{s.old}: {s.why}" for s in migration.todo])
    if output is None:
        sys.stdout.write(text)
        sys.stderr.write(summary)
    else:
        write_text_atomic(output, text)
        sys.stdout.write(summary + f"wrote {output}\n")
    return 1 if remaining or migration.todo else 0


def _experiment_name(output: Path | None, original: str | None) -> str | None:
    """The name the new file runs under: the ``-o`` file's (``configs/experiments/<name>.jsonnet``)."""
    if output is None:
        return original
    return output.name.split(".")[0] or original


def _summary(report: str, remaining: list[str]) -> str:
    if remaining:
        tail = ["todo      still to fix before it runs (also in the new file's header):"]
        tail += [f"            {line}" for line in remaining]
    else:
        tail = ["check     the new config passes runway's config checks (runway config)"]
    return report + "\n" + "\n".join(tail) + "\n"


def _remaining(text_or_file: str | Path, config: dict[str, Any], root: Path | None) -> list[str]:
    """What still stops the new config: the checks of ``runway config`` on the file, and names to register."""
    import tempfile

    lines = []
    if isinstance(text_or_file, Path):
        lines += _config_checks(text_or_file, config, root)
    else:
        with tempfile.TemporaryDirectory(prefix="runway-migrate-") as tmp:
            path = Path(tmp) / "migrated.jsonnet"
            path.write_text(text_or_file, encoding="utf-8")
            lines += _config_checks(path, config, root)
    return lines + _unregistered(config, root)


def _config_checks(path: Path, config: dict[str, Any], root: Path | None) -> list[str]:

    try:
        # The same checks as `runway config` (the file as written), then the experiment sections.
        load_config(path, project_root=root)
        validate_sections(config)
    except RunwayError as exc:
        message = exc.message.replace(f"{path}: ", "")
        return [f"config: {message}" + (f" ({exc.hint})" if exc.hint else "")]
    return []


def _unregistered(config: dict[str, Any], root: Path | None) -> list[str]:
    """Transforms and the executor the config names that neither runway nor the project registers."""

    lines = []
    where = f"the project at {root}" if root is not None else "a project (none found above the output file)"
    if unknown_transform_names(config) and root is not None:
        try:
            import_pipeline_code(root, config)
        except RunwayError as exc:
            lines.append(_import_failed(exc))
    nodes = ((config.get("data_pipeline") or {}).get("transforms") or {}).items()
    unknown = set(unknown_transform_names(config))
    for node, spec in nodes:
        name = spec.get("transform_name") if isinstance(spec, dict) else None
        if name in unknown:
            lines.append(
                f"register transform '{name}' (data_pipeline.transforms.{node}): it is not built in and not "
                f"registered in {where}; port it to data_processing/ with @register_transform_functor"
            )
    executor = (config.get("executor") or {}).get("ExecutorClass")
    builtin = not isinstance(executor, str) or "." in executor or executor in _BUILTIN_EXECUTORS
    if not builtin and not _project_registers_executor(executor, root, lines):
        lines.append(
            f"register executor '{executor}' (executor.ExecutorClass): it is not built in and not registered "
            f"in {where}; port it to runway_for_ml.BaseExecutor in executors/ with @register_executor "
            "(docs/migrating.md, Executors)"
        )
    return lines


def _project_registers_executor(name: str, root: Path | None, lines: list[str]) -> bool:
    if root is None:
        return False
    # Importing the project's executors loads torch and Lightning: only for a name that is not built in.
    from runway_for_ml.executors.base import EXECUTORS

    try:
        import_user_modules(root)
    except RunwayError as exc:
        failed = _import_failed(exc)
        if failed not in lines:
            lines.append(failed)
    return name in EXECUTORS


def _import_failed(exc: RunwayError) -> str:
    """A project module that does not import (e.g. an executor still importing the original's paths)."""
    return f"the project's code does not import: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
