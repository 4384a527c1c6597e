"""``runway search EXP --slurm --workers K``: K SLURM array tasks, each an ask/tell worker of one study.

Each task runs ``runway search EXP --worker-of <study folder> --worker-index i --launcher local`` on its
node (through :class:`~runway_for_ml.launcher.job.RunwayJob`, so a preempted task saves the running
trial's ``last.ckpt`` and is requeued); the workers share the study's Optuna journal on the shared
file system and pull trials from it until the study has its trials. The jobs are recorded in the jobs
registry (``runway jobs``), their logs go to ``<study folder>/slurm/``.

>>> submit_search_workers(study_dir, config, workers=4, experiment="digits")  # doctest: +SKIP
0
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.launcher.spec import JobSpec
from runway_for_ml.launcher.submission import submit, wait_for_jobs

__all__ = ["submit_search_workers", "worker_specs"]


def worker_specs(
    study_dir: Path,
    config: Any,
    *,
    workers: int,
    experiment: str,
    command_line: Sequence[str] = (),
    debug: bool = False,
) -> list[JobSpec]:
    """One :class:`JobSpec` per worker (the same command line but the worker index)."""
    study_dir = Path(study_dir).resolve()
    return [
        JobSpec(
            "search",
            [
                "search",
                experiment,
                "--worker-of",
                str(study_dir),
                "--worker-index",
                str(index),
                *(["--debug"] if debug else []),
            ],
            config,
            experiment=experiment,
            command_line=list(command_line),
        )
        for index in range(workers)
    ]


def submit_search_workers(
    study_dir: Path,
    config: Any,
    *,
    workers: int,
    experiment: str,
    command_line: Sequence[str] = (),
    debug: bool = False,
    wait: bool = False,
) -> int:
    """Submit the study's workers as one job array (one job when ``workers`` is 1); with ``wait``, follow them.

    Returns 0 once submitted, or with ``wait`` 0 when every task COMPLETED (else 1).
    """
    study_dir = Path(study_dir).resolve()
    specs = worker_specs(
        study_dir, config, workers=workers, experiment=experiment, command_line=command_line, debug=debug
    )
    jobs = submit(specs, folder=study_dir / "slurm" / "%j", experiments_root=study_dir.parent)
    ids = ", ".join(str(job.job_id) for job in jobs)
    print(f"submitted {len(jobs)} search worker(s) of {study_dir.name} as SLURM job(s) {ids}")
    print(f"  logs:   {study_dir / 'slurm'}")
    print(f"  follow: runway ls --search {study_dir.name}   (results in {study_dir})")
    return wait_for_jobs(jobs, stream=False) if wait else 0
