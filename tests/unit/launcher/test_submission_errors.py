"""A failed submission says which part failed: SLURM's refusal, no job id, or the machine.

A stand-in ``sbatch`` on PATH plays the cluster's part; submitit and runway's launcher are the real ones.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from runway_for_ml.errors import RunwayError
from runway_for_ml.launcher import JobSpec, submit


def _fake_sbatch(folder: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder.mkdir()
    sbatch = folder / "sbatch"
    sbatch.write_text("#!/bin/sh\n" + script)
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def _spec(tmp_path: Path) -> JobSpec:
    version = tmp_path / "experiments" / "digits_V0"
    (version / "train").mkdir(parents=True)
    (version / "train" / "manifest.json").write_text(json.dumps({"status": "created", "experiment": "digits"}))
    return JobSpec("train", ["train", "digits"], {"slurm": {"partition": "nope"}}, version_dir=version)


def test_sbatch_refusal_is_reported_in_slurms_words(tmp_path, monkeypatch):
    _fake_sbatch(tmp_path / "bin", "echo 'sbatch: error: invalid partition specified: nope' >&2\nexit 1\n", monkeypatch)
    spec = _spec(tmp_path)
    with pytest.raises(RunwayError, match="sbatch refused the job: .*invalid partition specified: nope") as info:
        submit([spec], folder=spec.version_dir / "slurm" / "%j", experiments_root=tmp_path / "experiments")
    assert "slurm` section" in info.value.hint
    assert not (tmp_path / "experiments" / ".jobs").exists()  # nothing registered


def test_sbatch_without_a_job_id_is_not_called_a_refusal(tmp_path, monkeypatch):
    _fake_sbatch(tmp_path / "bin", "echo 'queued somewhere'\n", monkeypatch)
    spec = _spec(tmp_path)
    with pytest.raises(RunwayError, match="printed no job id") as info:
        submit([spec], folder=spec.version_dir / "slurm" / "%j", experiments_root=tmp_path / "experiments")
    assert "refused" not in str(info.value)


def test_an_unusable_log_folder_is_reported_as_the_machines_problem(tmp_path, monkeypatch):
    _fake_sbatch(tmp_path / "bin", "echo 'Submitted batch job 7'\n", monkeypatch)
    spec = _spec(tmp_path)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    with pytest.raises(RunwayError, match="could not submit `runway train`") as info:
        submit([spec], folder=blocker / "logs" / "%j", experiments_root=tmp_path / "experiments")
    assert "refused" not in str(info.value)


def test_an_accepted_job_is_registered_and_returned_as_a_submitit_job(tmp_path, monkeypatch):
    _fake_sbatch(tmp_path / "bin", "echo 'Submitted batch job 4242'\n", monkeypatch)
    spec = _spec(tmp_path)
    (job,) = submit([spec], folder=spec.version_dir / "slurm" / "%j", experiments_root=tmp_path / "experiments")
    from submitit import SlurmJob

    assert isinstance(job, SlurmJob) and job.job_id == "4242"
    assert job.paths.stdout == spec.version_dir / "slurm" / "4242" / "4242_0_log.out"
    record = json.loads((tmp_path / "experiments" / ".jobs" / "4242.json").read_text())
    assert record["argv"] == ["train", "digits", "--launcher", "local"] and record["experiment"] == "digits"
    manifest = json.loads((spec.version_dir / "train" / "manifest.json").read_text())
    assert manifest["status"] == "queued" and manifest["slurm"]["job_id"] == "4242"
