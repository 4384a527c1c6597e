"""The callable a SLURM job runs: ``runway <command> …`` in-process on the node.

submitit pickles a :class:`RunwayJob` at submission and calls it on the node. It runs the command
with ``--launcher local`` through :func:`runway_for_ml.cli.main.main`, in the directory it was
submitted from, with ``RUNWAY_LAUNCHER=slurm`` so that the trainer leaves SIGUSR2 to submitit
(Lightning's ``SLURMEnvironment(auto_requeue=False)``): **submitit owns the signals**.

On preemption or time-out SLURM sends SIGUSR2; submitit calls :meth:`RunwayJob.checkpoint`, which saves
the running trainer's checkpoint (``checkpoints/last.ckpt``) and lets submitit requeue the job. The
requeued job runs the same command in the same version folder, which resumes from that checkpoint
with the same logger run. The number of requeues is bounded by ``slurm.max_requeues`` and recorded
in the manifest (``slurm.requeue_count``, from ``SLURM_RESTART_COUNT``).

>>> job = RunwayJob(["train", "digits", "--in-version", "experiments/digits_V0"], cwd="/proj")  # doctest: +SKIP
>>> executor.submit(job)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import submitit

from runway_for_ml.experiment.manifest import now_iso, read_manifest, update_manifest
from runway_for_ml.launcher.slurm import DEFAULT_MAX_REQUEUES

__all__ = ["JobFailed", "RunwayJob", "restart_count"]


class JobFailed(RuntimeError):
    """The command run by the job exited with a non-zero code (SLURM marks the job FAILED)."""


def restart_count() -> int:
    """How many times SLURM restarted (requeued) the current job: ``SLURM_RESTART_COUNT``."""
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    except ValueError:
        return 0


def _global_rank() -> int:
    for name in ("SLURM_PROCID", "RANK"):
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 0


class RunwayJob(submitit.helpers.Checkpointable):
    """Run ``runway <argv…>`` inside a SLURM job; checkpoint and requeue on preemption / time-out.

    Args:
        argv: the command line after ``runway`` (it should contain ``--launcher local``).
        cwd: directory to run in (where the user submitted from: the project).
        version_dir: the experiment version folder whose manifest records the job (None for
            commands without one, e.g. ``prepare``).
        max_requeues: requeues allowed after preemption / time-out (``slurm.max_requeues``).
        env: extra environment variables for the command.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: str | Path,
        version_dir: str | Path | None = None,
        max_requeues: int = DEFAULT_MAX_REQUEUES,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.cwd = str(cwd)
        self.version_dir = str(version_dir) if version_dir else None
        self.max_requeues = max_requeues
        self.env = dict(env or {})
        # Set by checkpoint(): the manifest status once submitit ends this run (not pickled).
        self._after_signal: dict[str, Any] | None = None

    def __call__(self) -> int:
        os.chdir(self.cwd)
        os.environ.update(self.env)
        # Tells the trainer to build SLURMEnvironment(auto_requeue=False): submitit handles SIGUSR2.
        os.environ["RUNWAY_LAUNCHER"] = "slurm"
        os.environ.setdefault("WANDB_MODE", "offline")
        restarts = restart_count()
        rank = _global_rank()
        if rank == 0:
            self._record(
                requeue_count=restarts,
                node=socket.gethostname(),
                job_started_at=_now(),
                job_id=_current_job_id(),
            )
        if restarts > self.max_requeues:
            message = f"requeued {restarts} times, more than slurm.max_requeues={self.max_requeues}; giving up"
            if rank == 0:
                self._record(gave_up=message)
                self._set_status("failed")
            raise JobFailed(message)
        print(
            f"[runway] job {_current_job_id()} (restart {restarts}) on {socket.gethostname()}: runway {' '.join(self.argv)}",
            flush=True,
        )

        from runway_for_ml.cli.main import main

        self._after_signal = None
        try:
            code = main(self.argv)
        except BaseException:
            # submitit ends a signalled job by raising from its handler (SystemExit when requeued,
            # UncompletedJobError when not); the trainer then records "interrupted" / "failed".
            # The status chosen by checkpoint() ("queued" / "interrupted") is the true one.
            if getattr(self, "_after_signal", None) and rank == 0:
                update = dict(self._after_signal or {})
                self._set_status(update.pop("status"), **update)
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        if code != 0:
            raise JobFailed(f"`runway {' '.join(self.argv)}` exited with code {code}")
        return code

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission | None:
        """Save the running trainer's checkpoint and return the resubmission (None = do not requeue).

        Called by submitit from its SIGUSR2 handler on rank 0 only.
        """
        restarts = restart_count()
        saved = None
        try:
            from runway_for_ml.experiment.training import save_active_checkpoint

            saved = save_active_checkpoint()
        except ImportError:  # the experiment layer is older than this launcher
            saved = None
        except Exception as exc:  # a failed save must not prevent the requeue: last.ckpt of the last epoch remains
            print(f"[runway] could not save a checkpoint on preemption: {exc!r}", file=sys.stderr, flush=True)
        print(
            f"[runway] preempted/timed out; checkpoint: {saved}; restart {restarts} of {self.max_requeues}", flush=True
        )
        reason = _signal_reason()
        event = {"at": _now(), "restart": restarts, "reason": reason, "checkpoint": str(saved) if saved else None}
        if restarts >= self.max_requeues:
            gave_up = f"not requeued: slurm.max_requeues={self.max_requeues} reached ({reason})"
            self._record(
                gave_up=gave_up,
                last_checkpoint=event["checkpoint"],
                signals=[*self._signals(), {**event, "requeued": False}],
            )
            self._after_signal = {"status": "interrupted", "error": gave_up}
            self._set_status("interrupted", error=gave_up)
            return None
        self._record(
            preempted_at=event["at"],
            requeue_reason=reason,
            last_checkpoint=event["checkpoint"],
            signals=[*self._signals(), {**event, "requeued": True}],
        )
        self._after_signal = {"status": "queued", "error": None}
        self._set_status("queued")
        return super().checkpoint(*args, **kwargs)

    def _record(self, **fields: Any) -> None:
        if not self.version_dir:
            return

        update_manifest(Path(self.version_dir), slurm=fields)

    def _set_status(self, status: str, **fields: Any) -> None:
        if not self.version_dir:
            return

        update_manifest(Path(self.version_dir), status=status, **fields)

    def _signals(self) -> list[dict[str, Any]]:
        """The signals recorded so far in the manifest (``slurm.signals``), oldest first."""
        if not self.version_dir:
            return []

        return list((read_manifest(Path(self.version_dir)).get("slurm") or {}).get("signals") or [])

    def __getstate__(self) -> dict[str, Any]:
        # The requeued job starts clean: what a signal decided belongs to the run that received it.
        state = dict(self.__dict__)
        state.pop("_after_signal", None)
        return state


def _current_job_id() -> str | None:
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    array_task = os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and array_task:
        return f"{array_job}_{array_task}"
    return os.environ.get("SLURM_JOB_ID")


def _signal_reason() -> str:
    """Why SLURM signalled the job: preemption or time limit, with the time left as SLURM sees it.

    SIGUSR2 arrives ``signal_delay_s`` before the time limit (submitit's ``--signal=USR2@90``) and on
    preemption; the time left (``squeue %L``) tells them apart for a reader.
    """
    import subprocess

    reason = "SIGUSR2 from SLURM (preemption or time limit)"
    job_id = _current_job_id()
    if not job_id:
        return reason
    try:
        out = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%L"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return reason
    return f"{reason}; time left {out}" if out else reason


def _now() -> str:

    return now_iso()
