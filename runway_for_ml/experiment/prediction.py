"""A trained model and its data, ready to predict: what ``runway-infer``, ``Experiment``, chaining,
``runway embed`` and ``runway serve`` load, and the rows they predict.

:func:`load_for_prediction` builds the executor of a config with a checkpoint's weights and the data
module that feeds it (splits loaded lazily, tokenizer found through the pipeline graph);
:func:`predict_rows` runs the one prediction function (``executors/prediction.py``) over a split or a
dataset and returns an :class:`EvalRecorder` (``model_outputs.run_model`` collects named output columns).

>>> model = load_for_prediction(config, project_root, "best.ckpt")   # doctest: +SKIP
>>> predict_rows(model, "test").rows[0]                             # doctest: +SKIP
{'index': 0, 'prediction': 3, 'target': 3}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runway_for_ml.experiment.checks import prepare_executor_class
from runway_for_ml.experiment.process import quiet_lightning
from runway_for_ml.metrics import EvalRecorder

__all__ = ["LoadedModel", "load_for_prediction", "predict_rows"]


@dataclass
class LoadedModel:
    """An executor (in eval mode, on its device) and the data module that feeds it."""

    executor: Any
    datamodule: Any


def load_for_prediction(
    config: Any,
    project_root: Path | None,
    checkpoint: str | Path,
    *,
    device: str | None = None,
    splits: Mapping[str, Any] | None = None,
) -> LoadedModel:
    """The executor of ``config`` with the weights of ``checkpoint``, and its data module.

    The project's code is imported, ``train.torch_num_threads`` applied and ``meta.seed`` set before
    the executor is built. The executor gets the training splits lazily (read only when it asks, e.g.
    for label names) and the tokenizer the data module finds. ``splits`` (e.g. the test split already
    loaded by ``runway-infer``) become the data module's; by default it loads the test stage lazily.
    ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``) moves the executor there; ``None``: the config's
    accelerator (``train.trainer_paras.accelerator``, GPU when there is one for ``auto``).
    """
    import torch

    # torch and Lightning: imported by the functions that run a model, not by `runway --help`
    from runway_for_ml.executors.base import build_executor, wants_tokenizer
    from runway_for_ml.executors.prediction import resolve_device
    from runway_for_ml.experiment.datamodule import LazySplits, RunwayDataModule, find_tokenizer

    data = getattr(config, "data", config)
    cls = prepare_executor_class(data, project_root)
    tokenizer = find_tokenizer(config, project_root) if wants_tokenizer(cls) else None
    executor = build_executor(data, LazySplits(config, project_root, "train"), tokenizer=tokenizer)
    # Only the weights are needed; loading them directly avoids Lightning restoring (and warning about)
    # the training callbacks' state.
    state = torch.load(str(checkpoint), map_location="cpu", weights_only=False)
    executor.load_state_dict(state["state_dict"])
    executor.eval()
    accelerator = ((data.get("train") or {}).get("trainer_paras") or {}).get("accelerator", "auto")
    executor.to(resolve_device(device, accelerator))
    datamodule = RunwayDataModule(
        data,
        splits if splits is not None else LazySplits(config, project_root, "test"),
        collate_fn=executor.collate_fn,
        tokenizer=tokenizer,
    )
    return LoadedModel(executor, datamodule)


def predict_rows(
    model: LoadedModel,
    split_or_dataset: Any = "test",
    *,
    batch_size: int | None = None,
    stats: Mapping[str, Any] | None = None,
) -> Any:
    """``predict_step`` over a split (by name) or a dataset, in order; an :class:`EvalRecorder` of the rows.

    The prediction loop of ``runway-infer`` and :meth:`Experiment.predict`. A dataset (a
    ``datasets.Dataset`` or a list of row dicts, processed like the pipeline's output) is read through
    the data module's loader like a split. ``batch_size`` overrides ``test.batch_size`` for this call.
    An executor that still defines its own ``predict_dataloader`` (written before the data module)
    keeps it for split names.
    """
    from runway_for_ml.executors.prediction import predict_batches  # torch

    quiet_lightning()
    loader = _own_loader(model.executor, split_or_dataset, batch_size)
    if loader is None:
        loader = model.datamodule.predict_dataloader(split_or_dataset, batch_size=batch_size)
    paras = dict((model.datamodule.config.get("train") or {}).get("trainer_paras") or {})
    show = bool(paras.get("enable_progress_bar", True))
    recorder = EvalRecorder(stats=stats)
    predict_batches(
        model.executor,
        loader,
        on_batch=lambda out, _index: recorder.add_batch(out),
        precision=paras.get("precision"),
        progress_label="predict" if show else None,
    )
    return recorder


def _own_loader(executor: Any, split_or_dataset: Any, batch_size: int | None) -> Any:
    """The executor's own ``predict_dataloader(split)`` when it overrides Lightning's (older executors)."""
    import inspect

    import pytorch_lightning as pl
    from pytorch_lightning.utilities.model_helpers import is_overridden

    if not isinstance(split_or_dataset, str) or batch_size is not None:
        return None
    if not is_overridden("predict_dataloader", executor, pl.LightningModule):
        return None
    takes_split = "split" in inspect.signature(executor.predict_dataloader).parameters
    if takes_split:
        return executor.predict_dataloader(split_or_dataset)
    return executor.predict_dataloader() if split_or_dataset == "test" else None
