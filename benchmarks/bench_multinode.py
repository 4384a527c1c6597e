"""Wall time of the 2 x 2 DDP job (two nodes, two CPU ranks each) next to one process training the same epochs.

Needs the two-node local cluster (bash scripts/local-slurm.sh start --nodes 2). In a fresh project with
its data prepared, it runs, one after another, each through the real command line:

1. ``runway-train digits --slurm --wait`` with slurm.nodes=2, tasks_per_node=2, num_nodes=2, devices=2,
   strategy=ddp, accelerator=cpu, 8 rows per rank and step (32 per optimizer step);
2. the same epochs as one SLURM task (1 node x 1 task, 32 rows per step): the same job overhead, one rank;
3. the same epochs as one local process (``--launcher local``), no SLURM at all.

Each line gives the command's wall time (submission to the end of the job for 1 and 2), the training
time recorded in the manifest (``train_seconds``: the fit itself, after imports, data and rendezvous),
the world size and the final validation accuracy. The local cluster's "nodes" share this machine's
CPUs, so the 2 x 2 job measures the cost of the machinery (srun, four interpreters, gloo over the
bridge), not a speed-up; on real nodes each rank has its own cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import record, skip

BIN = Path(sys.executable).parent
EPOCHS = 3
COMMON = [
    "train.optimizer_config.optimizer_params.lr=0.01",
    f"train.trainer_paras.max_epochs={EPOCHS}",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
    "train.early_stopping=null",
    'meta.logger_enable=["csv"]',
    "train.trainer_paras.accelerator=cpu",
]
TWO_BY_TWO = [
    "slurm.nodes=2",
    "slurm.tasks_per_node=2",
    "train.trainer_paras.num_nodes=2",
    "train.trainer_paras.devices=2",
    "train.trainer_paras.strategy=ddp",
    "train.batch_size=8",
]
ONE = ["train.batch_size=32", "train.trainer_paras.devices=1"]


def _usable_nodes() -> int:
    try:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    states = [line.split()[1] for line in out.splitlines() if len(line.split()) == 2]
    return sum(s.startswith(("idle", "mix", "alloc", "comp")) for s in states)


def _run(project: Path, label: str, args: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(WANDB_MODE="offline", WANDB_SILENT="true")
    before = {p.name for p in (project / "experiments").glob("digits_V*")}
    started = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "runway-train"), "digits", *args], cwd=project, capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    (version,) = [p for p in (project / "experiments").glob("digits_V*") if p.name not in before]
    manifest = json.loads((version / "train" / "manifest.json").read_text())
    return {
        "label": label,
        "wall_s": wall,
        "train_s": float(manifest.get("train_seconds") or 0.0),
        "world_size": manifest.get("world_size"),
        "nodes": (manifest.get("ddp") or {}).get("nodes") or [manifest.get("slurm", {}).get("node") or "local"],
        "val_accuracy": manifest["final_metrics"].get("val_accuracy"),
        "steps": manifest.get("global_step"),
    }


def main() -> int:
    if _usable_nodes() < 2:
        skip(
            "bench_multinode", "no two-node SLURM cluster (start it with: bash scripts/local-slurm.sh start --nodes 2)"
        )
    tmp = Path(tempfile.mkdtemp(prefix="bench_multinode_"))
    project = tmp / "proj"
    env = dict(os.environ, WANDB_MODE="offline")
    subprocess.run([str(BIN / "runway"), "init", str(project)], capture_output=True, check=True, env=env)
    subprocess.run([str(BIN / "runway"), "prepare", "digits"], cwd=project, capture_output=True, check=True, env=env)

    rows = [
        _run(project, "2 nodes x 2 ranks (SLURM, DDP/gloo)", ["--slurm", "--wait", "--opts", *COMMON, *TWO_BY_TWO]),
        _run(project, "1 node x 1 rank  (SLURM)", ["--slurm", "--wait", "--opts", *COMMON, *ONE]),
        _run(project, "1 process        (local)", ["--launcher", "local", "--opts", *COMMON, *ONE]),
    ]
    print(f"digits, {EPOCHS} epochs, 32 rows per optimizer step; the local cluster's nodes share {os.cpu_count()} CPUs")
    for r in rows:
        print(
            f"{r['label']}: wall {r['wall_s']:6.1f} s  train {r['train_s']:6.1f} s  world size {r['world_size']}  "
            f"nodes {','.join(r['nodes'])}  steps {r['steps']}  val_accuracy {r['val_accuracy']:.3f}"
        )
    base = rows[2]["wall_s"]
    print(f"2x2 job / 1 local process wall time: {rows[0]['wall_s'] / base:.2f}x")
    anchor = f"one local process, the same {EPOCHS} epochs and 32 rows per step"
    note = "the local cluster's two nodes share this machine's CPUs: the machinery's cost, not a speed-up"
    for r, name in zip(rows, ("2x2 SLURM job", "1x1 SLURM job", "1 local process"), strict=True):
        record("bench_multinode", f"{name}: wall time", round(r["wall_s"], 1), unit="s", anchor=anchor, note=note)
        record("bench_multinode", f"{name}: training time", round(r["train_s"], 1), unit="s", anchor=anchor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
