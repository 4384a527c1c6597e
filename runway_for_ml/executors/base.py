"""``BaseExecutor``: the LightningModule every runway executor derives from.

An executor is the model: a LightningModule built from the resolved config, with its optimizer and
schedule (``train.optimizer_config``). It does not own the data: the experiment layer's
``RunwayDataModule`` (``experiment/datamodule.py``) holds the splits, batch sizes, sampler and
tokenizer and batches rows with the executor's ``collate_fn`` hook. Users override the Lightning steps::

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
first dimension is the batch), at least ``prediction`` and, when labels exist, ``target``; the one
prediction function (``executors/prediction.py``: ``predict_batches``) runs it over the data module's
loader and ``runway-infer`` gives each batch's dict to ``EvalRecorder.add_batch``.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from runway_for_ml.config.schema import RunwayConfig, typed_config
from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.executors.optim import build_optimizer, build_scheduler
from runway_for_ml.executors.prediction import predict_batch
from runway_for_ml.registry import Registry

__all__ = [
    "EXECUTORS",
    "BaseExecutor",
    "build_executor",
    "default_collate",
    "get_executor_class",
    "register_executor",
    "wants_tokenizer",
]

EXECUTORS: Registry[type[pl.LightningModule]] = Registry("executor", base=pl.LightningModule)


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


def build_executor(
    config: Mapping[str, Any], data: Mapping[str, Any] | None = None, *, tokenizer: Any = None
) -> pl.LightningModule:
    """Instantiate ``executor.ExecutorClass`` with the config, the data splits, ``model_config`` and ``init_kwargs``.

    ``tokenizer`` (found by the experiment's data module) is given to executors whose ``__init__``
    takes a ``tokenizer`` argument (the text executors).

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
    if tokenizer is not None and wants_tokenizer(cls):
        init_kwargs["tokenizer"] = tokenizer
    try:
        return cls(
            dict(config),
            data=data,
            model_config=section.get("model_config"),
            **init_kwargs,
        )
    except TypeError as exc:
        raise ConfigError(f"cannot build executor {name} with executor.init_kwargs={init_kwargs}: {exc}") from exc


def wants_tokenizer(cls: type) -> bool:
    """Whether executor class ``cls`` takes a ``tokenizer`` argument (then the data module looks for one).

    An ``__init__`` taking ``**kwargs`` passes it on: its base classes' ``__init__`` are asked too.
    """
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return False
        if "tokenizer" in params:
            return True
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return False
    return False


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


class BaseExecutor(pl.LightningModule):
    """A LightningModule configured from the resolved runway config.

    Args:
        config: the whole resolved config (sections ``meta``, ``data_pipeline``, ``executor``,
            ``train``, ``test``, ``eval``).
        data: split name (``"train"``, ``"validation"``, ``"test"``, ...) -> dataset, for what the model
            needs to know about its data before it is built (e.g. label names); a lazy mapping at
            inference (nothing is loaded unless read). The loaders are the data module's. May be ``None``.
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
        # Kept as given: a lazy mapping (LazySplits) must not be loaded by copying it.
        self.data: Mapping[str, Any] = data if data is not None else {}
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

    # ----------------------------------------------------------------- config and batching

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

    def collate_fn(self, rows: Sequence[Any]) -> Any:
        """Turn a list of rows into a batch; override for custom batching (padding, tokenisation, ...).

        The data module's loaders (train, validation, test, predict) and ``serve_step`` batch with it.
        """
        return default_collate(rows)

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

        Default: the rows go through ``collate_fn`` and the one prediction function
        (``executors/prediction.py``: ``predict_batch``), as ``runway-infer`` runs them. Override it when serving differs from inference.
        """
        names = list(inputs)
        size = len(inputs[names[0]]) if names else 0
        rows = [{name: inputs[name][i] for name in names} for i in range(size)]
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                return predict_batch(self, self.collate_fn(rows))
        finally:
            self.train(was_training)

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
