"""Signals, ``--wait`` and shared data on a real (local, single-node) SLURM cluster.

- SIGUSR2 (what SLURM sends before a time limit or on preemption, submitit's ``--signal=USR2@90``),
  simulated with ``scancel --signal=USR2 <id>`` (it reaches the job step's python task, where submitit
  handles it): checkpoint -> requeue of the same job -> resume in the same folder -> COMPLETED, one W&B
  run; and with ``slurm.max_requeues=0`` the job is not requeued and the manifest says why.
- ``runway-train … --slurm --wait`` through the real entry point: streams the job's log and exits
  with the job's status.
- A sweep whose points share the data pipeline, started on an empty cache: every data node is
  computed once across the job array (the cache's per-key locks make the other jobs wait and load).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runway_for_ml.cli.main import main
from runway_for_ml.experiment.manifest import read_manifest
from runway_for_ml.launcher.jobs import FINISHED_STATES, job_states, list_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

FAST = ["train.early_stopping=null", "train.trainer_paras.enable_progress_bar=false", 'meta.logger_enable=["csv"]']
# Long enough (~4 epochs/s here) to still be training when the signal comes, short enough to finish soon after.
SIGNAL_EPOCHS = 80


def _signal_when_training(job_id: str, version_dir: Path, timeout: float = 150) -> None:
    """Wait for the first checkpoint of a running job, then send SIGUSR2 as SLURM does on preemption."""
    last = version_dir / "train" / "checkpoints" / "last.ckpt"
    deadline = time.time() + timeout
    while not last.is_file():
        assert time.time() < deadline, f"no checkpoint after {timeout}s: {job_states([job_id])}"
        state = job_states([job_id])[job_id].state
        assert state not in FINISHED_STATES, f"job ended ({state}) before it could be signalled"
        time.sleep(0.3)
    # scancel signals the job's steps (not the batch shell) by default: that is submitit's python task.
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True, capture_output=True)


def _log(version_dir: Path, job_id: str, kind: str) -> str:
    return "".join(p.read_text(errors="replace") for p in (version_dir / "slurm").rglob(f"{job_id}_*_log.{kind}"))


@pytest.fixture(scope="module")
def signalled_jobs(project, jobs):
    """Both signal jobs are submitted first, so that they train side by side."""
    resumed = jobs.submit(
        [
            "train",
            "digits",
            "--slurm",
            "--opts",
            *FAST,
            f"train.trainer_paras.max_epochs={SIGNAL_EPOCHS}",
            'meta.logger_enable=["csv","wandb"]',
        ]
    )
    bounded = jobs.submit(
        # Effectively endless: only the signal may end it, however fast this machine trains (the
        # module teardown cancels it if a test fails first).
        ["train", "digits", "--slurm", "--opts", *FAST, "train.trainer_paras.max_epochs=100000", "slurm.max_requeues=0"]
    )
    return {"resumed": resumed, "bounded": bounded}


def test_sigusr2_checkpoints_requeues_and_resumes(signalled_jobs, jobs):
    job_id, version_dir = signalled_jobs["resumed"]
    _signal_when_training(job_id, version_dir)

    assert jobs.wait([job_id], timeout=240)[job_id] == "COMPLETED"
    manifest = read_manifest(version_dir)
    slurm = manifest["slurm"]
    assert manifest["status"] == "completed", manifest.get("error")
    # The same job (id), requeued once by submitit; the bound is recorded with the reason.
    assert slurm["job_id"] == job_id
    assert slurm["requeue_count"] == 1
    assert "SIGUSR2" in slurm["requeue_reason"]
    (event,) = slurm["signals"]
    assert event["requeued"] is True and event["restart"] == 0
    # checkpoint() saved the running trainer (mid-epoch) before the requeue; the new run resumed from it.
    assert event["checkpoint"] == str(version_dir / "train" / "checkpoints" / "last.ckpt")
    assert manifest.get("preempt_checkpoint_at")
    assert manifest["resumed_from"] == "train/checkpoints/last.ckpt"
    assert manifest["epochs_completed"] == SIGNAL_EPOCHS
    out, err = _log(version_dir, job_id, "out"), _log(version_dir, job_id, "err")
    assert "[runway] job" in out and "(restart 1)" in out
    # One owner of the signal: submitit. Lightning's own SLURM requeue (auto_requeue) would save an
    # hpc_ckpt_*.ckpt and log "Handling auto-requeue signal".
    assert err.count("Caught signal SIGUSR2") == 1
    assert "auto-requeue" not in err + out
    assert not list(version_dir.rglob("hpc_ckpt_*.ckpt"))
    # One W&B run across the requeue: two offline run folders (one per job run), one run id.
    run_dirs = [d for d in (version_dir / "train" / "logs").rglob("offline-run-*") if d.is_dir()]
    assert len(run_dirs) == 2, run_dirs
    assert len({f.stem.removeprefix("run-") for d in run_dirs for f in d.glob("run-*.wandb")}) == 1, run_dirs
    # The resumed run continued the same CSV log up to the last epoch.
    (csv_path,) = list((version_dir / "train" / "logs").rglob("metrics.csv"))
    epochs = [int(row.split(",")[0]) for row in csv_path.read_text().splitlines()[1:] if row[:1].isdigit()]
    assert max(epochs) == SIGNAL_EPOCHS - 1


def test_requeue_bound_stops_and_says_why(signalled_jobs, jobs):
    job_id, version_dir = signalled_jobs["bounded"]
    _signal_when_training(job_id, version_dir)

    # Not requeued: submitit ends the job (FAILED for SLURM), the version is resumable later.
    assert jobs.wait([job_id], timeout=120)[job_id] == "FAILED"
    manifest = read_manifest(version_dir)
    slurm = manifest["slurm"]
    assert manifest["status"] == "interrupted"
    assert "slurm.max_requeues=0" in slurm["gave_up"] and "SIGUSR2" in slurm["gave_up"]
    assert manifest["error"] == slurm["gave_up"]
    assert slurm["requeue_count"] == 0
    (event,) = slurm["signals"]
    assert event["requeued"] is False
    assert (version_dir / "train" / "checkpoints" / "last.ckpt").is_file()
    assert "Job not requeued" in _log(version_dir, job_id, "err")
    time.sleep(2)  # a requeue would show as PENDING / RUNNING again
    assert job_states([job_id])[job_id].state == "FAILED"


def _runway_train(project: Path, *argv: str) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "runway-train"
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    return subprocess.Popen(
        [str(exe), "digits", *argv], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


# A failure no check before submission can see: it happens in the job's first training step.
FAILING_EXECUTOR = '''"""Test-only: an executor whose training fails inside the job."""

from executors.custom_executor import DigitsExecutor

from runway_for_ml import register_executor


@register_executor
class FailsInTrainingExecutor(DigitsExecutor):
    def training_step(self, batch, batch_idx):
        raise RuntimeError("deliberate failure inside the SLURM job")
'''


def test_wait_streams_the_log_and_returns_the_job_status(project):
    (project / "executors" / "failing_executor.py").write_text(FAILING_EXECUTOR)
    ok = _runway_train(project, "--slurm", "--wait", "--opts", *FAST, "train.trainer_paras.max_epochs=1")
    bad = _runway_train(
        project,
        "--slurm",
        "--wait",
        "--opts",
        *FAST,
        "train.trainer_paras.max_epochs=1",
        "executor.ExecutorClass=FailsInTrainingExecutor",
    )
    ok_out, ok_err = ok.communicate(timeout=240)
    bad_out, bad_err = bad.communicate(timeout=240)

    assert ok.returncode == 0, ok_out + ok_err
    job_id = ok_out.split("as SLURM job ", 1)[1].split()[0]
    # Lines of the job's own log, streamed while it ran, then its final state.
    assert f"[runway] job {job_id} (restart 0)" in ok_out
    assert "Job completed successfully" in ok_out  # submitit's last line in the job's stdout
    assert "`Trainer.fit` stopped: `max_epochs=1` reached" in ok_err  # Lightning's, from the job's stderr
    assert ok_out.rstrip().endswith(f"job {job_id}: COMPLETED")

    assert bad.returncode != 0, bad_out + bad_err
    bad_id = bad_out.split("as SLURM job ", 1)[1].split()[0]
    assert f"job {bad_id}: FAILED" in bad_out
    assert "deliberate failure inside the SLURM job" in bad_err  # the job's stderr, as streamed


COUNTED_TRANSFORMS = '''"""Test-only transforms that record every computation (a line per call) in compute_log.txt."""

from __future__ import annotations

import os
import time
from pathlib import Path

from data_processing.data_transforms import StandardizeColumn

from runway_for_ml import register_transform_functor
from runway_for_ml.pipeline.builtin_transforms import LoadSklearnDigits, SplitHFDataset

LOG = Path(__file__).resolve().parents[1] / "compute_log.txt"


def _record(name, started):
    with open(LOG, "a", encoding="utf-8") as fh:  # one short append per line: atomic
        fh.write(f"{name} {os.getpid()} {started:.3f} {time.time():.3f}\\n")


@register_transform_functor
class CountedLoadDigits(LoadSklearnDigits):
    def _call(self, data):
        started = time.time()
        time.sleep(4)  # a slow first node: the other jobs arrive while it is being computed
        out = super()._call(data)
        _record("input", started)
        return out


@register_transform_functor
class CountedSplit(SplitHFDataset):
    def _call(self, data):
        started = time.time()
        out = super()._call(data)
        _record("split", started)
        return out


@register_transform_functor
class CountedStandardize(StandardizeColumn):
    def _call(self, data):
        started = time.time()
        out = super()._call(data)
        _record("output", started)
        return out
'''


@pytest.fixture
def empty_cache_project(unprepared_project):
    """A fresh project whose data was never prepared, with transforms that log each computation."""
    (unprepared_project / "data_processing" / "counted_transforms.py").write_text(COUNTED_TRANSFORMS)
    return unprepared_project


def _entries(cache: Path) -> list[Path]:
    return [p.parent for p in cache.rglob("meta.json") if not any(s.startswith(".") for s in p.parent.parts[-2:])]


def _iso(value: str) -> float:
    return dt.datetime.fromisoformat(value).timestamp()


def test_sweep_points_prepare_shared_data_once(empty_cache_project, jobs):
    root = empty_cache_project
    cache = root / "local_cache"
    assert not _entries(cache)
    counted = [
        "data_pipeline.transforms.input:LoadDigits.transform_name=CountedLoadDigits",
        "data_pipeline.transforms.process:Split.transform_name=CountedSplit",
        "data_pipeline.transforms.output:Normalised.transform_name=CountedStandardize",
    ]
    argv = ["train", "digits", "--slurm", "--sweep", "train.optimizer_config.optimizer_params.lr=0.01,0.02,0.03"]
    assert main([*argv, "--opts", *FAST, *counted, "train.trainer_paras.max_epochs=1", "slurm.cpus_per_task=1"]) == 0
    assert not _entries(cache), "submission must not compute data"
    records = list_jobs(root / "experiments")
    assert len(records) == 3 and len({r.job_id.split("_")[0] for r in records}) == 1  # one job array

    states = jobs.wait([r.job_id for r in records], timeout=240)
    assert set(states.values()) == {"COMPLETED"}, states

    # Each node was computed once across the array, by one job; every point used the same entries.
    log = (root / "compute_log.txt").read_text().split()
    lines = [log[i : i + 4] for i in range(0, len(log), 4)]
    assert sorted(name for name, *_ in lines) == ["input", "output", "split"], lines
    assert len({pid for _, pid, *_ in lines}) == 1, lines
    manifests = [read_manifest(Path(r.version_dir)) for r in records]
    node_keys = [m["data_nodes"] for m in manifests]
    assert all(keys == node_keys[0] for keys in node_keys)
    entries = _entries(cache)
    assert len(entries) == 3, entries  # input, split, output: one entry per node
    assert {p.name for p in entries} >= set(node_keys[0].values())

    # The jobs ran concurrently (2 CPUs): another job had started before the input node was saved,
    # so it waited on the cache's per-key lock (or arrived just after) and loaded the entry.
    (input_line,) = [line for line in lines if line[0] == "input"]
    computed_until = float(input_line[3])
    (computer,) = [m for m in manifests if str(m["pid"]) == input_line[1]]
    others = [_iso(m["slurm"]["job_started_at"]) for m in manifests if m is not computer]
    assert min(others) <= computed_until, (others, input_line)
