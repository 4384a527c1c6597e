"""Benchmarks of issue 3 (experiments), measured side by side in one run.

1. ``runway-train digits`` vs a plain Lightning script training the same MLP on the same data for the
   same epochs (same batch size, optimizer, threads): target median wall time ratio <= 1.10.
2. ``runway --help`` and ``runway ls`` in a project with 200 experiment version folders: <= 0.5 s each.

Run: ``.venv/bin/python benchmarks/bench_experiments.py [--repeats 3]``; exits 1 on FAIL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _results import record

BIN = Path(sys.executable).parent
EPOCHS = 8
TRAIN_OPTS = [
    f"train.trainer_paras.max_epochs={EPOCHS}",
    "train.early_stopping=null",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
]

# The plain-Lightning baseline: same data (sklearn digits, 20% test / 10% validation, stratified,
# standardised with train statistics), same MLP (64-128-64-10, dropout 0.1), AdamW + linear warmup
# schedule, batch 64, one torch thread, ModelCheckpoint (best + last), CSV + TensorBoard loggers, and the
# same step code as the template's executor (torchmetrics accuracy, logged the same way).
PLAIN_SCRIPT = textwrap.dedent(
    f"""
    import sys, numpy as np, torch, torchmetrics, pytorch_lightning as pl
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    torch.set_num_threads(1)
    pl.seed_everything(42, workers=True, verbose=False)
    x, y = load_digits(return_X_y=True)
    x = x.astype("float32")
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=42)
    xtr, xva, ytr, yva = train_test_split(xtr, ytr, test_size=0.1 * len(x) / len(xtr), stratify=ytr, random_state=42)
    mean, std = xtr.mean(0), np.maximum(xtr.std(0), 1.0)
    norm = lambda a: torch.tensor((a - mean) / std)

    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 64), nn.ReLU(),
                                     nn.Dropout(0.1), nn.Linear(64, 10))
            self.val_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=10)
        def training_step(self, batch, i):
            loss = nn.functional.cross_entropy(self.net(batch[0]), batch[1])
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss
        def validation_step(self, batch, i):
            logits = self.net(batch[0])
            self.val_accuracy.update(logits, batch[1])
            self.log("val_loss", nn.functional.cross_entropy(logits, batch[1]), batch_size=len(batch[1]))
            self.log("val_accuracy", self.val_accuracy, batch_size=len(batch[1]), metric_attribute="val_accuracy")
        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.parameters(), lr=2e-3, weight_decay=0.01)
            total = self.trainer.estimated_stepping_batches
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / 10, max(0.0, (total - s) / max(1, total - 10))))
            return {{"optimizer": opt, "lr_scheduler": {{"scheduler": sched, "interval": "step"}}}}

    out = sys.argv[1]
    train = DataLoader(TensorDataset(norm(xtr), torch.tensor(ytr)), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(norm(xva), torch.tensor(yva)), batch_size=256)
    trainer = pl.Trainer(max_epochs={EPOCHS}, accelerator="cpu", devices=1, log_every_n_steps=5, deterministic="warn",
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=out,
                         logger=[CSVLogger(out), TensorBoardLogger(out)],
                         callbacks=[ModelCheckpoint(dirpath=out + "/ckpt", monitor="val_accuracy", mode="max", save_last=True)])
    trainer.fit(Model(), train, val)
    """
)


def _timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "WANDB_MODE": "offline"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-4000:])
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return elapsed


def bench_train(project: Path, repeats: int) -> tuple[float, float]:
    script = project / "plain_lightning.py"
    script.write_text(PLAIN_SCRIPT)
    # Warm-up: fills the data cache (runway) and the OS file cache (both); not measured.
    _timed([str(BIN / "runway"), "train", "digits", "--opts", *TRAIN_OPTS], project)
    _timed([sys.executable, str(script), str(project / "plain_out")], project)
    runway_times, plain_times = [], []
    for i in range(repeats):  # interleaved, so load changes on the machine hit both alike
        runway_times.append(_timed([str(BIN / "runway"), "train", "digits", "--opts", *TRAIN_OPTS], project))
        plain_times.append(_timed([sys.executable, str(script), str(project / f"plain_out{i}")], project))
    return statistics.median(runway_times), statistics.median(plain_times)


def bench_cli(project: Path, repeats: int) -> tuple[float, float]:
    experiments = project / "experiments"
    for i in range(200):
        version = experiments / f"bench{i % 20}_V{i // 20}"
        (version / "train").mkdir(parents=True, exist_ok=True)
        (version / "train" / "manifest.json").write_text(
            json.dumps({"status": "completed", "key_metric": "accuracy", "created_at": "2024-01-01T00:00:00"})
        )
        (version / "infer-test").mkdir(exist_ok=True)
        (version / "infer-test" / "metrics.json").write_text(json.dumps({"accuracy": 0.9 + i / 10000}))
    help_times = [_timed([str(BIN / "runway"), "--help"], project) for _ in range(repeats)]
    ls_times = [_timed([str(BIN / "runway"), "ls"], project) for _ in range(repeats)]
    return statistics.median(help_times), statistics.median(ls_times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "bench"
        subprocess.run([str(BIN / "runway"), "init", str(project)], check=True, capture_output=True)
        runway_s, plain_s = bench_train(project, args.repeats)
        ratio = runway_s / plain_s
        verdict = "PASS" if ratio <= 1.10 else "FAIL"
        ok &= verdict == "PASS"
        print(
            f"runway-train digits: {runway_s:.2f} s  plain Lightning: {plain_s:.2f} s  ratio {ratio:.3f} (target <= 1.10) {verdict}"
        )
        record(
            "bench_experiments",
            "runway-train digits / plain Lightning script",
            round(ratio, 3),
            unit="x",
            anchor=f"plain Lightning script, same model and data ({plain_s:.1f} s); medians of {args.repeats}",
            target="<= 1.10",
            passed=ratio <= 1.10,
        )
        help_s, ls_s = bench_cli(project, max(5, args.repeats))
        for name, value in (("runway --help", help_s), ("runway ls (200 versions)", ls_s)):
            verdict = "PASS" if value <= 0.5 else "FAIL"
            ok &= verdict == "PASS"
            print(f"{name}: {value:.3f} s (target <= 0.5 s) {verdict}")
            record(
                "bench_experiments",
                name,
                round(value, 3),
                unit="s",
                anchor="new process, median",
                target="<= 0.5 s",
                passed=verdict == "PASS",
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
