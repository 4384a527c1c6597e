"""runway commands on a real (local, single-node) SLURM cluster through submitit.

The jobs of a module share one project (and its data cache). The requeue job is submitted first so
that it trains while the other tests run: the node has few CPUs and each job pays the torch import.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from runway_for_ml.cli.main import main
from runway_for_ml.experiment.manifest import read_manifest
from runway_for_ml.launcher.jobs import FINISHED_STATES, job_states, list_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

FAST = ["train.early_stopping=null", "train.trainer_paras.enable_progress_bar=false", 'meta.logger_enable=["csv"]']


@pytest.fixture(scope="module")
def requeue_job(project, jobs):
    """Submitted first: long enough (40 short epochs) to be requeued mid-training."""
    opts = [*FAST, "train.trainer_paras.max_epochs=40", 'meta.logger_enable=["csv","wandb"]']
    return jobs.submit(["train", "digits", "--slurm", "--opts", *opts])


def test_train_job_writes_into_the_folder_created_at_submit_time(project, jobs, requeue_job, capsys):
    job_id, version_dir = jobs.submit(
        ["train", "digits", "--slurm", "--opts", *FAST, "train.trainer_paras.max_epochs=1"]
    )
    # The folder and its manifest exist before the job ran.
    manifest = read_manifest(version_dir)
    assert manifest["slurm"]["job_id"] == job_id
    assert manifest["status"] in ("queued", "running")
    assert (version_dir / "train" / "config.json").is_file()

    assert jobs.wait([job_id], timeout=150)[job_id] == "COMPLETED"
    manifest = read_manifest(version_dir)
    assert manifest["status"] == "completed"
    assert manifest["slurm"]["requeue_count"] == 0
    assert (version_dir / "train" / "checkpoints" / "last.ckpt").is_file()
    assert "val_accuracy" in manifest["final_metrics"]
    assert list((version_dir / "train" / "logs").rglob("metrics.csv"))

    capsys.readouterr()
    assert main(["jobs", version_dir.name, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["job_id"], r["state"]) for r in rows] == [(job_id, "COMPLETED")]
    assert main(["jobs", version_dir.name, "--log"]) == 0
    assert "runway train digits --in-version" in capsys.readouterr().out


def test_scontrol_requeue_resumes_from_checkpoint(project, jobs, requeue_job):
    job_id, version_dir = requeue_job
    last = version_dir / "train" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 150
    while not last.is_file():
        assert time.time() < deadline, f"no checkpoint after 150s: {job_states([job_id])}"
        state = job_states([job_id])[job_id].state
        assert state not in FINISHED_STATES, f"job ended ({state}) before it could be requeued"
        time.sleep(0.5)
    subprocess.run(["scontrol", "requeue", job_id], check=True, capture_output=True)

    assert jobs.wait([job_id], timeout=200)[job_id] == "COMPLETED"
    manifest = read_manifest(version_dir)
    assert manifest["status"] == "completed"
    assert manifest["slurm"]["requeue_count"] == 1
    assert manifest["resumed_from"] == "train/checkpoints/last.ckpt"
    # One W&B run for the whole version, resumed rather than restarted.
    run_dirs = list((version_dir / "train" / "logs").rglob("*-run-*"))
    run_ids = {d.name.rsplit("-", 1)[-1] for d in run_dirs if d.is_dir()}
    assert len(run_ids) == 1, run_dirs
    # The resumed run continued the same CSV log up to the last epoch (40 epochs: 0..39).
    (csv_path,) = list((version_dir / "train" / "logs").rglob("metrics.csv"))
    epochs = [int(row.split(",")[0]) for row in csv_path.read_text().splitlines()[1:] if row[:1].isdigit()]
    assert max(epochs) == 39


def test_sweep_failure_and_retry(project, jobs, requeue_job, capsys):
    # dropout=2: nn.Dropout refuses it when the job builds the model (a bad lr is now refused at submit time)
    dropouts = "executor.model_config.dropout=0.1,0.2,0.3,2"
    capsys.readouterr()
    argv = [
        "train",
        "digits",
        "--slurm",
        "--sweep",
        dropouts,
        "--sweep",
        "train.trainer_paras.max_epochs=1",
        "--opts",
        *FAST,
    ]
    assert main(argv) == 0
    sweep = json.loads(sorted((project / "experiments" / ".sweeps").glob("digits_*.json"))[-1].read_text())
    points = sweep["points"]
    assert len(points) == 4 and len({p["jobs"][0].split("_")[0] for p in points}) == 1  # one job array
    assert [p["overrides"]["executor.model_config.dropout"] for p in points] == [0.1, 0.2, 0.3, 2]
    for p in points:
        config = json.loads((Path(p["version_dir"]) / "train" / "config.json").read_text())
        assert config["executor"]["model_config"]["dropout"] == p["overrides"]["executor.model_config.dropout"]

    states = jobs.wait([p["jobs"][0] for p in points], timeout=240)
    assert [states[p["jobs"][0]] for p in points] == ["COMPLETED", "COMPLETED", "COMPLETED", "FAILED"]

    capsys.readouterr()
    assert main(["sweep", "status", "digits", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["points"]
    assert [r["state"] for r in rows] == ["COMPLETED", "COMPLETED", "COMPLETED", "FAILED"]
    assert all(r["version"].startswith("digits_V") for r in rows)

    failed_version = Path(points[3]["version_dir"]).name
    assert main(["jobs", failed_version]) == 0
    table = capsys.readouterr().out
    assert "FAILED" in table and "stderr tail" in table
    assert "dropout probability has to be between 0 and 1" in table

    before = {r.job_id for r in list_jobs(project / "experiments")}
    assert main(["sweep", "status", "digits", "--retry-failed", "--json"]) == 0
    after = {r.job_id for r in list_jobs(project / "experiments")}
    new = after - before
    assert len(new) == 1
    (record,) = [r for r in list_jobs(project / "experiments") if r.job_id in new]
    assert record.version == failed_version and record.point == 3
    rows = json.loads(capsys.readouterr().out.split("\n", 1)[1])["points"]
    assert [r["attempts"] for r in rows] == [1, 1, 1, 2]
