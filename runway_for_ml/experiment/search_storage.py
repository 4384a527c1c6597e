"""The journal storage of ``runway search``: Optuna's ``JournalStorage`` with heartbeats, and the retry of dead trials.

Optuna's heartbeat (``fail_stale_trials``, ``RetryFailedTrialCallback``) works on any storage that
implements its ``BaseHeartbeat``; Optuna's own journal storage does not, so this one adds it: one small
file per running trial next to the journal (``heartbeats/<trial id>.json``, rewritten every
:data:`HEARTBEAT_INTERVAL_S` seconds by the trial's worker). No database server: the journal and the
heartbeats are plain files on the shared file system.

>>> storage = open_storage(study_dir)  # doctest: +SKIP
>>> optuna.storages.fail_stale_trials(study)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_json_atomic
from runway_for_ml.pipeline.cache_files import pid_alive

__all__ = ["GRACE_PERIOD_S", "HEARTBEAT_INTERVAL_S", "JOURNAL", "MAX_RETRY", "open_storage", "retry_callback"]

JOURNAL = "journal.log"
HEARTBEATS = "heartbeats"
#: A running trial rewrites its heartbeat this often (seconds) ...
HEARTBEAT_INTERVAL_S = 5
#: ... and is taken for dead after this long without one (a worker on this machine: as soon as its pid is gone).
GRACE_PERIOD_S = int(os.environ.get("RUNWAY_SEARCH_GRACE_S", "60"))
#: How often a trial whose worker died is tried again.
MAX_RETRY = 3


def machine_id() -> str:
    """This machine and PID namespace: a heartbeat's pid can be checked only where this matches."""
    parts = [socket.gethostname()]
    for path in ("/proc/sys/kernel/random/boot_id",):
        with contextlib.suppress(OSError):
            parts.append(Path(path).read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))
    return "|".join(parts)


@functools.lru_cache(maxsize=1)
def _storage_class() -> type:
    from optuna.storages._heartbeat import BaseHeartbeat
    from optuna.storages.journal import JournalStorage
    from optuna.trial import TrialState

    class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
        """Optuna's journal storage with heartbeats: one small file per running trial next to the journal.

        A running trial is stale when its heartbeat is older than the grace period, or at once when it
        was written on this machine by a process that is gone (a worker killed with -9 here).
        """

        def __init__(self, backend: Any, heartbeat_dir: Path, stale_callback: Any) -> None:
            super().__init__(backend)
            self._heartbeat_dir = Path(heartbeat_dir)
            self._stale_callback = stale_callback
            self._machine = machine_id()

        def record_heartbeat(self, trial_id: int) -> None:
            self._heartbeat_dir.mkdir(parents=True, exist_ok=True)
            beat = {"machine": self._machine, "pid": os.getpid(), "at": time.time(), "host": socket.gethostname()}
            write_json_atomic(self._heartbeat_dir / f"{trial_id}.json", beat)

        def heartbeat_of(self, trial_id: int) -> dict[str, Any] | None:
            try:
                return json.loads((self._heartbeat_dir / f"{trial_id}.json").read_text())
            except (OSError, ValueError):
                return None

        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            now = time.time()
            stale = []
            for trial in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
                beat = self.heartbeat_of(trial._trial_id)
                if beat is None:
                    started = trial.datetime_start.timestamp() if trial.datetime_start else now
                    dead = now - started > GRACE_PERIOD_S
                elif beat.get("machine") == self._machine and int(beat.get("pid") or 0) != os.getpid():
                    dead = not pid_alive(int(beat.get("pid") or 0))
                else:
                    dead = now - float(beat.get("at") or 0) > GRACE_PERIOD_S
                if dead:
                    stale.append(trial._trial_id)
            return stale

        def get_heartbeat_interval(self) -> int | None:
            return HEARTBEAT_INTERVAL_S

        def get_heartbeat_stale_trial_callback(self) -> Any:
            return self._stale_callback

        def get_failed_trial_callback(self) -> Any:  # Optuna < 4.9 asks under this name
            return self._stale_callback

    return HeartbeatJournalStorage


def retry_callback() -> Any:
    """Optuna's callback that enqueues a dead trial again with the same params (and user attrs)."""
    import optuna.storages as storages

    cls = getattr(storages, "RetryHeartbeatStaleTrialCallback", None) or storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(max_retry=MAX_RETRY)


def open_storage(study_dir: Path) -> Any:
    """The study's journal storage (with heartbeats and the retry callback)."""
    from optuna.storages.journal import JournalFileBackend

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental-feature warnings of Optuna
        backend = JournalFileBackend(str(Path(study_dir) / JOURNAL))
    return _storage_class()(backend, Path(study_dir) / HEARTBEATS, retry_callback())


# ----------------------------------------------------------------------------- the study folder
