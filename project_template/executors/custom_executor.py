"""Project executors: Lightning modules configured from ``executor.*`` and ``train.*``.

``BaseExecutor`` already builds the optimizer and schedule (``train.optimizer_config``); runway's data
module feeds it the pipeline's splits in batches (``train.batch_size``, ``train.val_batch_size``,
``test.batch_size``) made by ``collate_fn``. Override the Lightning steps.
"""

from __future__ import annotations

from typing import Any

import torch
import torchmetrics
from modeling.custom_modeling import DigitsMLP
from torch.nn import functional as F

from runway_for_ml import BaseExecutor, register_executor


@register_executor
class DigitsExecutor(BaseExecutor):
    """Classify the 8x8 digits with :class:`DigitsMLP`.

    ``predict_step`` returns per-sample columns; runway's eval recorder saves them and the metrics
    in ``eval.metrics`` are computed from them.
    """

    def __init__(self, config: dict, data: dict | None = None, model_config: dict | None = None, **init_kwargs: Any):
        super().__init__(config, data, model_config, **init_kwargs)
        mc = self.model_config
        self.input_column = mc.get("input_column", "pixels")
        self.label_column = mc.get("label_column", "label")
        self.model = DigitsMLP(
            input_dim=mc.get("input_dim", 64),
            hidden_dims=mc.get("hidden_dims", [128]),
            num_classes=mc.get("num_classes", 10),
            dropout=mc.get("dropout", 0.0),
        )
        self.val_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=mc.get("num_classes", 10))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixels)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = F.cross_entropy(self(batch[self.input_column]), batch[self.label_column].long())
        self.log(
            "train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch[self.label_column])
        )
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch[self.input_column])
        target = batch[self.label_column].long()
        # update(), not self.val_accuracy(...): only the epoch value is logged, and forward() would also
        # compute a per-batch value every step.
        self.val_accuracy.update(logits, target)
        self.log("val_loss", F.cross_entropy(logits, target), prog_bar=True, batch_size=len(target))
        # metric_attribute names the attribute, so Lightning does not search all modules for it.
        self.log(
            "val_accuracy", self.val_accuracy, prog_bar=True, batch_size=len(target), metric_attribute="val_accuracy"
        )

    def embed_step(self, batch: dict) -> torch.Tensor:
        # What `runway embed` plots and PredictWithExperiment(outputs: ['embedding']) adds: the MLP's
        # penultimate layer.
        return self.model.embed(batch[self.input_column])

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict:
        logits = self(batch[self.input_column])
        probabilities = logits.softmax(dim=-1)
        out = {
            "prediction": logits.argmax(dim=-1),
            "confidence": probabilities.max(dim=-1).values,
            "probabilities": probabilities,
        }
        if self.label_column in batch:
            out["target"] = batch[self.label_column].long()
        return out
