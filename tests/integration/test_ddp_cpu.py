"""CPU DDP with two processes through `runway-train` (accelerator=cpu, devices=2, strategy=ddp).

Lightning starts rank 1 by re-running the command line; it must join rank 0's fit in rank 0's version
folder (RUNWAY_VERSION_DIR), without creating a second version or writing the manifest.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runway_for_ml.cli.main import main

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def test_runway_train_with_two_ddp_processes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")}
    env["WANDB_MODE"] = "offline"
    project = tmp_path / "proj"
    assert main(["init", str(project)]) == 0
    opts = [
        "data_pipeline.transforms.input:LoadDigits.setup_kwargs.max_rows=200",
        "train.trainer_paras.accelerator=cpu",
        "train.trainer_paras.devices=2",
        "train.trainer_paras.strategy=ddp",
        "train.trainer_paras.max_epochs=1",
        "train.trainer_paras.enable_progress_bar=false",
        "train.trainer_paras.enable_model_summary=false",
        "train.early_stopping=null",
        'meta.logger_enable=["csv"]',
    ]
    # A real CLI process: Lightning's DDP launcher starts rank 1 by re-running this command line.
    proc = subprocess.run(
        [str(BIN / "runway-train"), "digits", "--launcher", "local", "--opts", *opts],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    versions = sorted(p.name for p in (project / "experiments").glob("digits_V*"))
    assert versions == ["digits_V0"], f"rank 1 must train in rank 0's version folder: {versions}"
    train = project / "experiments" / "digits_V0" / "train"
    manifest = json.loads((train / "manifest.json").read_text())
    assert manifest["status"] == "completed", manifest.get("error")
    # Written by rank 0 after a fit whose process group had both ranks (fit cannot finish without rank 1).
    assert manifest["world_size"] == 2
    # Each rank trained on its half of the training split (DistributedSampler): half the steps of one process.
    config = json.loads((train / "config.json").read_text())
    per_rank = math.ceil(manifest["splits"]["train"] / 2)
    assert manifest["global_step"] == math.ceil(per_rank / config["train"]["batch_size"])
    assert (train / "checkpoints" / "last.ckpt").is_file()
    # Rank 1 took no lock of its own and left no trace besides the shared fit: one metrics.csv (rank 0's).
    assert len(list((train / "logs").rglob("metrics.csv"))) == 1
    assert "being trained by another process" not in proc.stderr


def test_a_rank_that_never_joins_fails_after_ddp_timeout_s(tmp_path: Path) -> None:
    """Rank 0 of a 2-process job whose rank 1 never starts: bounded by train.ddp_timeout_s, naming who is missing."""
    import socket

    with socket.socket() as s:  # a free port for rank 0's rendezvous store
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RANK", "LOCAL_RANK", "NODE_RANK"))}
    # torchrun's variables for rank 0 of 2 (one process per node): Lightning's TorchElasticEnvironment.
    env.update(
        WANDB_MODE="offline",
        RANK="0",
        WORLD_SIZE="2",
        LOCAL_RANK="0",
        LOCAL_WORLD_SIZE="1",
        GROUP_RANK="0",
        TORCHELASTIC_RUN_ID="runway-test",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    project = tmp_path / "proj"
    assert main(["init", str(project)]) == 0
    opts = [
        "data_pipeline.transforms.input:LoadDigits.setup_kwargs.max_rows=200",
        "train.ddp_timeout_s=5",
        "train.trainer_paras.accelerator=cpu",
        "train.trainer_paras.num_nodes=2",
        "train.trainer_paras.devices=1",
        "train.trainer_paras.strategy=ddp",
        "train.trainer_paras.max_epochs=1",
        "train.trainer_paras.enable_progress_bar=false",
        'meta.logger_enable=["csv"]',
    ]
    proc = subprocess.run(
        [str(BIN / "runway-train"), "digits", "--launcher", "local", "--opts", *opts],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "did not complete within train.ddp_timeout_s=5 s" in proc.stderr
    assert "node rank 1 did not join (rank 1)" in proc.stderr
    assert "Traceback" not in proc.stderr
