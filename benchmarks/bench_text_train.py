"""Benchmark of issue 7: ``runway-train reviews`` vs HF ``Trainer`` vs a plain Lightning script.

The same model (the text template's BERT built from a config), the same tokenized data (the
``output:Tokenize`` node of a fresh ``runway init --template text`` project, prepared once before any
timing), the same batch size, optimizer settings (AdamW, linear warmup; read from the experiment's
config), epochs, validation once per epoch, a checkpoint per epoch, the model saved with
``save_pretrained`` at the end, the same gradient clipping (the experiment's
``train.gradient_clip_val``; HF ``Trainer`` clips at 1.0 unless told), the same torch thread count
(``train.torch_num_threads``), the same batches: rows come pre-padded from the tokenize node, so HF
``Trainer`` gets ``default_data_collator`` and, like runway's executor and the Lightning script, each
batch is cut to its longest row. Each contestant is a fresh process, timed from start to exit
(imports included). All three are warmed up once (a small run: page cache, .pyc files), then run
``--repeats`` (>= 5) times in rotating order; medians are compared and the spread shown, and where
the spreads overlap the result is printed as "parity". Targets: runway / Trainer <= 1.0, runway /
plain Lightning <= 1.10.

Run: ``.venv/bin/python benchmarks/bench_text_train.py [--rows 0] [--epochs 2] [--repeats 5]``
(``--rows 0``: all reviews, 3,600 train / 400 validation). Exits 1 on FAIL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import overlap, record

BIN = Path(sys.executable).parent
SEED = 42


def data_opts(rows: int) -> list[str]:
    return [f"data_pipeline.transforms.input:LoadReviews.setup_kwargs.max_rows={rows}"] if rows else []


def runway_opts(rows: int, epochs: int) -> list[str]:
    return [
        *data_opts(rows),
        f"train.trainer_paras.max_epochs={epochs}",
        "train.trainer_paras.enable_progress_bar=false",
        "train.trainer_paras.enable_model_summary=false",
        # One logger, as in the baselines (the template logs CSV and TensorBoard).
        'meta.logger_enable=["csv"]',
    ]


# ----------------------------------------------------------------------------- baselines


def _load(project: Path, rows: int) -> tuple[dict, object, dict]:
    """The tokenized splits, the tokenizer and the resolved config, from the project's warm cache."""
    from runway_for_ml.pipeline.runner import DataPipeline

    os.chdir(project)
    pipeline = DataPipeline.from_config("configs/experiments/reviews.jsonnet", data_opts(rows))
    out = pipeline.get_data(["output:Tokenize", "process:TrainTokenizer"])
    splits = {k: v.select_columns(["input_ids", "attention_mask", "label"]) for k, v in out["output:Tokenize"].items()}
    return splits, out["process:TrainTokenizer"], pipeline.config


def _settings(config: dict) -> tuple[float, float, int, int]:
    """(lr, weight_decay, warmup steps, batch size) of the experiment, so every contestant uses the same."""
    optimizer = config["train"]["optimizer_config"]
    params = optimizer["optimizer_params"]
    warmup = int((optimizer.get("scheduler_params") or {}).get("num_warmup_steps", 0))
    return float(params["lr"]), float(params.get("weight_decay", 0.0)), warmup, int(config["train"]["batch_size"])


def _same_machine_settings(config: dict) -> float:
    """Apply the experiment's torch thread count; return its gradient clipping (0: none)."""
    import torch

    threads = config["train"].get("torch_num_threads")
    if threads:
        torch.set_num_threads(int(threads))
    return float(config["train"].get("gradient_clip_val") or 0.0)


def _cut_to_longest(batch: dict) -> dict:
    """Cut a batch of fixed-width rows to its longest row, as runway's text executor does."""
    width = max(int(batch["attention_mask"].sum(1).max()), 1)
    return {k: (v[:, :width] if v.dim() == 2 else v) for k, v in batch.items()}


def _model(config: dict, tokenizer: object) -> object:
    from transformers import BertConfig, BertForSequenceClassification

    kwargs = dict(config["executor"]["model_config"]["config_kwargs"])
    bert = BertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, num_labels=2, **kwargs)
    return BertForSequenceClassification(bert)


def run_hf_trainer(project: Path, rows: int, epochs: int, out: Path) -> None:
    import numpy as np
    from transformers import Trainer, TrainingArguments, default_data_collator, set_seed

    splits, tokenizer, config = _load(project, rows)
    lr, weight_decay, warmup, batch = _settings(config)
    clip = _same_machine_settings(config)
    splits = {k: v.rename_column("label", "labels") for k, v in splits.items()}
    set_seed(SEED)
    model = _model(config, tokenizer)
    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=128,
        num_train_epochs=epochs,
        learning_rate=lr,
        weight_decay=weight_decay,
        warmup_steps=warmup,
        lr_scheduler_type="linear",
        max_grad_norm=clip,  # 0: no clipping, as the experiment (Trainer's own default would clip at 1.0)
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        logging_steps=10,
        report_to=[],
        use_cpu=True,
        seed=SEED,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )

    def accuracy(pred: object) -> dict:
        return {"accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=splits["train"],
        eval_dataset=splits["validation"],
        # Pre-padded rows: default_data_collator stacks them; cut to the batch's longest row as runway does.
        data_collator=lambda rows: _cut_to_longest(default_data_collator(rows)),
        compute_metrics=accuracy,
    )
    trainer.train()
    trainer.save_model(str(out / "hf_model"))


def run_plain_lightning(project: Path, rows: int, epochs: int, out: Path) -> None:
    import pytorch_lightning as pl
    import torch
    import torchmetrics
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup

    splits, tokenizer, config = _load(project, rows)
    lr, weight_decay, warmup, batch = _settings(config)
    clip = _same_machine_settings(config)
    pl.seed_everything(SEED, verbose=False)
    pad = DataCollatorWithPadding(tokenizer)

    def collate(rows: list) -> dict:
        # Fixed padding from the tokenize node, cut to the batch's longest row (as the runway executor does).
        batch = pad([{k: r[k] for k in ("input_ids", "attention_mask", "label")} for r in rows])
        width = int(batch["attention_mask"].sum(1).max())
        return {k: (v[:, :width] if v.dim() == 2 else v) for k, v in batch.items()}

    class Plain(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = _model(config, tokenizer)
            self.val_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=2)

        def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
            loss = self.model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
            ).loss
            self.log("train_loss", loss, on_step=True, on_epoch=True, batch_size=len(batch["labels"]))
            return loss

        def validation_step(self, batch: dict, batch_idx: int) -> None:
            out = self.model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
            )
            self.val_accuracy.update(out.logits, batch["labels"])
            self.log("val_loss", out.loss, batch_size=len(batch["labels"]))
            self.log(
                "val_accuracy", self.val_accuracy, batch_size=len(batch["labels"]), metric_attribute="val_accuracy"
            )

        def configure_optimizers(self) -> dict:
            optimizer = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=weight_decay)
            total = int(self.trainer.estimated_stepping_batches)
            schedule = get_linear_schedule_with_warmup(optimizer, warmup, total)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    module = Plain()
    train = DataLoader(splits["train"], batch_size=batch, shuffle=True, collate_fn=collate)
    val = DataLoader(splits["validation"], batch_size=128, collate_fn=collate)
    # As the template: the latest epoch is kept (monitor null), plus last.ckpt.
    checkpoint = ModelCheckpoint(dirpath=str(out / "checkpoints"), monitor=None, save_top_k=1, save_last=True)
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=CSVLogger(str(out / "logs")),
        callbacks=[checkpoint],
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=10,
        gradient_clip_val=clip or None,
    )
    trainer.fit(module, train, val)
    module.model.save_pretrained(str(out / "hf_model"))


# ----------------------------------------------------------------------------- driver


def timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-5000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=0, help="reviews per split from LoadReviews (0: all)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", choices=("hf", "lightning"), help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker = run_hf_trainer if args.worker == "hf" else run_plain_lightning
        worker(args.project, args.rows, args.epochs, args.out)
        return 0

    names = ["runway-train", "HF Trainer", "plain Lightning"]
    with tempfile.TemporaryDirectory(prefix="bench-text-") as tmp:
        project = Path(tmp) / "proj"
        subprocess.run(
            [str(BIN / "runway"), "init", str(project), "--template", "text"], check=True, capture_output=True
        )
        # Warm the data cache (load, split, train the tokenizer, tokenize) outside the timings.
        opts = ["--opts", *data_opts(args.rows)] if args.rows else []
        timed([str(BIN / "runway"), "prepare", "reviews", *opts], project)

        def command(name: str, i: int, rows: int, epochs: int) -> list[str]:
            if name == "runway-train":
                return [str(BIN / "runway-train"), "reviews", "--opts", *runway_opts(rows, epochs)]
            worker = "hf" if name == "HF Trainer" else "lightning"
            out = Path(tmp) / f"{worker}-{i}"
            cmd = [sys.executable, __file__, "--worker", worker, "--project", str(project), "--out", str(out)]
            return [*cmd, "--rows", str(rows), "--epochs", str(epochs)]

        # Warm-up of all three on the same cached data (the full rows: a different row count would be a
        # different cache key); one epoch, untimed.
        for name in names:
            timed(command(name, -1, args.rows, 1), project)
        times: dict[str, list[float]] = {name: [] for name in names}
        for i in range(args.repeats):
            for name in names[i % 3 :] + names[: i % 3]:  # rotating order
                times[name].append(timed(command(name, i, args.rows, args.epochs), project))
    median = {name: statistics.median(values) for name, values in times.items()}
    rows = args.rows or "all"
    print(
        f"reviews BERT from a config, rows per split: {rows}, epochs: {args.epochs}; median and spread of "
        f"{args.repeats} runs each in rotating order, all warmed up"
    )
    for name, seconds in median.items():
        runs = times[name]
        print(
            f"  {name:<16} {seconds:7.1f} s  (spread {min(runs):.1f}-{max(runs):.1f}; runs: {', '.join(f'{s:.1f}' for s in runs)})"
        )
    ok = True
    for other, target in (("HF Trainer", 1.0), ("plain Lightning", 1.10)):
        ratio = median["runway-train"] / median[other]
        spread = [min(times["runway-train"]) / max(times[other]), max(times["runway-train"]) / min(times[other])]
        parity = overlap(times["runway-train"], times[other])
        verdict = "parity (spreads overlap)" if parity else ("faster" if ratio < 1 else "slower")
        passed = ratio <= target
        ok &= passed
        print(
            f"runway-train / {other:<15} = {ratio:.2f}x (range {spread[0]:.2f}-{spread[1]:.2f}; target <= {target:.2f}) "
            f"{verdict} {'PASS' if passed else 'FAIL'}"
        )
        record(
            "bench_text_train",
            f"runway-train / {other}",
            round(ratio, 3),
            unit="x",
            anchor=f"{other}, same model, data, batches, clipping, threads; {rows} rows, {args.epochs} epochs",
            target=f"<= {target:.2f}",
            passed=passed,
            spread=[round(x, 3) for x in spread],
            note=verdict,
        )
    for name in names:
        record("bench_text_train", f"{name} wall time", round(median[name], 1), unit="s", spread=spread_of(times[name]))
    return 0 if ok else 1


def spread_of(values: list[float]) -> list[float]:
    return [round(min(values), 1), round(max(values), 1)]


if __name__ == "__main__":
    sys.exit(main())
