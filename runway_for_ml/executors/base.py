"""``BaseExecutor``: the LightningModule every runway executor derives from.

An executor receives the whole resolved config and the pipeline's output splits, builds its own
dataloaders (``train.batch_size``, ``train.dataloader_workers``, ``test.batch_size``) and its
optimizer and schedule (``train.optimizer_config``). Users override the Lightning steps::

    @register_executor
    class MyExecutor(BaseExecutor):
        def __init__(self, config, data=None, model_config=None, **init_kwargs):
            super().__init__(config, data, model_config, **init_kwargs)
            self.net = torch.nn.Linear(self.model_config["input_dim"], 10)

        def training_step(self, batch, batch_idx):
            loss = torch.nn.functional.cross_entropy(self.net(batch["x"]), batch["y"])
            self.log("train_loss", loss)
            return loss

        def predict_step(self, batch, batch_idx):
            return {"prediction": self.net(batch["x"]).argmax(-1), "target": batch["y"]}

It is chosen by ``executor.ExecutorClass`` (a registered name or a dotted path) and built with
``executor.model_config`` and ``executor.init_kwargs`` by :func:`build_executor`.

Inference contract: ``predict_step`` returns a dict of per-sample columns (lists or tensors whose
first dimension is the batch), at least ``prediction`` and, when labels exist, ``target``; the runner
calls ``trainer.predict(executor, dataloaders=executor.predict_dataloader(split))`` and gives each
batch's dict to ``EvalRecorder.add_batch``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Sampler

from runway_for_ml.config.schema import RunwayConfig, typed_config
from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean
from runway_for_ml.executors.optim import build_optimizer, build_scheduler
from runway_for_ml.registry import Registry

__all__ = ["EXECUTORS", "BaseExecutor", "build_executor", "default_collate", "get_executor_class", "register_executor"]

EXECUTORS: Registry[type[pl.LightningModule]] = Registry("executor", base=pl.LightningModule)

# Other spellings of split names found in datasets, tried in order when a split is asked for.
_SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "validation": ("validation", "val", "valid", "dev"),
    "test": ("test",),
    "train": ("train",),
}


def register_executor(cls: type[pl.LightningModule] | None = None, *, name: str | None = None) -> Any:
    """Register an executor class under its class name (or ``name=``); use as ``@register_executor``.

    >>> @register_executor
    ... class DocExecutor(BaseExecutor): ...
    >>> get_executor_class("DocExecutor") is DocExecutor
    True
    """
    return EXECUTORS.register(cls, name=name) if cls is not None else EXECUTORS.register(name=name)


def get_executor_class(name: str) -> type[pl.LightningModule]:
    """Return the executor class registered as ``name`` or importable from the dotted path ``name``."""
    return EXECUTORS.get(name, where="executor.ExecutorClass")


def build_executor(config: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> pl.LightningModule:
    """Instantiate ``executor.ExecutorClass`` with the config, the data splits, ``model_config`` and ``init_kwargs``.

    >>> ex = build_executor({"executor": {"ExecutorClass": "ClassificationExecutor",
    ...                                   "model_config": {"input_dim": 4, "num_classes": 2}}})
    """
    section = dict(config.get("executor") or {})
    name = section.get("ExecutorClass")
    if not name:
        raise ConfigError(
            "executor.ExecutorClass is missing",
            hint="set executor.ExecutorClass to a registered executor name, e.g. 'ClassificationExecutor'",
        )
    cls = get_executor_class(str(name))
    init_kwargs = dict(section.get("init_kwargs") or {})
    try:
        return cls(
            dict(config),
            data=dict(data) if data is not None else None,
            model_config=section.get("model_config"),
            **init_kwargs,
        )
    except TypeError as exc:
        raise ConfigError(f"cannot build executor {name} with executor.init_kwargs={init_kwargs}: {exc}") from exc


def default_collate(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Turn a list of row dicts into a dict of columns: numbers and equal-shape lists become tensors.

    Columns that cannot be stacked (strings, ragged lists, None) stay Python lists.

    >>> default_collate([{"x": [1.0, 2.0], "y": 0, "s": "a"}, {"x": [3.0, 4.0], "y": 1, "s": "b"}])["x"].shape
    torch.Size([2, 2])
    """
    if not rows:
        return {}
    if not isinstance(rows[0], Mapping):
        return torch.utils.data.default_collate(list(rows))
    batch: dict[str, Any] = {}
    for key in rows[0]:
        values = [row[key] for row in rows]
        batch[key] = _stack(values)
    return batch


def _stack(values: list[Any]) -> Any:
    first = values[0]
    if isinstance(first, torch.Tensor):
        try:
            return torch.stack(values)
        except RuntimeError:
            return values
    if isinstance(first, (str, bytes)) or first is None:
        return values
    try:
        array = np.asarray(values)
    except ValueError:  # ragged nested lists
        return values
    if array.dtype.kind not in "biuf":
        return values
    if array.dtype == np.float64:
        # Models are float32 by default; datasets store Python floats as float64.
        array = array.astype(np.float32)
    return torch.from_numpy(array)


class _EpochSeededSampler(Sampler[int]):
    """A random permutation that depends only on ``(seed, epoch)``.

    Lightning calls ``set_epoch`` before each epoch, so a run resumed from an epoch-end checkpoint
    visits the samples in the same order as an uninterrupted run would.
    """

    def __init__(self, length: int, seed: int) -> None:
        self.length = length
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())

    def __len__(self) -> int:
        return self.length


class BaseExecutor(pl.LightningModule):
    """A LightningModule configured from the resolved runway config.

    Args:
        config: the whole resolved config (sections ``meta``, ``data_pipeline``, ``executor``,
            ``train``, ``test``, ``eval``).
        data: split name (``"train"``, ``"validation"``, ``"test"``, ...) -> dataset (a
            ``datasets.Dataset`` or any sequence of row dicts). May be ``None`` when only loading weights.
        model_config: ``executor.model_config`` (defaults to the one in ``config``).
        init_kwargs: ``executor.init_kwargs``, kept in ``self.init_kwargs``.

    Attributes:
        reseed_each_step: re-seed torch/numpy/random from ``(meta.seed, epoch, batch_idx)`` before every
            training batch, so that a run resumed from a checkpoint draws the same dropout masks as an
            uninterrupted one. Set to ``False`` in a subclass to keep one global random stream. (A subclass
            overriding ``on_train_batch_start`` calls ``super().on_train_batch_start(batch, batch_idx)``.)
    """

    reseed_each_step: bool = True

    def __init__(
        self,
        config: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
        model_config: Mapping[str, Any] | None = None,
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(config)
        self.data: dict[str, Any] = dict(data or {})
        if model_config is None:
            model_config = (self.config.get("executor") or {}).get("model_config")
        self.model_config: dict[str, Any] = dict(model_config or {})
        self.init_kwargs: dict[str, Any] = init_kwargs
        meta = self.config.get("meta") or {}
        self.seed: int = int(meta.get("seed", 0) if meta.get("seed") is not None else 0)
        # Saved into every checkpoint and sent to every logger (hparams.yaml, TensorBoard, W&B config);
        # the data splits are not hyperparameters. The layout matches __init__'s arguments, so
        # ``MyExecutor.load_from_checkpoint(path, data=...)`` rebuilds the same executor.
        self.save_hyperparameters({"config": self.config, "model_config": self.model_config, **init_kwargs})

    # ----------------------------------------------------------------- data

    @property
    def typed_config(self) -> RunwayConfig:
        """The typed config (``self.typed_config.train.val_batch_size``): defaults filled in, from ``config``."""
        return typed_config(self.config)

    @property
    def train_config(self) -> dict[str, Any]:
        """The ``train`` section of the config."""
        return dict(self.config.get("train") or {})

    @property
    def test_config(self) -> dict[str, Any]:
        """The ``test`` section of the config."""
        return dict(self.config.get("test") or {})

    def has_split(self, split: str) -> bool:
        """Whether ``data`` holds ``split`` (or one of its aliases, e.g. ``val`` for ``validation``)."""
        return self._split_key(split) is not None

    def _split_key(self, split: str) -> str | None:
        for candidate in _SPLIT_ALIASES.get(split, (split,)):
            if candidate in self.data:
                return candidate
        return None

    def get_split(self, split: str) -> Any:
        """The dataset of ``split``; a missing split is a :class:`RunwayError` listing the available ones."""
        key = self._split_key(split)
        if key is None:
            available = sorted(self.data)
            raise RunwayError(
                f"executor {type(self).__name__} has no '{split}' split{did_you_mean(split, available)}; "
                f"available splits: {', '.join(available) or 'none'}",
                hint="the splits come from the data pipeline's output node(s); check the split names it produces",
            )
        return self.data[key]

    def collate_fn(self, rows: Sequence[Any]) -> Any:
        """Turn a list of rows into a batch; override for custom batching (padding, tokenisation, ...)."""
        return default_collate(rows)

    def dataloader_for(self, split: str, shuffle: bool = False, batch_size: int | None = None) -> DataLoader:
        """A DataLoader over ``split`` with the configured batch size and workers.

        The shuffled training loader uses ``train.batch_size``; the validation loader
        ``train.val_batch_size``; the other evaluation loaders (``shuffle=False``: test, predict)
        ``test.batch_size`` (both default to ``train.batch_size``). ``shuffle=True`` draws a fresh
        order each epoch from ``(meta.seed, epoch)``.
        """
        dataset = self.get_split(split)
        typed = self.typed_config
        if batch_size is None:
            batch_size = typed.train.batch_size if shuffle else typed.test.batch_size
        workers = typed.train.dataloader_workers
        sampler = _EpochSeededSampler(len(dataset), self.seed) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=self.collate_fn,
            num_workers=workers,
            # The loader draws its workers' base seed from this generator instead of the global stream.
            generator=torch.Generator().manual_seed(self.seed),
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.dataloader_for("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        # No validation split: an empty list makes Lightning skip validation instead of failing.
        if not self.has_split("validation"):
            return []
        return self.dataloader_for("validation", batch_size=self.typed_config.train.val_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self.dataloader_for("test")

    def predict_dataloader(self, split: str = "test") -> DataLoader:
        """The dataloader used for inference on ``split`` (Lightning calls it without arguments: ``test``)."""
        return self.dataloader_for(split)

    # ------------------------------------------------------------ training

    def configure_optimizers(self) -> Any:
        """Optimizer and per-step schedule from ``train.optimizer_config`` (see ``executors/optim.py``)."""
        optimizer_config = self.train_config.get("optimizer_config") or {}
        optimizer = build_optimizer([p for p in self.parameters() if p.requires_grad], optimizer_config)
        total = None
        if self._trainer is not None:
            estimated = self.trainer.estimated_stepping_batches
            total = int(estimated) if np.isfinite(estimated) else None
        scheduler = build_scheduler(optimizer, optimizer_config, total_steps=total)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Seeding from (seed, epoch, batch) makes dropout and other random draws of a step independent of
        # what ran before it in the process, so a resumed run repeats the uninterrupted one exactly.
        if self.reseed_each_step:
            step_seed = ((self.seed * 1_000_003 + self.current_epoch) * 1_000_033 + batch_idx) % (2**32)
            random.seed(step_seed)
            np.random.seed(step_seed)
            # Not torch.manual_seed: on every call it also queues lazy seeding of CUDA/XPU/MTIA, each
            # capturing a formatted stack trace; per step that costs more than a small model's step.
            torch.default_generator.manual_seed(step_seed)
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.manual_seed_all(step_seed)

    # ------------------------------------------------------------ embeddings

    def embed_step(self, batch: Any) -> torch.Tensor:
        """One vector per sample, ``[B, D]``: what ``runway embed`` plots and ``PredictWithExperiment`` adds.

        Default: the input of the model's last ``nn.Linear`` layer (the penultimate layer of a
        classifier), captured while ``predict_step`` runs. Override it for other models, e.g. the
        pooled last hidden state of a transformers encoder or the output of a seq2seq encoder::

            def embed_step(self, batch):
                hidden = self.model(**batch["inputs"]).last_hidden_state        # [B, T, H]
                mask = batch["inputs"]["attention_mask"].unsqueeze(-1)
                return (hidden * mask).sum(1) / mask.sum(1)
        """
        last = None
        for module in self.modules():
            if isinstance(module, torch.nn.Linear):
                last = module
        if last is None:
            raise RunwayError(
                f"executor {type(self).__name__} has no nn.Linear layer to take embeddings from",
                hint="override embed_step(self, batch) to return a [batch, dim] tensor",
            )
        captured: list[torch.Tensor] = []
        handle = last.register_forward_pre_hook(lambda _module, args: captured.append(args[0]))
        try:
            self.predict_step(batch, 0)
        finally:
            handle.remove()
        if not captured:
            raise RunwayError(
                f"executor {type(self).__name__}: predict_step did not run its last nn.Linear layer",
                hint="override embed_step(self, batch) to return a [batch, dim] tensor",
            )
        # The first call in the batch: a layer reused inside one step is not a penultimate layer.
        return captured[0].flatten(1)

    # ------------------------------------------------------------ serving

    def serve_step(self, inputs: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
        """Answer a batch of served examples: ``runway serve`` calls it with the batch's columns
        (``{"pixels": [row0, row1, ...]}``, the pipeline's per-example transforms already applied) and
        reads the returned per-sample columns (e.g. ``prediction``, ``probabilities``) into the
        outputs of the config's ``serve:`` section.

        Default: the rows go through ``collate_fn`` and ``predict_step`` on the model's device without
        gradients, as ``runway-infer`` runs them. Override it when serving differs from inference.
        """
        names = list(inputs)
        size = len(inputs[names[0]]) if names else 0
        rows = [{name: inputs[name][i] for name in names} for i in range(size)]
        batch = self.collate_fn(rows)
        batch = self.transfer_batch_to_device(batch, self.device, 0)
        with torch.inference_mode():
            return self.predict_step(batch, 0)

    def log_metrics(self, metrics: Mapping[str, Any], prefix: str = "", **log_kwargs: Any) -> None:
        """``self.log`` every scalar in ``metrics`` (per-class lists become ``name_0``, ``name_1``, ...).

        Useful for validation-time metrics computed with the metric registry, e.g.
        ``self.log_metrics(compute_metric("f1", preds, targets), prefix="val_")``.
        """
        for name, value in _flatten_scalars(metrics, prefix):
            self.log(name, value, **log_kwargs)


def _flatten_scalars(metrics: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, float]]:
    for name, value in metrics.items():
        if isinstance(value, torch.Tensor):
            value = value.tolist()
        if isinstance(value, Mapping):
            yield from _flatten_scalars(value, f"{prefix}{name}_")
        elif isinstance(value, (list, tuple)):
            if all(isinstance(v, (int, float)) for v in value):
                for i, v in enumerate(value):
                    yield f"{prefix}{name}_{i}", float(v)
        elif isinstance(value, (int, float, np.number)):
            yield f"{prefix}{name}", float(value)
