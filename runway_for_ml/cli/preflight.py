"""The checks ``runway-train``, ``runway-run`` and ``runway-infer`` make before they create anything.

One call at the start of each command's ``run``::

    preflight("train", args, root)

loads the config exactly as the command will (experiment config or ``--from`` parent, ``--opts``,
``--ext-var``), checks it completely (:func:`runway_for_ml.experiment.preflight.check_run_config`)
and checks the launch options (``--sweep`` needs SLURM, ``sbatch`` on PATH, the ``slurm`` section),
so that a mistake exits 2 with one message and no ``<exp>_V<n>/`` or ``infer-<suffix>/`` folder is
left behind. It also accepts the experiment as a path to its config file
(``configs/experiments/digits.jsonnet`` means ``digits``).

Inside a SLURM job (``RUNWAY_LAUNCHER=slurm``) and for the internal ``--in-version`` / ``--in-dir``
replays nothing is checked again: the submitting command did it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.layout import VersionDir
from runway_for_ml.experiment.manifest import read_manifest
from runway_for_ml.experiment.names import (
    CONFIG_SUFFIX,
    NamedExperiment,
    check_clone_parent,
    resolve_experiment,
    split_version_name,
    validate_name,
)
from runway_for_ml.project import similar_files

__all__ = ["add_ext_var_argument", "apply_ext_vars", "experiment_argument", "load_experiment_config", "preflight"]


def preflight(command: str, args: argparse.Namespace, root: Path) -> None:
    """Check everything ``command`` (``train`` / ``run`` / ``infer``) needs; raise a RunwayError at the first problem."""
    apply_ext_vars(args)
    if os.environ.get("RUNWAY_LAUNCHER") == "slurm":
        return
    if command in ("train", "run"):
        if getattr(args, "in_version", None):
            return
        args.experiment = experiment_argument(args.experiment, root)
        if getattr(args, "resume", False):
            return  # the version's own stored config, checked when it was created
        config = load_experiment_config(args, root)
        from runway_for_ml.experiment.preflight import check_run_config

        check_run_config(config, root, command, checkpoint=getattr(args, "checkpoint", None))
        # The command creates its version from this config: the jsonnet is evaluated once per command.
        args.resolved_config = config
        _check_launch(args, config)
        _check_sweep_points(command, args, config, root)
    elif command == "infer":
        if getattr(args, "in_dir", None):
            return
        _check_infer(args, root)
    else:
        raise ValueError(f"no preflight for command {command!r}")


def experiment_argument(text: str, root: Path, *, version: bool = False) -> str:
    """The experiment a command argument means: a name, or a path to ``configs/experiments/<name>.jsonnet``.

    ``version=True`` also accepts ``<name>_V<n>`` (``runway-infer digits_V2``). A ``.jsonnet`` file
    outside ``configs/experiments/`` is refused with the way to make it an experiment.

    >>> experiment_argument("configs/experiments/digits.jsonnet", root)  # doctest: +SKIP
    'digits'
    """

    if text.endswith(CONFIG_SUFFIX):
        path = Path(text).expanduser()
        experiments = (Path(root) / "configs" / "experiments").resolve()
        if not path.is_file():
            raise RunwayError(f"config file not found: {text}{similar_files(path)}", hint="check the path")
        if path.resolve().parent != experiments:
            raise RunwayError(
                f"{text} is not an experiment config of this project: experiments are the files in {experiments}",
                hint=f"copy it there (e.g. configs/experiments/{path.name}) and run `runway-train {path.stem}`, "
                f"or look at it with `runway config {text}`",
            )
        text = path.name[: -len(CONFIG_SUFFIX)]
    name = split_version_name(text)[0] if version else text
    validate_name(name)
    return text


def load_experiment_config(args: argparse.Namespace, root: Path) -> Any:
    """The resolved config ``runway-train`` / ``runway-run`` will train with (nothing is written).

    With ``--from`` and an experiment that does not exist yet, that is the parent's config with the
    same ``--opts``: the clone is a copy of it.
    """
    from runway_for_ml.config import load_config

    from_name = getattr(args, "from_name", None)
    config_path = NamedExperiment(args.experiment, root).config_path
    if from_name is not None and not config_path.exists():
        source = resolve_experiment(from_name, root).config_path
    else:
        exp = resolve_experiment(args.experiment, root)
        source = exp.config_path
        if from_name is not None:
            check_clone_parent(exp, from_name)
        if not source.is_file():
            raise RunwayError(
                f"experiment '{args.experiment}' has no config {source} (only old versions)",
                hint=f"recreate it with `runway-experiment {args.experiment}`",
            )
    return load_config(source, getattr(args, "opts", None) or (), project_root=root)


def add_ext_var_argument(parser: argparse.ArgumentParser) -> None:
    """``--ext-var NAME=VALUE`` (repeatable) for the commands that load an experiment config."""
    parser.add_argument(
        "--ext-var",
        dest="ext_var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a jsonnet std.extVar for this command (repeatable)",
    )


def apply_ext_vars(args: argparse.Namespace) -> None:
    """Make ``--ext-var NAME=VALUE`` visible to every config this command loads.

    Every environment variable is a jsonnet ``std.extVar``, so the values are set in this process's
    environment for the command (``cli.main.run_command`` restores it afterwards); the resolved values
    are stored in the version's ``config.json``, which is what a SLURM job or a later ``--resume`` reads.
    """
    from runway_for_ml.cli.config_cmd import ext_vars_from

    os.environ.update(ext_vars_from(args))


def _check_launch(args: argparse.Namespace, config: Any) -> None:
    """``--sweep`` needs SLURM; SLURM needs ``sbatch`` and a valid ``slurm`` section."""
    from runway_for_ml.launcher import chosen_launcher

    launcher = chosen_launcher(args, config)
    sweep = list(getattr(args, "sweep", None) or [])
    if sweep and launcher != "slurm":
        raise RunwayError(
            "--sweep submits a SLURM job array and needs SLURM",
            hint="add --slurm (or set meta.launcher: 'slurm'); to try values one by one locally, use --opts",
        )
    if launcher != "slurm":
        return
    from runway_for_ml.launcher.slurm import check_slurm_available, sbatch_parameters

    data = getattr(config, "data", config)
    check_slurm_available()
    sbatch_parameters(data.get("slurm"), trainer_paras=(data.get("train") or {}).get("trainer_paras"))


def _check_sweep_points(command: str, args: argparse.Namespace, config: Any, root: Path) -> None:
    """Each ``--sweep`` point's config gets the same checks as the base config (a bad value fails now, not in a job)."""
    sweep = list(getattr(args, "sweep", None) or [])
    if not sweep:
        return
    import copy
    import json

    from runway_for_ml.config import apply_overrides
    from runway_for_ml.experiment.preflight import check_run_config
    from runway_for_ml.launcher.sweep import parse_sweep, sweep_points

    base = getattr(config, "data", config)
    for point in sweep_points(parse_sweep(sweep)):
        data = copy.deepcopy(base)
        try:
            apply_overrides(data, [f"{key}={json.dumps(value)}" for key, value in point.items()], source="sweep")
            check_run_config(data, root, command, checkpoint=getattr(args, "checkpoint", None))
        except RunwayError as exc:
            raise type(exc)(f"--sweep point {point}: {exc.message}", hint=exc.hint) from exc


def _check_infer(args: argparse.Namespace, root: Path) -> None:
    from runway_for_ml.config import load_config
    from runway_for_ml.experiment.inference import resolve_checkpoint
    from runway_for_ml.experiment.preflight import check_run_config
    from runway_for_ml.experiment.training import load_version_config

    validate_name(args.infer_suffix, what="inference suffix")
    args.experiment = experiment_argument(args.experiment, root, version=True)
    name, number = split_version_name(args.experiment)
    version = args.version if args.version is not None else number
    exp = resolve_experiment(name, root)
    version_dir = exp.version(version, flag="--version") if version is not None else exp.latest_completed()
    resolve_checkpoint(version_dir, args.checkpoint or None)
    manifest = read_manifest(version_dir)
    project_root = Path(manifest["project_root"]) if Path(manifest.get("project_root") or "").is_dir() else root
    opts = getattr(args, "opts", None) or ()
    if args.config_file is not None:
        config = load_config(args.config_file, opts, project_root=project_root)
    else:
        config = load_version_config(version_dir, opts)
    check_run_config(
        config,
        project_root,
        "infer",
        evaluate=getattr(args, "evaluate", True),
        known_splits=_trained_splits(config.data, version_dir, manifest),
    )
    _check_launch(args, config)


def _trained_splits(config: dict[str, Any], version_dir: Path, manifest: dict[str, Any]) -> list[str] | None:
    """The splits the version trained on, when inference reads the same pipeline node with the same pipeline."""
    from runway_for_ml.experiment.sections import data_source

    splits = manifest.get("splits")
    if not isinstance(splits, dict):
        return None
    try:
        trained = VersionDir(version_dir).config_dict()
        test_source = data_source(config, "test")
        train_source = data_source(trained, "train")
    except (OSError, ValueError, RunwayError):
        return None
    same_data = trained.get("data_pipeline") == config.get("data_pipeline")
    if same_data and "*" in test_source and test_source == train_source:
        return sorted(splits)
    return None
