"""Where a command runs: here (``local``) or on SLURM through submitit.

Command modules call two functions::

    def add_arguments(parser):
        ...
        add_launcher_arguments(parser, sweep=True)          # --slurm, --launcher, --wait, --sweep

    def run(args):
        config = load_config(...)                           # validated
        version_dir = create_version(...)                   # the folder exists at submit time
        code = maybe_submit("train", args, config, version_dir=version_dir)
        if code is not None:                                # submitted (or failed to): done here
            return code
        ...                                                 # run locally

SLURM is chosen by ``--slurm``, ``--launcher slurm`` or ``meta.launcher: "slurm"``; ``--launcher local``
always runs here. On SLURM the job runs ``runway <command> … --launcher local`` on the node (see
:mod:`runway_for_ml.launcher.job`), writing into the version folder created at submit time.

This module stays light: submitit is imported only when something is submitted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError

__all__ = ["add_launcher_arguments", "chosen_launcher", "job_argv", "maybe_submit", "submit_jobs", "wait_for_jobs"]

# Options of the submitting command line that must not reach the job's command line.
_FLAGS = {"--slurm", "--wait"}
_OPTIONS_WITH_VALUE = {"--launcher", "--sweep"}
# Options whose effect is already in the version folder (its resolved config) when the job runs.
_BAKED_IN = {"--opts", "--from", "--config", "--ext-var", "--version", "--resume"}


def add_launcher_arguments(parser: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    """Add ``--slurm``, ``--launcher {local,slurm}``, ``--wait`` (and ``--sweep KEY=V1,V2`` when ``sweep``)."""
    group = parser.add_argument_group("where to run (docs/hpc.md)")
    group.add_argument(
        "--slurm",
        action="store_true",
        help="submit to SLURM through submitit (settings: the config's `slurm` section) and return",
    )
    group.add_argument(
        "--launcher",
        choices=("local", "slurm"),
        default=None,
        help="run here (local) or on SLURM; default: meta.launcher, else local",
    )
    group.add_argument(
        "--wait", action="store_true", help="with SLURM: block, stream the job's log, exit with its status"
    )
    if sweep:
        group.add_argument(
            "--sweep",
            action="append",
            default=[],
            metavar="KEY=V1,V2,...",
            help="sweep a config key over values (repeatable: cartesian product); one SLURM job array, "
            "one experiment version per point",
        )


def chosen_launcher(args: argparse.Namespace, config: Any = None) -> str:
    """``local`` or ``slurm``: ``--launcher`` wins, then ``--slurm``, then ``meta.launcher``."""
    explicit = getattr(args, "launcher", None)
    if explicit:
        return str(explicit)
    if getattr(args, "slurm", False):
        return "slurm"
    data = getattr(config, "data", config) or {}
    return str((data.get("meta") or {}).get("launcher") or "local")


def maybe_submit(command: str, args: argparse.Namespace, config: Any, *, version_dir: Path | None) -> int | None:
    """Submit ``runway <command>`` to SLURM when asked to; return its exit code, or None to run locally.

    Everything is checked before ``sbatch`` runs (the slurm section, the sbatch command, the sweep);
    on a problem the fresh, never-started ``version_dir`` is removed so a typo leaves nothing behind.
    Returns 0 after a fire-and-forget submission; with ``--wait`` the job's status (0 = COMPLETED).
    """
    sweep_items = list(getattr(args, "sweep", None) or [])
    if chosen_launcher(args, config) != "slurm":
        if sweep_items:
            raise RunwayError("--sweep submits a SLURM job array and needs SLURM", hint="add --slurm")
        return None
    try:
        if sweep_items:
            from runway_for_ml.launcher.sweep import submit_sweep

            # One version per point is created by the sweep, which discards the fresh base version.
            return submit_sweep(command, args, config, sweep_items, base_version_dir=version_dir)
        return _submit_single(command, args, config, version_dir)
    except BaseException:
        _discard_fresh_version(version_dir)
        raise


def _discard_fresh_version(version_dir: Path | None) -> dict[str, Any] | None:
    """Remove a version folder created for this submission that no job has touched yet.

    Returns the removed version's manifest (None when nothing was removed).
    """
    if version_dir is None or not Path(version_dir).is_dir():
        return None
    from runway_for_ml.experiment.manifest import read_manifest

    manifest = read_manifest(Path(version_dir))
    if manifest.get("status") == "created" and not (manifest.get("slurm") or {}).get("job_id"):
        shutil.rmtree(version_dir, ignore_errors=True)
        return manifest
    return None


def _project_root(version_dir: Path | None) -> Path:
    if version_dir is not None:
        from runway_for_ml.experiment.manifest import read_manifest

        stored = read_manifest(Path(version_dir)).get("project_root")
        if stored and Path(stored).is_dir():
            return Path(stored)
    from runway_for_ml.project import find_project_root

    return Path(find_project_root() or Path.cwd())


def experiments_root(version_dir: Path | None) -> Path:
    """The experiments folder of the project (where ``.jobs`` and ``.sweeps`` live)."""
    if version_dir is not None and _is_version_dir(Path(version_dir)):
        return Path(version_dir).resolve().parent
    from runway_for_ml.experiment.experiment import experiments_dir

    return experiments_dir(_project_root(version_dir)).resolve()


def _is_version_dir(path: Path) -> bool:
    return (path / "train").is_dir()


def job_argv(
    command: str, args: argparse.Namespace, *, version_dir: Path | None, experiment: str | None = None
) -> list[str]:
    """The command line the job runs (after ``runway``), always ending with ``--launcher local``.

    Every flag of the submitting command line is replayed except the launcher's own (``--slurm``,
    ``--launcher``, ``--wait``, ``--sweep``). ``train`` and ``run`` of a version folder made at submit
    time run ``<command> <experiment> [flags…] --in-version <dir>``: the version's resolved config
    already holds ``--opts`` / ``--from`` (and ``--resume`` / ``--version`` chose the folder), so those
    are dropped too. ``experiment`` saves reading the version's manifest when the caller knows it.

    >>> job_argv("run", args, version_dir=Path("experiments/digits_V0"))  # doctest: +SKIP
    ['run', 'digits', '--checkpoint', 'last', '--in-version', '/proj/experiments/digits_V0', '--launcher', 'local']
    """
    if command in ("train", "run") and version_dir is not None:
        if experiment is None:
            from runway_for_ml.experiment.manifest import read_manifest

            experiment = read_manifest(Path(version_dir)).get("experiment") or getattr(args, "experiment", None)
        extra = _replay(args, command, drop_baked=True)[1:]
        typed = getattr(args, "experiment", None) or experiment
        if typed in extra:  # the positional as typed (only it: a flag's value may equal the name)
            extra.remove(typed)
        return [
            command,
            str(experiment),
            *extra,
            "--in-version",
            str(Path(version_dir).resolve()),
            "--launcher",
            "local",
        ]
    return [*_replay(args, command, drop_baked=False), "--launcher", "local"]


# Launcher / baked-in options that take exactly one value, or several (until the next option).
_ONE_VALUE = {"--launcher", "--sweep", "--from", "--config", "--version"}
_MANY_VALUES = {"--opts", "--ext-var"}


def _canonical_option(token: str, names: set[str]) -> str:
    """``--wai`` -> ``--wait``: argparse accepts unambiguous prefixes, so the replay must recognise them."""
    name = token.split("=", 1)[0]
    if not name.startswith("--") or name in names:
        return name
    matches = [n for n in names if n.startswith(name)]
    return matches[0] if len(matches) == 1 and len(name) > 3 else name


def _replay(args: argparse.Namespace, command: str, *, drop_baked: bool) -> list[str]:
    """The submitting command line from ``command`` on, without the dropped options and their values."""
    argv = list(getattr(args, "_runway_argv", None) or [])
    if not argv:  # not parsed by cli.main (e.g. called from Python): runway-<command> … or runway <command> …
        rest = sys.argv[1:]
        argv = rest if command in rest else [command, *rest]
    if command in argv:
        # Options given before the command (`runway --debug train …`) are accepted after it as well.
        at = argv.index(command)
        argv = [*argv[at:], *argv[:at]]
    dropped = _FLAGS | _OPTIONS_WITH_VALUE | (_BAKED_IN if drop_baked else set())
    out: list[str] = []
    skip_values = False
    i = 0
    while i < len(argv):
        item = argv[i]
        if item.startswith("-"):
            skip_values = False
        name = _canonical_option(item, dropped) if item.startswith("--") else item
        if name in dropped:
            inline_value = "=" in item
            if name in _MANY_VALUES and not inline_value:
                skip_values = True  # `--opts a=1 b=2`: drop until the next option
            elif name in _ONE_VALUE and not inline_value:
                i += 1  # its value
            i += 1
            continue
        if skip_values:
            i += 1
            continue
        out.append(item)
        i += 1
    return out


def _submit_single(command: str, args: argparse.Namespace, config: Any, version_dir: Path | None) -> int:
    from runway_for_ml.launcher.job import RunwayJob
    from runway_for_ml.launcher.slurm import max_requeues

    data = getattr(config, "data", config) or {}
    section = data.get("slurm") or {}
    root = experiments_root(version_dir)
    folder = (Path(version_dir) / "slurm" / "%j") if version_dir is not None else root / ".jobs" / "logs" / "%j"
    job = RunwayJob(
        job_argv(command, args, version_dir=version_dir),
        cwd=Path.cwd(),
        version_dir=version_dir,
        max_requeues=max_requeues(section),
    )
    name = f"runway-{command}-{Path(version_dir).name if version_dir else _target_name(args)}"
    records = submit_jobs(
        [job],
        config=data,
        folder=folder,
        job_name=name,
        command=command,
        experiments_root=root,
        version_dirs=[version_dir],
        experiment=_experiment_name(args, version_dir),
    )
    record = records[0]
    print(f"submitted {command} as SLURM job {record.job_id}" + (f" -> {version_dir}" if version_dir else ""))
    print(f"  stdout: {record.stdout}\n  stderr: {record.stderr}")
    print(f"  follow it with: runway jobs {record.version or record.job_id} --log")
    if getattr(args, "wait", False):
        return wait_for_jobs(records)
    return 0


def _target_name(args: argparse.Namespace) -> str:
    for attr in ("experiment", "config", "name", "target"):
        value = getattr(args, attr, None)
        if isinstance(value, str) and value:
            return Path(value).stem
    return "job"


def _experiment_name(args: argparse.Namespace, version_dir: Path | None) -> str | None:
    if version_dir is not None:
        from runway_for_ml.experiment.manifest import read_manifest

        name = read_manifest(Path(version_dir)).get("experiment")
        if name:
            return str(name)
    value = getattr(args, "experiment", None)
    return str(value) if value else None


def submit_jobs(
    jobs: list[Any],
    *,
    config: dict[str, Any],
    folder: Path,
    job_name: str,
    command: str,
    experiments_root: Path,
    version_dirs: list[Path | None],
    experiment: str | None = None,
    sweep: str | None = None,
    points: list[int] | None = None,
) -> list[Any]:
    """Submit ``jobs`` (RunwayJob callables) as one job or one job array; register and record them.

    Returns the :class:`~runway_for_ml.launcher.jobs.JobRecord` of each job, in order.
    """
    from runway_for_ml.experiment.manifest import now_iso, update_manifest
    from runway_for_ml.launcher.jobs import JobRecord, save_jobs
    from runway_for_ml.launcher.slurm import make_executor, sbatch_parameters

    section = config.get("slurm") or {}
    params = sbatch_parameters(
        section, trainer_paras=(config.get("train") or {}).get("trainer_paras"), job_name=job_name
    )
    executor = make_executor(Path(folder), params, section=section)
    try:
        if len(jobs) == 1:
            submitted = [executor.submit(jobs[0])]
        else:
            with executor.batch():
                submitted = [executor.submit(job) for job in jobs]
    except Exception as exc:  # sbatch refused (bad partition, account, ...): show SLURM's own words
        raise RunwayError(
            f"sbatch refused the job: {str(exc).strip()}",
            hint="check the `slurm` section of the config (partition, account, qos, time_min); see docs/hpc.md",
        ) from exc
    submitted_at = now_iso()
    records = [
        JobRecord(
            job_id=str(handle.job_id),
            command=command,
            submitted_at=submitted_at,
            stdout=str(handle.paths.stdout),
            stderr=str(handle.paths.stderr),
            folder=str(handle.paths.folder),
            experiment=experiment,
            version_dir=str(Path(version_dirs[i]).resolve()) if i < len(version_dirs) and version_dirs[i] else None,
            sweep=sweep,
            point=points[i] if points else None,
            argv=list(job.argv),
        )
        for i, (job, handle) in enumerate(zip(jobs, submitted, strict=True))
    ]
    # The registry first (one file for the whole submission): with it `runway jobs` knows the queued jobs.
    save_jobs(experiments_root, records)
    for record in records:
        if record.version_dir is None:
            continue
        info = {
            "job_id": record.job_id,
            "submitted_at": submitted_at,
            "stdout": record.stdout,
            "stderr": record.stderr,
            "folder": record.folder,
            "command": command,
            "sweep": sweep,
        }
        # Locked read-modify-write: the job may already run and write its own fields into the manifest.
        if command in ("train", "run"):
            # A manifest naming this job id was written by the job itself: it started, keep its status.
            update_manifest(
                Path(record.version_dir),
                status="queued",
                slurm=info,
                keep_status=lambda m, job_id=record.job_id: (m.get("slurm") or {}).get("job_id") == job_id,
            )
        else:  # e.g. an inference job of a trained version: keep the training job's record
            update_manifest(Path(record.version_dir), slurm_jobs={record.job_id: info})
    return records


def wait_for_jobs(records: list[Any], *, poll_s: float = 1.0, stream: bool = True) -> int:
    """Block until every job finished, streaming their logs; 0 when all COMPLETED, else 1."""
    from runway_for_ml.launcher.jobs import FINISHED_STATES, job_states

    offsets: dict[str, int] = {}
    final: dict[str, str] = {}
    while True:
        states = job_states([r.job_id for r in records], records)
        for record in records:
            if stream:
                _stream(record.stdout, offsets, sys.stdout)
                _stream(record.stderr, offsets, sys.stderr)
            state = states[record.job_id].state
            if state in FINISHED_STATES:
                final[record.job_id] = state
        if len(final) == len(records):
            break
        time.sleep(poll_s)
    for record in records:
        if stream:
            _stream(record.stdout, offsets, sys.stdout)
            _stream(record.stderr, offsets, sys.stderr)
        print(f"job {record.job_id}: {final[record.job_id]}")
    return 0 if all(s == "COMPLETED" for s in final.values()) else 1


def _stream(path: str, offsets: dict[str, int], out: Any) -> None:
    try:
        with open(path, "rb") as fh:
            fh.seek(offsets.get(path, 0))
            chunk = fh.read()
    except OSError:
        return
    if chunk:
        offsets[path] = offsets.get(path, 0) + len(chunk)
        out.write(chunk.decode("utf-8", errors="replace"))
        out.flush()
