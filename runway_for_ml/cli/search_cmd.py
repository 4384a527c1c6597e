"""``runway search EXP [--trials N] [--slurm --workers K] [--resume] [--dashboard]``: hyperparameter search on Optuna.

Runs the experiment config's ``search:`` section as an Optuna study in ``experiments/<exp>_search_S<k>/``;
every trial is a normal version ``<exp>_V<n>`` (train -> infer -> eval, as ``runway-run``). See docs/search.md.

    runway search digits                                   # search.trials trials here, one after another
    runway search digits --trials 8 --slurm --workers 4    # 4 SLURM array tasks pulling trials from one study
    runway search digits --resume                          # continue the latest study until its trials are finished
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runway_for_ml.cli.common import add_launch_arguments, add_opts_argument, command_line
from runway_for_ml.cli.output import work_on_stderr
from runway_for_ml.cli.preflight import (
    add_ext_var_argument,
    apply_ext_vars,
    experiment_argument,
    load_experiment_config,
)
from runway_for_ml.config.loader import ResolvedConfig
from runway_for_ml.config.search_section import check_search_section
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.names import require_project_root, resolve_experiment
from runway_for_ml.experiment.preflight import check_run_config
from runway_for_ml.experiment.search import run_worker
from runway_for_ml.experiment.search_outputs import study_listing
from runway_for_ml.experiment.search_space import check_search_config
from runway_for_ml.experiment.search_study import StudyDir, create_study, find_study, removed_when_empty
from runway_for_ml.launcher import chosen_launcher
from runway_for_ml.launcher.search_workers import submit_search_workers
from runway_for_ml.launcher.slurm import check_slurm_available, sbatch_parameters


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="experiment name (its config has a search: section)")
    parser.add_argument(
        "--trials", type=int, default=None, help="finished trials the study needs (default: search.trials)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="with --slurm: SLURM array tasks pulling trials (default 1)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the latest study (or --study) until its trials are finished"
    )
    parser.add_argument("--study", default=None, metavar="NAME", help="with --resume: the study, e.g. digits_search_S0")
    parser.add_argument(
        "--dashboard", action="store_true", help="print how to open the study's journal in optuna-dashboard"
    )
    add_opts_argument(parser)
    add_launch_arguments(parser)
    add_ext_var_argument(parser)
    # A SLURM array task: one worker of an existing study.
    parser.add_argument("--worker-of", dest="worker_of", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-index", dest="worker_index", type=int, default=0, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    root = require_project_root()
    apply_ext_vars(args)
    if args.worker_of:
        return _run_here(args, Path(args.worker_of), fresh=False, worker=args.worker_index)
    args.experiment = experiment_argument(args.experiment, root)
    if args.trials is not None and args.trials < 1:
        raise RunwayError(f"--trials must be at least 1, got {args.trials}")
    if args.workers < 1:
        raise RunwayError(f"--workers must be at least 1, got {args.workers}")
    if args.resume:
        study_dir, config = _resumed_study(args, root)
        fresh = False
    else:
        if args.study:
            raise RunwayError("--study names the study to resume", hint="add --resume")
        config = _checked_config(args, root)
        study_dir, fresh = None, True
    slurm = _launcher(args, config) == "slurm"
    if args.workers > 1 and not slurm:
        raise RunwayError(
            "--workers runs parallel trials as SLURM array tasks and needs SLURM",
            hint="add --slurm (or set meta.launcher: 'slurm'); here, trials run one after another",
        )
    if slurm:
        _check_slurm(config)
    if getattr(args, "dry_run", False):
        print(
            f"would run {args.workers} worker(s): runway search {args.experiment} --worker-of <study> --worker-index i"
        )
        return 0
    if study_dir is None:
        study_dir = _create_study(args, root, config)
    if args.dashboard:
        _print_dashboard(study_dir)
    if slurm:
        return _submit(args, study_dir, config, fresh)
    return _run_here(args, study_dir, fresh=fresh, worker=0)


def _launcher(args: argparse.Namespace, config: Any) -> str:
    return chosen_launcher(args, config)


def _check_slurm(config: Any) -> None:
    data = getattr(config, "data", config)
    check_slurm_available()
    sbatch_parameters(data.get("slurm"), trainer_paras=(data.get("train") or {}).get("trainer_paras"))


def _checked_config(args: argparse.Namespace, root: Path) -> Any:
    """The experiment config with --opts, its search section and every space corner checked (nothing written)."""
    config = load_experiment_config(args, root)
    where = f"{config.path}: " if config.path else ""
    check_search_config(config.data, root, where=where)
    check_run_config(config.data, root, "run")
    return config


def _create_study(args: argparse.Namespace, root: Path, config: Any) -> Path:
    section = check_search_section(config.data["search"])
    study_dir = create_study(
        resolve_experiment(args.experiment, root), config, section, command_line=command_line(args), trials=args.trials
    )
    print(f"study folder: {study_dir}", file=sys.stderr)
    return study_dir


def _resumed_study(args: argparse.Namespace, root: Path) -> tuple[Path, Any]:
    if args.opts:
        raise RunwayError(
            "--opts cannot change a study being resumed: its trials must share one base config",
            hint="start a new study with `runway search EXPERIMENT --opts ...`",
        )
    study_dir = find_study(root, args.study, experiment=args.experiment)
    folder = StudyDir(study_dir)
    info = folder.info()
    if info.get("experiment") != args.experiment:
        raise RunwayError(
            f"study {study_dir.name} searches experiment '{info.get('experiment')}', not '{args.experiment}'",
            hint=f"runway search {info.get('experiment')} --resume --study {study_dir.name}",
        )
    if args.trials is not None:
        folder.set_trials(args.trials)
    print(
        f"resuming study {study_dir.name} ({info.get('trials') if args.trials is None else args.trials} trials)",
        file=sys.stderr,
    )
    return study_dir, ResolvedConfig(folder.base_config(), None, [])


def _print_dashboard(study_dir: Path) -> None:
    journal = Path(study_dir).resolve() / "journal.log"
    print(
        f"open the study in optuna-dashboard (optional: pip install 'runway_for_ml[search]'):\n"
        f"  optuna-dashboard {journal}\n"
        f"then browse http://127.0.0.1:8080 (the study is named {Path(study_dir).name})"
    )


def _submit(args: argparse.Namespace, study_dir: Path, config: Any, fresh: bool) -> int:
    import shutil

    try:
        code = submit_search_workers(
            study_dir,
            config,
            workers=args.workers,
            experiment=args.experiment,
            command_line=command_line(args),
            debug=getattr(args, "debug", False),
            wait=getattr(args, "wait", False),
        )
    except BaseException:
        if fresh and not (Path(study_dir) / "slurm").is_dir():
            shutil.rmtree(study_dir, ignore_errors=True)
        raise
    if getattr(args, "wait", False):
        _print_best(study_dir)
    return code


def _print_best(study_dir: Path) -> None:
    import json

    try:
        best = json.loads((Path(study_dir) / "best.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        print(f"no results in {study_dir} yet")
        return
    top = best.get("best")
    print(f"{best['finished']} of {best['trials']} trials finished ({best['pruned']} pruned)")
    if top:
        print(
            f"best {best['metric']}: {top['value']:.4f} (trial {top['trial']}, {top['version']}) {json.dumps(top['params'])}"
        )
    print(f"page: {Path(study_dir) / 'search.html'}")


def _run_here(args: argparse.Namespace, study_dir: Path, *, fresh: bool, worker: int) -> int:
    with removed_when_empty(study_dir, fresh), work_on_stderr():
        result = run_worker(study_dir, command_line=command_line(args), worker=worker)
    _print_result(result, study_dir)
    return 0


def _print_result(result: dict[str, Any], study_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    best = result.get("best") or {}
    console = Console()
    table = Table(title=f"runway search {result['study']}", title_justify="left")
    table.add_column("")
    table.add_column("value")
    table.add_row("finished trials", f"{result['finished']} of {best.get('trials')} ({best.get('pruned', 0)} pruned)")
    table.add_row("run by this worker", ", ".join(map(str, result["ran"])) or "-")
    top = best.get("best")
    if top:
        table.add_row(f"best {best.get('metric')}", f"{top['value']:.4f} (trial {top['trial']}, {top['version']})")
        for key, value in top["params"].items():
            table.add_row(f"  {key}", str(value))
    console.print(table)
    console.print(f"study folder: {study_dir}")
    console.print(f"page:         {Path(study_dir) / 'search.html'}")


def print_study_listing(root: Path, study: str, *, as_json: bool = False) -> int:
    """``runway ls --search STUDY``: the study's trials (versions), best first by the search metric."""
    import json

    listing = study_listing(root, study)
    if as_json:
        print(json.dumps(listing, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    keys = sorted({key for row in listing["rows"] for key in row["params"]})
    table = Table(
        title=f"{listing['study']}: {listing['direction']} {listing['metric']} ({len(listing['rows'])} trials)",
        title_justify="left",
    )
    for column in ("version", "trial", "state", listing["metric"], *[k.rsplit(".", 1)[-1] for k in keys]):
        table.add_column(str(column))
    colours = {"complete": "green", "pruned": "yellow", "failed": "red", "running": "cyan", "interrupted": "yellow"}
    for row in listing["rows"]:
        value = row["value"]
        table.add_row(
            row["version"],
            str(row["trial"]),
            f"[{colours.get(row['state'], 'white')}]{row['state']}[/]",
            "-" if value is None else f"{value:.4f}",
            *[_cell(row["params"].get(k)) for k in keys],
        )
    Console().print(table)
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
