"""``runway search --slurm --workers 2`` on the local SLURM cluster: two array tasks, one study, no trial run twice."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from runway_for_ml.cli.main import main
from runway_for_ml.experiment.manifest import read_manifest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TRIALS = 6
OPTS = [
    "data_pipeline.transforms.input:LoadDigits.setup_kwargs.max_rows=300",
    "train.trainer_paras.max_epochs=2",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
    "train.early_stopping=null",
    'meta.logger_enable=["csv"]',
    "search.sampler=random",
]


def test_two_workers_share_one_study_and_run_each_trial_once(project: Path, capsys):
    capsys.readouterr()
    code = main(["search", "digits", "--trials", str(TRIALS), "--slurm", "--workers", "2", "--wait", "--opts", *OPTS])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "submitted 2 search worker(s)" in out
    (study_dir,) = sorted((project / "experiments").glob("digits_search_S*"))

    with (study_dir / "trials.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == TRIALS and {r["state"] for r in rows} <= {"complete", "pruned"}
    assert len({r["version"] for r in rows}) == TRIALS
    best = json.loads((study_dir / "best.json").read_text())
    assert best["finished"] == TRIALS and best["best"] is not None

    # Each trial started exactly once, across both workers' logs; every version belongs to one trial.
    logs = [p.read_text(errors="replace") for p in (study_dir / "slurm").rglob("*.err")]
    assert len(logs) == 2, sorted(str(p) for p in (study_dir / "slurm").rglob("*"))
    started = Counter(re.findall(r"trial (\d+): \S+ started", "\n".join(logs)))
    assert sorted(int(t) for t in started) == sorted(int(r["trial"]) for r in rows)
    assert set(started.values()) == {1}, started
    workers = set()
    for row in rows:
        manifest = read_manifest(project / "experiments" / row["version"])
        assert manifest["search"]["trial"] == int(row["trial"]) and manifest["search"]["study"] == study_dir.name
        workers.add(manifest["search"]["worker"])
    assert workers <= {0, 1}
    # The data pipeline ran once for the study (the first worker, under the cache lock); the other hit the cache.
    prepared = re.findall(r"\[search\] data prepared in [\d.]+s: (.*)", "\n".join(logs))
    assert len(prepared) == 2 and prepared.count("all cached") >= 1, prepared


def test_a_requeued_worker_retries_its_trial_in_the_same_version(project: Path, jobs, capsys):
    """scontrol requeue kills the worker mid-trial: the requeued job retries that trial from its last.ckpt."""
    import subprocess
    import time

    from runway_for_ml.launcher.jobs import FINISHED_STATES, job_states, list_jobs

    before = {r.job_id for r in list_jobs(project / "experiments")}
    opts = [*OPTS, "train.trainer_paras.max_epochs=25"]
    assert main(["search", "digits", "--trials", "2", "--slurm", "--opts", *opts]) == 0
    (record,) = [r for r in list_jobs(project / "experiments") if r.job_id not in before]
    study_dir = sorted(
        (project / "experiments").glob("digits_search_S*"), key=lambda p: int(p.name.rpartition("S")[2])
    )[-1]

    def running_trial() -> Path | None:
        for version in (project / "experiments").glob("digits_V*"):
            manifest = read_manifest(version)
            if (manifest.get("search") or {}).get("study") != study_dir.name or manifest.get("status") != "running":
                continue
            if (version / "train" / "checkpoints" / "last.ckpt").is_file():
                return version
        return None

    deadline = time.time() + 180
    while (version := running_trial()) is None:
        assert time.time() < deadline, f"no trial with a checkpoint after 180s: {job_states([record.job_id])}"
        assert job_states([record.job_id])[record.job_id].state not in FINISHED_STATES, "the job ended first"
        time.sleep(0.2)
    subprocess.run(["scontrol", "requeue", record.job_id], check=True, capture_output=True)

    assert jobs.wait([record.job_id], timeout=300)[record.job_id] == "COMPLETED"
    with (study_dir / "trials.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    finished = [r for r in rows if r["state"] in ("complete", "pruned")]
    assert len(finished) == 2
    (failed,) = [r for r in rows if r["state"] == "fail"]
    assert failed["version"] == version.name
    (retry,) = [r for r in rows if r["retry_of"] == failed["trial"]]
    assert retry["version"] == version.name and retry["state"] in ("complete", "pruned")
    manifest = read_manifest(version)
    assert manifest["resumed_from"] == "train/checkpoints/last.ckpt"
    assert manifest["search"]["retried_from"] == [int(failed["trial"])]
    assert len({r["version"] for r in finished}) == 2
