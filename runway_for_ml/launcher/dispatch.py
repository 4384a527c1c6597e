"""A command's way onto SLURM: run here, submit one job, or submit a sweep (one job array).

:func:`maybe_submit` is what a command calls; it sits above :mod:`~.submission` (one job) and
:mod:`~.sweep` (a job array), which both submit through :func:`~.submission.submit`.

In a command's ``run``::

    code = maybe_submit(spec, args)
    if code is not None:  # submitted (or refused): the command is done here
        return code
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from runway_for_ml.errors import RunwayError
from runway_for_ml.launcher.options import chosen_launcher
from runway_for_ml.launcher.slurm import render_sbatch
from runway_for_ml.launcher.spec import JobSpec
from runway_for_ml.launcher.submission import discard_fresh_version, experiments_root, job_folder, submit, wait_for_jobs
from runway_for_ml.launcher.sweep import parse_sweep, submit_sweep, sweep_points

__all__ = ["dry_run", "maybe_submit"]


def maybe_submit(spec: JobSpec, args: argparse.Namespace) -> int | None:
    """Submit ``spec`` when SLURM was chosen (``--slurm``, ``--launcher``, ``meta.launcher``); else None.

    ``--sweep`` turns the spec into one job per point (a job array, see :mod:`~.sweep`). Everything is
    checked before ``sbatch`` runs; on a problem the fresh, never-started ``spec.version_dir`` is
    removed so a typo leaves nothing behind. Returns 0 after a fire-and-forget submission; with
    ``--wait`` the jobs' status (0 = all COMPLETED).
    """
    sweep_items = list(getattr(args, "sweep", None) or [])
    if chosen_launcher(args, spec.config) != "slurm":
        if sweep_items:
            raise RunwayError("--sweep submits a SLURM job array and needs SLURM", hint="add --slurm")
        return None
    wait = bool(getattr(args, "wait", False))
    if getattr(args, "dry_run", False):
        try:
            return dry_run(spec, sweep_items)
        finally:  # a dry run leaves nothing behind: the fresh version folder goes again
            discard_fresh_version(spec.version_dir)
    try:
        if sweep_items:
            return submit_sweep(spec, sweep_items, wait=wait)
        return _submit_one(spec, wait=wait)
    except BaseException:
        discard_fresh_version(spec.version_dir)
        raise


def dry_run(spec: JobSpec, sweep_items: Sequence[str] = ()) -> int:
    """``--dry-run``: validate the job (the same checks as a submission), print its sbatch script and srun line.

    Nothing is submitted; the caller removes the fresh version folder. The script is submitit's own
    (the text ``sbatch`` would receive); each task then runs ``runway <argv>`` in the submit directory.
    """

    root = experiments_root(spec.version_dir)
    points = 1
    if sweep_items:
        points = len(sweep_points(parse_sweep(list(sweep_items))))
    params = spec.sbatch_parameters()  # geometry and key checks: exit 2 here, as a real submission would
    spec.max_requeues()
    # submitit's own script, written through its public API to a stand-in sbatch (nothing is queued).
    script = render_sbatch(params, job_folder(spec, root).absolute(), section=spec.slurm_section)
    srun = [line for line in script.splitlines() if line.startswith("srun ")]
    tasks = int(params.get("nodes") or 1) * int(params.get("ntasks_per_node") or 1)
    what = f"a job array of {points} points (one version each)" if points > 1 else "one job"
    print(f"dry run: `runway {spec.command}` would be submitted as {what}; nothing was submitted")
    print("---- sbatch script ----")
    print(script.rstrip())
    print("---- srun line ----")
    print(srun[0] if srun else "(none: slurm.use_srun=false runs the command once, in the batch step)")
    print(f"---- each of the {tasks} task(s) runs, in {spec.cwd} ----")
    print("runway " + " ".join(spec.job_argv()))
    return 0


def _submit_one(spec: JobSpec, *, wait: bool) -> int:
    root = experiments_root(spec.version_dir)
    folder = job_folder(spec, root)
    (job,) = submit([spec], folder=folder, experiments_root=root)
    where = f" -> {spec.version_dir}" if spec.version_dir else ""
    print(f"submitted {spec.command} as SLURM job {job.job_id}{where}")
    print(f"  stdout: {job.paths.stdout}\n  stderr: {job.paths.stderr}")
    # A version folder names its jobs (`runway jobs digits_V3`); an infer-<suffix> folder does not.
    is_version = spec.version_dir is not None and (Path(spec.version_dir) / "train").is_dir()
    print(f"  follow it with: runway jobs {Path(spec.version_dir).name if is_version else job.job_id} --log")
    return wait_for_jobs([job]) if wait else 0
