"""Submitting :class:`~runway_for_ml.launcher.spec.JobSpec` s to SLURM through submitit.

:func:`submit` turns specs into submitit ``SlurmJob`` s (one job, or one job array), records them in
the jobs registry and in the version manifests, and returns the jobs; :func:`wait_for_jobs` follows
them to the end. What a command calls is :func:`runway_for_ml.launcher.dispatch.maybe_submit`.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.layout import VersionDir, experiments_dir, project_root_of
from runway_for_ml.experiment.manifest import now_iso, read_manifest, update_manifest
from runway_for_ml.launcher.jobs import FINISHED_STATES, JobRecord, job_states, save_jobs
from runway_for_ml.launcher.slurm import make_executor
from runway_for_ml.launcher.spec import JobSpec
from runway_for_ml.project import find_project_root

__all__ = ["discard_fresh_version", "experiments_root", "job_folder", "submit", "wait_for_jobs"]

_SLURM_HINT = "check the `slurm` section of the config (partition, account, qos, time_min); see docs/hpc.md"


def job_folder(spec: JobSpec, root: Path) -> Path:
    """Where the job's logs go: ``<version>/slurm/%j``, else ``experiments/.jobs/logs/%j``."""
    if spec.version_dir is not None:
        return Path(spec.version_dir).resolve() / "slurm" / "%j"
    return root / ".jobs" / "logs" / "%j"


def discard_fresh_version(version_dir: Path | None) -> dict[str, Any] | None:
    """Remove a version folder created for this submission that no job has touched yet.

    Returns the removed version's manifest (None when nothing was removed).
    """
    if version_dir is None or not Path(version_dir).is_dir():
        return None

    manifest = read_manifest(Path(version_dir))
    if manifest.get("status") == "created" and not (manifest.get("slurm") or {}).get("job_id"):
        shutil.rmtree(version_dir, ignore_errors=True)
        return manifest
    return None


def project_root(version_dir: Path | None) -> Path:
    """The project of ``version_dir`` (see ``experiment.layout.project_root_of``), else the one around the cwd."""

    root = project_root_of(Path(version_dir)) if version_dir is not None else None
    return Path(root or find_project_root() or Path.cwd())


def experiments_root(version_dir: Path | None) -> Path:
    """The experiments folder of the project (where ``.jobs`` and ``.sweeps`` live)."""

    if version_dir is not None and VersionDir(version_dir).train_dir.is_dir():
        return Path(version_dir).resolve().parent

    return experiments_dir(project_root(version_dir)).resolve()


def _experiment_of(spec: JobSpec) -> str | None:
    if spec.experiment:
        return spec.experiment
    if spec.version_dir is not None:
        name = read_manifest(Path(spec.version_dir)).get("experiment")
        return str(name) if name else None
    return None


def submit(
    specs: Sequence[JobSpec],
    *,
    folder: Path,
    experiments_root: Path,
    sweep: str | None = None,
    points: Sequence[int] | None = None,
) -> list[Any]:
    """Submit ``specs`` as one job (or one job array when several); register and record them.

    The first spec's resources apply to all (a job array shares one sbatch script). Returns submitit's
    ``SlurmJob`` of each spec, in order: ``job.job_id``, ``job.paths.stdout``, ``job.state``,
    ``job.result()``.
    """
    from runway_for_ml.launcher.job import RunwayJob

    if not specs:
        raise ValueError("submit needs at least one job spec")
    first = specs[0]
    executor = make_executor(Path(folder), first.sbatch_parameters(), section=first.slurm_section)
    calls = [
        RunwayJob(s.job_argv(), cwd=s.cwd, version_dir=s.version_dir, max_requeues=s.max_requeues()) for s in specs
    ]
    jobs = _submit_calls(executor, calls, first.command, Path(folder))
    _register(specs, jobs, calls, experiments_root=Path(experiments_root), sweep=sweep, points=points)
    return jobs


def _submit_calls(executor: Any, calls: list[Any], command: str, folder: Path) -> list[Any]:
    """Run sbatch through submitit; say which part failed (SLURM's answer, the machine, or runway)."""
    from submitit.core.utils import FailedJobError, FailedSubmissionError

    try:
        if len(calls) == 1:
            return [executor.submit(calls[0])]
        with executor.batch():
            pending = [executor.submit(call) for call in calls]
        return list(pending)
    except FailedJobError as exc:  # sbatch exited non-zero: show SLURM's own words
        raise RunwayError(f"sbatch refused the job: {str(exc).strip()}", hint=_SLURM_HINT) from exc
    except FailedSubmissionError as exc:  # sbatch exited 0 but printed no job id
        raise RunwayError(
            f"sbatch accepted `runway {command}` but printed no job id: {str(exc).strip()}",
            hint="check that sbatch on this machine is SLURM's (try: sbatch --wrap hostname)",
        ) from exc
    except OSError as exc:  # the log folder or the sbatch command itself
        raise RunwayError(
            f"could not submit `runway {command}`: {exc}",
            hint=f"check that {folder.parent} is writable and that `sbatch` runs on this machine",
        ) from exc


def _register(
    specs: Sequence[JobSpec],
    jobs: list[Any],
    calls: list[Any],
    *,
    experiments_root: Path,
    sweep: str | None,
    points: Sequence[int] | None,
) -> None:
    """Write the jobs registry (one file per submission) and each job's record in its manifest."""

    submitted_at = now_iso()
    records = [
        JobRecord(
            job_id=str(job.job_id),
            command=spec.command,
            submitted_at=submitted_at,
            stdout=str(job.paths.stdout),
            stderr=str(job.paths.stderr),
            folder=str(job.paths.folder),
            experiment=_experiment_of(spec),
            version_dir=str(Path(spec.version_dir).resolve()) if spec.version_dir is not None else None,
            sweep=sweep,
            point=points[i] if points else None,
            argv=list(call.argv),
        )
        for i, (spec, job, call) in enumerate(zip(specs, jobs, calls, strict=True))
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
            "command": record.command,
            "sweep": sweep,
        }
        # Locked read-modify-write: the job may already run and write its own fields into the manifest.
        if record.command in ("train", "run"):
            # A manifest naming this job id was written by the job itself: it started, keep its status.
            update_manifest(
                Path(record.version_dir),
                status="queued",
                slurm=info,
                keep_status=lambda m, job_id=record.job_id: (m.get("slurm") or {}).get("job_id") == job_id,
            )
        else:  # e.g. an inference job of a trained version: keep the training job's record
            update_manifest(Path(record.version_dir), slurm_jobs={record.job_id: info})


def wait_for_jobs(jobs: Sequence[Any], *, poll_s: float = 1.0, stream: bool = True) -> int:
    """Block until every job finished, streaming their logs; 0 when all COMPLETED, else 1.

    ``jobs`` are submitit jobs (or anything with ``job_id`` and ``paths``). States come from
    :func:`~runway_for_ml.launcher.jobs.job_states` (``squeue`` first: submitit's ``sacct`` view lags).
    """

    offsets: dict[str, int] = {}
    final: dict[str, str] = {}
    ids = [str(job.job_id) for job in jobs]
    folders = {str(job.job_id): str(job.paths.folder) for job in jobs}
    while True:
        states = job_states(ids, folders=folders)
        for job in jobs:
            if stream:
                _stream(job, offsets)
            state = states[str(job.job_id)].state
            if state in FINISHED_STATES:
                final[str(job.job_id)] = state
        if len(final) == len(jobs):
            break
        time.sleep(poll_s)
    for job in jobs:
        if stream:
            _stream(job, offsets)
        print(f"job {job.job_id}: {final[str(job.job_id)]}")
    return 0 if all(s == "COMPLETED" for s in final.values()) else 1


def _stream(job: Any, offsets: dict[str, int]) -> None:
    for path, out in ((job.paths.stdout, sys.stdout), (job.paths.stderr, sys.stderr)):
        key = str(path)
        try:
            with open(key, "rb") as fh:
                fh.seek(offsets.get(key, 0))
                chunk = fh.read()
        except OSError:
            continue
        if chunk:
            offsets[key] = offsets.get(key, 0) + len(chunk)
            out.write(chunk.decode("utf-8", errors="replace"))
            out.flush()
