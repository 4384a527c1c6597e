"""``ClassificationExecutor``: a ready-made MLP / small-CNN classifier usable from config alone.

::

    executor: {
      ExecutorClass: "ClassificationExecutor",
      model_config: {
        model: "mlp",              // or "cnn" (square images flattened to input_dim pixels, e.g. 8x8 = 64)
        input_column: "pixels", label_column: "label",
        input_dim: 64, hidden_dims: [128], num_classes: 10, dropout: 0.1,
      },
    }

It logs ``train_loss`` and ``val_loss`` / ``val_accuracy`` (torchmetrics) and its ``predict_step``
returns ``prediction``, ``target`` (when the label column exists) and ``probabilities``; its
``embed_step`` returns the penultimate layer (the last hidden layer's activations).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torchmetrics
from torch import nn

from runway_for_ml.errors import ConfigError, check_choice, check_keys, did_you_mean
from runway_for_ml.executors.base import BaseExecutor, register_executor

__all__ = ["ClassificationExecutor", "build_classifier"]

_MODEL_CONFIG_KEYS = (
    "model",
    "input_column",
    "label_column",
    "input_dim",
    "hidden_dims",
    "num_classes",
    "dropout",
    "channels",
)


def build_classifier(
    model: str = "mlp",
    input_dim: int = 64,
    hidden_dims: Sequence[int] = (128,),
    num_classes: int = 10,
    dropout: float = 0.1,
    channels: Sequence[int] = (16, 32),
) -> nn.Module:
    """An MLP, or a two-layer CNN for square single-channel images given as ``input_dim`` pixels.

    >>> build_classifier("cnn", input_dim=64, num_classes=10)(torch.zeros(2, 64)).shape
    torch.Size([2, 10])
    """
    layers: list[nn.Module] = []
    if model == "mlp":
        width = input_dim
    elif model == "cnn":
        side = math.isqrt(input_dim)
        if side * side != input_dim or side % 2:
            raise ConfigError(
                f"executor.model_config.input_dim={input_dim} is not an even square; the cnn model reshapes "
                "inputs to 1 x side x side images (e.g. 64 -> 1x8x8)"
            )
        c_in = 1
        layers.append(nn.Unflatten(1, (1, side, side)))
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.ReLU()]
            c_in = c_out
        layers += [nn.MaxPool2d(2), nn.Flatten()]
        width = c_in * (side // 2) ** 2
    else:
        check_choice(str(model), ("mlp", "cnn"), "executor.model_config.model", what="model")
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


@register_executor
class ClassificationExecutor(BaseExecutor):
    """Cross-entropy classifier of one input column (a list of floats) into ``num_classes`` labels.

    >>> ex = ClassificationExecutor({"meta": {"seed": 0}}, model_config={"input_dim": 4, "num_classes": 3})
    >>> ex.predict_step({"pixels": torch.zeros(2, 4), "label": torch.tensor([0, 2])}, 0)["prediction"].shape
    torch.Size([2])
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
        model_config: Mapping[str, Any] | None = None,
        **init_kwargs: Any,
    ) -> None:
        super().__init__(config, data, model_config, **init_kwargs)
        mc = self.model_config
        check_keys(mc, _MODEL_CONFIG_KEYS, "executor.model_config", hint="keys of ClassificationExecutor")
        self.input_column: str = mc.get("input_column", "pixels")
        self.label_column: str = mc.get("label_column", "label")
        self.num_classes = int(mc.get("num_classes", 10))
        self.net = build_classifier(
            model=mc.get("model", "mlp"),
            input_dim=int(mc.get("input_dim", 64)),
            hidden_dims=[int(h) for h in mc.get("hidden_dims", [128])],
            num_classes=self.num_classes,
            dropout=float(mc.get("dropout", 0.1)),
            channels=[int(c) for c in mc.get("channels", [16, 32])],
        )
        self.val_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=self.num_classes)
        self.test_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=self.num_classes)

    def _column(self, batch: Mapping[str, Any], name: str) -> torch.Tensor:
        if name not in batch:
            raise ConfigError(
                f"batch has no column '{name}'{did_you_mean(name, list(batch))}; columns: {', '.join(batch)}",
                hint="set executor.model_config.input_column / label_column to the pipeline's output columns",
            )
        value = batch[name]
        return value if isinstance(value, torch.Tensor) else torch.as_tensor(value)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs.float().flatten(1))

    def _loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits = self(self._column(batch, self.input_column))
        target = self._column(batch, self.label_column).long()
        return nn.functional.cross_entropy(logits, target), logits, target

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        loss, _, target = self._loss(batch)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(target))
        return loss

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        loss, logits, target = self._loss(batch)
        # update(), not self.val_accuracy(...): only the epoch value is logged, and forward() would also
        # compute a per-batch value every step.
        self.val_accuracy.update(logits, target)
        self.log("val_loss", loss, prog_bar=True, batch_size=len(target))
        self.log(
            "val_accuracy", self.val_accuracy, prog_bar=True, batch_size=len(target), metric_attribute="val_accuracy"
        )

    def test_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        loss, logits, target = self._loss(batch)
        self.test_accuracy.update(logits, target)
        self.log("test_loss", loss, batch_size=len(target))
        self.log("test_accuracy", self.test_accuracy, batch_size=len(target), metric_attribute="test_accuracy")

    def embed_step(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The penultimate layer: every layer of the network but the final classifier, ``[B, hidden]``."""
        return self.net[:-1](self._column(batch, self.input_column).float().flatten(1))

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        probabilities = torch.softmax(self(self._column(batch, self.input_column)), dim=-1)
        out: dict[str, Any] = {"prediction": probabilities.argmax(dim=-1), "probabilities": probabilities}
        if self.label_column in batch:
            out["target"] = self._column(batch, self.label_column).long()
        return out
