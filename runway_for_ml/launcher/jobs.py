"""The registry of SLURM jobs runway submitted, and their states.

Every submission writes one small JSON file ``<experiments>/.jobs/<job_id>.json`` with the record of
its job (job id, command, experiment version folder, submission time, log paths, sweep point); a job
array writes one file ``<array_id>.json`` holding the list of its tasks' records. One file per
submission (SLURM never reuses the id) means no lock and no lost update when several shells submit
at once.

States come from ``squeue --states=all`` (a fast first look: live jobs and those that ended in the
last few minutes), then ``sacct`` (the accounting database: older jobs, read by submitit's parser),
and last from submitit's ``SlurmJob`` result file in the log folder (``COMPLETED`` / ``FAILED``), so
finished jobs keep a state even on a cluster without accounting. One call of each tool covers all jobs.

>>> records = list_jobs(Path("experiments"))  # doctest: +SKIP
>>> job_states([r.job_id for r in records])  # doctest: +SKIP
{'12': JobState(state='COMPLETED', elapsed='00:00:41', exit_code='0:0')}
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.experiment.manifest import write_json_atomic

__all__ = [
    "FAILED_STATES",
    "FINISHED_STATES",
    "JobRecord",
    "JobState",
    "find_jobs",
    "job_states",
    "jobs_dir",
    "list_jobs",
    "read_job",
    "read_jobs",
    "save_job",
    "save_jobs",
    "tail",
]

FINISHED_STATES = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
}
FAILED_STATES = FINISHED_STATES - {"COMPLETED"}
_JOBS_FOLDER = ".jobs"
_CMD_TIMEOUT_S = 20


@dataclass
class JobRecord:
    """What runway knows about one submitted job (array tasks are ``<array>_<index>``)."""

    job_id: str
    command: str
    submitted_at: str
    stdout: str
    stderr: str
    folder: str
    experiment: str | None = None
    version_dir: str | None = None
    sweep: str | None = None
    point: int | None = None
    argv: list[str] = field(default_factory=list)

    @property
    def version(self) -> str | None:
        """The version folder's name (``digits_V3``), or None for jobs without one."""
        return Path(self.version_dir).name if self.version_dir else None


@dataclass
class JobState:
    """A job's SLURM state (``PENDING``, ``RUNNING``, ``COMPLETED``, ``FAILED``, …)."""

    state: str
    elapsed: str = ""
    exit_code: str = ""


def jobs_dir(experiments_root: Path) -> Path:
    """``<experiments>/.jobs``: one JSON record per submitted job."""
    return Path(experiments_root) / _JOBS_FOLDER


def save_job(experiments_root: Path, record: JobRecord) -> Path:
    """Write ``record`` atomically into the registry and return its path."""
    return save_jobs(experiments_root, [record])


def save_jobs(experiments_root: Path, records: list[JobRecord]) -> Path:
    """Write the records of one submission (one job, or the tasks of one job array) in one atomic write.

    >>> save_jobs(Path("experiments"), records).name  # doctest: +SKIP
    '1234.json'
    """

    if not records:
        raise ValueError("save_jobs needs at least one record")
    if len(records) == 1:
        path = jobs_dir(experiments_root) / f"{records[0].job_id}.json"
        write_json_atomic(path, asdict(records[0]))
    else:
        path = jobs_dir(experiments_root) / f"{records[0].job_id.split('_')[0]}.json"
        write_json_atomic(path, [asdict(r) for r in records])
    return path


def read_job(path: Path) -> JobRecord | None:
    """The record stored in ``path`` (None when it is not a readable single-job record)."""
    records = read_jobs(path)
    return records[0] if len(records) == 1 else None


def read_jobs(path: Path) -> list[JobRecord]:
    """The records stored in ``path``: one job's, or a job array's ([] when unreadable)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return [JobRecord(**item) for item in (data if isinstance(data, list) else [data])]
    except (OSError, ValueError, TypeError):
        return []


def list_jobs(experiments_root: Path) -> list[JobRecord]:
    """All registered jobs, oldest submission first."""
    folder = jobs_dir(experiments_root)
    if not folder.is_dir():
        return []
    records = [r for p in folder.glob("*.json") for r in read_jobs(p)]
    return sorted(records, key=lambda r: (r.submitted_at, _id_key(r.job_id)))


def find_jobs(experiments_root: Path, job_ids: list[str]) -> list[JobRecord]:
    """The registry records of ``job_ids`` (ids not found are left out), read from their files only."""
    folder = jobs_dir(experiments_root)
    wanted = set(job_ids)
    found: dict[str, JobRecord] = {}
    for name in dict.fromkeys([*job_ids, *(j.split("_")[0] for j in job_ids)]):
        for record in read_jobs(folder / f"{name}.json"):
            if record.job_id in wanted:
                found.setdefault(record.job_id, record)
    return [found[j] for j in job_ids if j in found]


def _id_key(job_id: str) -> tuple[int, int]:
    main, _, index = job_id.partition("_")
    return (int(main) if main.isdigit() else 0, int(index) if index.isdigit() else -1)


def _run(cmd: list[str]) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_CMD_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def job_states(
    job_ids: list[str], records: list[JobRecord] | None = None, *, folders: dict[str, str] | None = None
) -> dict[str, JobState]:
    """States of ``job_ids`` (``UNKNOWN`` when nothing knows the job any more).

    ``squeue`` first: the controller's live view (accounting lags by a few seconds) which, with
    ``--states=all``, still lists jobs that ended less than MinJobAge (default 300 s) ago. Then the
    accounting database through submitit's ``sacct`` watcher, and last submitit's result file of a job
    (``COMPLETED`` / ``FAILED``), found through ``records`` or ``folders`` (job id -> log folder), so
    finished jobs keep a state even on a cluster without accounting. One call of each tool covers all.
    """
    wanted = [str(j) for j in job_ids]
    states: dict[str, JobState] = {}
    if not wanted:
        return states
    mains = ",".join(sorted({j.split("_")[0] for j in wanted}))
    out = _run(["squeue", "-h", "-r", "--states=all", "-o", "%i|%T|%M|", "-j", mains])
    if out is not None:
        _parse_table(out, wanted, states)
    missing = [j for j in wanted if j not in states]
    if missing:
        states.update(_accounting_states(missing))
    where = {r.job_id: r.folder for r in records or []}
    where.update(folders or {})
    for job_id in [j for j in wanted if j not in states]:
        states[job_id] = JobState(_state_from_result(job_id, where.get(job_id)))
    return states


def _accounting_states(job_ids: list[str]) -> dict[str, JobState]:
    """States from ``sacct``, read by submitit's parser (array tasks, ranges, requeued runs)."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    ids = [f"-j{m}" for m in sorted({j.split("_")[0] for j in job_ids})]
    # submitit's watcher asks for JobID,State,NodeList; `runway jobs` shows elapsed time and exit code too.
    out = _run(["sacct", "-X", "--parsable2", "-o", "JobID,State,Elapsed,ExitCode", *ids])
    if out is None:  # no accounting on this cluster
        return {}
    info = SlurmInfoWatcher().read_info(out)
    states = {}
    for job_id in job_ids:
        row = info.get(job_id) or {}
        if row.get("State"):  # "CANCELLED by 0" -> "CANCELLED"
            states[job_id] = JobState(row["State"].split()[0], row.get("Elapsed", ""), row.get("ExitCode", ""))
    return states


def _parse_table(text: str, wanted: list[str], states: dict[str, JobState]) -> None:
    """Read ``id|state|elapsed|exit`` lines; a pending array line ``12_[0-3%4]`` covers its tasks."""
    wanted_set = set(wanted)
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2 or not parts[0]:
            continue
        job_id, state = parts[0], parts[1].split()[0]  # "CANCELLED by 0" -> "CANCELLED"
        elapsed = parts[2] if len(parts) > 2 else ""
        exit_code = parts[3] if len(parts) > 3 else ""
        if job_id in wanted_set:
            # sacct lists a requeued job once per run; the last line is the current run.
            states[job_id] = JobState(state, elapsed, exit_code)
            continue
        array = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job_id)
        if array:
            for task in _expand_ranges(array[2]):
                key = f"{array[1]}_{task}"
                if key in wanted_set and key not in states:
                    states[key] = JobState(state, elapsed, exit_code)


def _expand_ranges(text: str) -> list[int]:
    text = text.split("%")[0]
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            if lo.isdigit() and hi.isdigit():
                out.extend(range(int(lo), int(hi) + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def _state_from_result(job_id: str, folder: str | None) -> str:
    """COMPLETED / FAILED from submitit's result file of a job SLURM has forgotten (else UNKNOWN)."""
    if not folder:
        return "UNKNOWN"
    from submitit import SlurmJob

    job = SlurmJob(folder=folder, job_id=job_id)
    if not job.paths.result_pickle.is_file():
        return "UNKNOWN"
    try:
        return "FAILED" if job.exception() is not None else "COMPLETED"
    except Exception:  # a half-written or foreign file says nothing about the job
        return "UNKNOWN"


def tail(path: str | Path | None, lines: int = 10) -> list[str]:
    """The last ``lines`` non-empty lines of a log file ([] when it does not exist yet)."""
    if not path:
        return []
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    # Progress bars redraw with carriage returns; keep what a terminal would show last.
    rows = [row.rsplit("\r", 1)[-1].rstrip() for row in data.splitlines()]
    return [row for row in rows if row.strip()][-lines:]


def record_to_dict(record: JobRecord, state: JobState | None) -> dict[str, Any]:
    """A JSON-friendly row for ``runway jobs --json``."""
    row = asdict(record)
    row["version"] = record.version
    row.update(
        {
            "state": state.state if state else "UNKNOWN",
            "elapsed": state.elapsed if state else "",
            "exit_code": state.exit_code if state else "",
        }
    )
    return row


def require_records(records: list[JobRecord], selector: str | None, experiments_root: Path) -> list[JobRecord]:
    """Records matching a version name (``digits_V3``), an experiment name, or a job id."""
    if not selector:
        return records
    chosen = [r for r in records if selector in (r.version, r.experiment, r.job_id, r.job_id.split("_")[0], r.sweep)]
    if not chosen:
        known = sorted({r.version or r.job_id for r in records})
        raise RunwayError(
            f"no SLURM job of runway matches {selector!r} in {jobs_dir(experiments_root)}{did_you_mean(selector, known)}",
            hint="`runway jobs` lists every submitted job",
        )
    return chosen
