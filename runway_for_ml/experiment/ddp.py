"""Multi-process training (DDP): which process writes, and which version folder a worker joins.

Global rank 0 writes (version folders, manifests, results); rank 0 exports ``RUNWAY_VERSION_DIR``
before ``trainer.fit`` so the ranks Lightning starts by re-running the command line (local
``strategy=ddp``) train in the same folder. Under SLURM every task is started by ``srun`` with the same
``--in-version`` and gets its rank from ``SLURM_PROCID``.

>>> os.environ.get("LOCAL_RANK") is None and global_rank() == 0  # doctest: +SKIP
True
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from runway_for_ml.errors import RunwayError

__all__ = ["VERSION_DIR_ENV", "ddp_worker_version_dir", "exported_version_dir", "global_rank", "worker_version_dir"]

# Set by rank 0 while it fits; inherited by the DDP ranks Lightning launches by re-running the command.
VERSION_DIR_ENV = "RUNWAY_VERSION_DIR"
# Rank variables of Lightning's subprocess launcher / torchrun (RANK, LOCAL_RANK, NODE_RANK) and of srun.
_RANK_VARIABLES = ("RANK", "SLURM_PROCID", "NODE_RANK", "LOCAL_RANK")


def global_rank() -> int:
    """This process's rank in a multi-process training, from the environment (0 when not distributed).

    Any non-zero rank variable (``RANK``, ``SLURM_PROCID``, ``NODE_RANK``, ``LOCAL_RANK``) makes this a
    worker: only the process where all of them are 0 (or unset) writes manifests and reports.
    """
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 0


def ddp_worker_version_dir() -> Path | None:
    """The version folder a DDP worker (rank > 0) started by re-running the command must train in.

    ``None`` in rank 0 and outside distributed training: the command then runs normally.
    """
    value = os.environ.get(VERSION_DIR_ENV)
    if not value or global_rank() == 0:
        return None
    return Path(value)


def worker_version_dir(in_version: str | Path | None) -> Path | None:
    """For a rank > 0: the version folder to join (``RUNWAY_VERSION_DIR``, else ``--in-version``); ``None`` in rank 0.

    A worker that knows neither would train in a second folder: that is a RunwayError.
    """
    rank = global_rank()
    if rank == 0:
        return None
    worker_dir = ddp_worker_version_dir()
    if worker_dir is None and in_version:
        worker_dir = Path(in_version)
    if worker_dir is None:
        raise RunwayError(
            f"this process is distributed rank {rank} but does not know rank 0's version folder "
            f"(neither {VERSION_DIR_ENV} nor --in-version is set); it would train in a second folder",
            hint="start multi-process training through runway-train itself (trainer_paras.devices/strategy) "
            "or with --slurm (slurm.tasks_per_node = devices)",
        )
    return worker_dir


@contextlib.contextmanager
def exported_version_dir(version_dir: Path) -> Iterator[None]:
    """Export ``RUNWAY_VERSION_DIR`` for the duration of a fit (restored afterwards)."""
    previous = os.environ.get(VERSION_DIR_ENV)
    os.environ[VERSION_DIR_ENV] = str(version_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(VERSION_DIR_ENV, None)
        else:
            os.environ[VERSION_DIR_ENV] = previous
