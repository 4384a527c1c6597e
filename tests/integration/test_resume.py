"""``checkpoints/last.ckpt`` follows every epoch, across ``--resume``, also when the monitored metric plateaus.

Lightning writes ``last.ckpt`` only together with a new top-k checkpoint; with a plateau (here lr=0,
so ``val_accuracy`` never improves after epoch 0) it would stay at epoch 0, and a resume (or a SLURM
requeue, which resumes the same way) would lose every later epoch.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from runway_for_ml.cli.main import main
from runway_for_ml.experiment.manifest import read_manifest, update_manifest

SMALL = [
    "data_pipeline.transforms.input:LoadDigits.setup_kwargs.max_rows=200",
    "train.trainer_paras.max_epochs=2",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
    "train.early_stopping=null",
    # No learning: the monitored val_accuracy is flat after epoch 0 (the case that froze last.ckpt).
    "train.optimizer_config.optimizer_params.lr=0.0",
    'meta.logger_enable=["csv"]',
]


def _last_epoch(version: Path) -> int:
    return int(torch.load(version / "train" / "checkpoints" / "last.ckpt", weights_only=False)["epoch"])


def _stopped_with_more_epochs_to_go(version: Path, max_epochs: int) -> None:
    """Make the version look like a run of ``max_epochs`` stopped where it is (as after a kill or preemption)."""
    path = version / "train" / "config.json"
    config = json.loads(path.read_text())
    config["train"]["trainer_paras"]["max_epochs"] = max_epochs
    path.write_text(json.dumps(config))
    update_manifest(version, status="interrupted")


def _validated_epochs(version: Path) -> Counter[int]:
    with open(version / "train" / "logs" / "csv" / "metrics.csv", newline="") as fh:
        return Counter(int(row["epoch"]) for row in csv.DictReader(fh) if row.get("val_loss"))


def test_last_checkpoint_advances_through_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "proj"
    assert main(["init", str(project)]) == 0
    monkeypatch.chdir(project)
    version = project / "experiments" / "digits_V0"

    assert main(["train", "digits", "--opts", *SMALL]) == 0
    assert _last_epoch(version) == 1  # the final epoch, although only epoch 0 was "best"

    _stopped_with_more_epochs_to_go(version, 4)
    assert main(["train", "digits", "--resume"]) == 0
    assert _last_epoch(version) == 3
    manifest = read_manifest(version)
    assert manifest["status"] == "completed" and manifest["resume_count"] == 1

    _stopped_with_more_epochs_to_go(version, 6)
    assert main(["train", "digits", "--resume"]) == 0
    assert _last_epoch(version) == 5
    # The second resume continued after epoch 3: every epoch was trained (and validated) exactly once.
    assert _validated_epochs(version) == Counter(range(6))
    assert read_manifest(version)["resume_count"] == 2
    assert sorted(p.name for p in (project / "experiments").iterdir() if p.name.startswith("digits_V")) == ["digits_V0"]


@pytest.mark.slow
def test_sigterm_marks_the_version_interrupted(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    assert main(["init", str(project)]) == 0
    opts = [o for o in SMALL if "max_epochs" not in o and "lr=" not in o] + ["train.trainer_paras.max_epochs=500"]
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "runway-train"), "digits", "--launcher", "local", "--opts", *opts],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WANDB_MODE": "offline"},
    )
    version = project / "experiments" / "digits_V0"
    try:
        deadline = time.monotonic() + 120
        while not (version / "train" / "checkpoints" / "last.ckpt").is_file():
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Lightning ends an interrupted fit with exit(1); the manifest says why.
    assert proc.returncode != 0, stderr[-2000:]
    manifest = read_manifest(version)
    assert manifest["status"] == "interrupted", manifest
    assert manifest["ended_at"] and 0 < _last_epoch(version) + 1 < 500


@pytest.mark.slow
def test_wandb_offline_run_lives_in_the_version_and_resume_keeps_its_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    project = tmp_path / "proj"
    assert main(["init", str(project)]) == 0
    monkeypatch.chdir(project)
    opts = [o for o in SMALL if "max_epochs" not in o and "logger_enable" not in o]
    opts += ["train.trainer_paras.max_epochs=1", 'meta.logger_enable=["csv","wandb"]']
    assert main(["train", "digits", "--opts", *opts]) == 0
    version = project / "experiments" / "digits_V0"
    runs = sorted(version.rglob("offline-run-*"))
    assert len(runs) == 1 and runs[0].is_dir()
    (wandb_file,) = runs[0].glob("run-*.wandb")
    run_id = wandb_file.stem.removeprefix("run-")

    _stopped_with_more_epochs_to_go(version, 2)
    assert main(["train", "digits", "--resume"]) == 0
    runs = sorted(version.rglob("offline-run-*"))
    # The id is in each run's .wandb file name (a folder started within the same second as another gets
    # a "-1" suffix, so folder names are not reliable).
    assert len(runs) == 2
    assert {f.stem.removeprefix("run-") for r in runs for f in r.glob("run-*.wandb")} == {run_id}
