"""The one prediction function: an executor's ``predict_step`` (and ``embed_step``) over batches.

``runway-infer``, :meth:`Experiment.predict`, ``PredictWithExperiment``, ``runway embed`` and the
default ``serve_step`` of ``runway serve`` all call :func:`predict_batches` (``predict_batch`` for
one batch): the model in eval mode on its device, no gradients, rows in the order given, the
executor's ``on_predict_start`` / ``on_predict_end`` hooks around the loop. The loaders come from the
experiment's data module (``experiment/datamodule.py``); nothing about the executor is changed for a
call and restored afterwards.

>>> outs = predict_batches(executor, loader, embed=True)  # doctest: +SKIP
>>> outs[0]["prediction"], outs[0]["embedding"].shape     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from runway_for_ml.errors import RunwayError
from runway_for_ml.progress import PlainProgress

__all__ = ["EMBEDDING", "autocast_for", "predict_batch", "predict_batches", "resolve_device"]

# The output name of embed_step's vectors in the dicts predict_batch returns.
EMBEDDING = "embedding"


def resolve_device(device: str | None, accelerator: str | None = "auto") -> torch.device:
    """The torch device to predict on: ``device`` when given, else from ``train.trainer_paras.accelerator``.

    ``auto`` / ``gpu`` / ``cuda`` take the GPU when there is one; anything else the CPU.
    """
    if device is not None:
        return torch.device(device)
    if str(accelerator or "auto") in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def autocast_for(precision: Any, device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision as Lightning's ``precision`` names it (``bf16-mixed``, ``16-mixed``); else nothing."""
    name = str(precision or "32-true")
    if name in ("bf16-mixed", "bf16"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if name in ("16-mixed", "16") and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def predict_batch(executor: Any, batch: Any, index: int = 0, *, embed: bool = False, predict: bool = True) -> dict:
    """``predict_step(batch, index)``'s dict (and ``embedding`` from ``embed_step`` when ``embed``) for one batch.

    The batch is moved to the executor's device; the caller holds ``torch.inference_mode`` and eval mode
    (:func:`predict_batches` does).
    """
    device = _device_of(executor)
    if device.type != "cpu":
        batch = executor.transfer_batch_to_device(batch, device, 0)
    out: dict[str, Any] = {}
    if predict:
        result = executor.predict_step(batch, index)
        if not isinstance(result, Mapping):
            raise RunwayError(
                f"executor {type(executor).__name__}: predict_step returned a {type(result).__name__}, "
                "not a dict of per-row columns",
                hint="return e.g. {'prediction': ..., 'target': ...} from predict_step",
            )
        out.update(result)
    if embed:
        out[EMBEDDING] = _embedding(executor, batch)
    return out


def predict_batches(
    executor: Any,
    batches: Iterable[Any],
    *,
    on_batch: Callable[[dict[str, Any], int], None] | None = None,
    embed: bool = False,
    predict: bool = True,
    precision: Any = None,
    progress_label: str | None = None,
) -> list[dict[str, Any]]:
    """:func:`predict_batch` for every batch of ``batches`` (a DataLoader), in order.

    ``on_batch(out, index)`` receives each batch's dict as it comes (then nothing is kept and ``[]`` is
    returned); without it the dicts are returned as a list. Eval mode and ``torch.inference_mode``
    for the loop (not a generator: neither leaks into the caller's code), the previous mode restored
    after it; ``precision`` (``train.trainer_paras.precision``) turns on autocast for mixed precision.
    With ``progress_label``, plain progress lines (``[predict] 12/40 batch (30%) | ...``) go to stderr
    when it is not a terminal.
    """
    total = len(batches) if hasattr(batches, "__len__") else None
    progress = PlainProgress(
        progress_label or "model", total=total, unit="batch", enabled=None if progress_label else False
    )
    collected: list[dict[str, Any]] = []
    was_training = executor.training
    executor.eval()
    executor.on_predict_start()
    try:
        with torch.inference_mode(), autocast_for(precision, _device_of(executor)):
            for index, batch in enumerate(batches):
                out = predict_batch(executor, batch, index, embed=embed, predict=predict)
                if on_batch is None:
                    collected.append(out)
                else:
                    on_batch(out, index)
                progress.update(1)
        progress.close()
        executor.on_predict_end()
    finally:
        executor.train(was_training)
    return collected


def _device_of(executor: Any) -> torch.device:
    return next((p.device for p in executor.parameters()), torch.device("cpu"))


def _embedding(executor: Any, batch: Any) -> Any:
    vectors = executor.embed_step(batch)
    rows = _batch_rows(batch)
    if not isinstance(vectors, torch.Tensor) or vectors.ndim != 2 or (rows is not None and len(vectors) != rows):
        shape = tuple(vectors.shape) if isinstance(vectors, torch.Tensor) else type(vectors).__name__
        raise RunwayError(
            f"executor {type(executor).__name__}: embed_step must return a [batch, dim] tensor with one row "
            f"per sample, got {shape}",
            hint="flatten or pool the vectors in embed_step",
        )
    return vectors


def _batch_rows(batch: Any) -> int | None:
    if isinstance(batch, Mapping):
        for value in batch.values():
            try:
                return len(value)
            except TypeError:
                continue
    return None
