"""A trained model's named outputs over a dataset: its ``predict_step`` columns and ``embed_step`` vectors.

Used by ``PredictWithExperiment`` (``experiment.chaining``) and ``runway embed``, through the one
prediction function (``executors/prediction.py``) and the model's data module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.experiment.prediction import LoadedModel

__all__ = ["run_model", "to_arrow"]


def run_model(
    model: LoadedModel,
    dataset: Any,
    outputs: Sequence[str],
    *,
    batch_size: int | None = None,
    where: str = "the executor",
    optional: Sequence[str] = (),
    progress_label: str | None = None,
) -> dict[str, Any]:
    """Named outputs of ``model`` over ``dataset`` in order: ``{output: array or list}``.

    ``embedding`` comes from ``embed_step``, everything else from ``predict_step``'s dict, through the
    one prediction function. A requested output the executor does not give is a :class:`RunwayError`
    listing what it does give; those in ``optional`` are left out of the answer instead.
    """
    from runway_for_ml.executors.prediction import EMBEDDING, predict_batches  # torch

    loader = model.datamodule.predict_dataloader(dataset, batch_size=batch_size)
    from_predict = [o for o in outputs if o != EMBEDDING]
    parts: dict[str, list[Any]] = {o: [] for o in outputs}

    def collect(out: dict[str, Any], index: int) -> None:
        nonlocal from_predict
        if index == 0 and from_predict:
            from_predict = [o for o in from_predict if o in out or o not in optional]
            _check_outputs(out, from_predict, where)
            for name in set(parts) - {*from_predict, EMBEDDING}:
                del parts[name]
        for name in parts:  # to the host batch by batch: the GPU holds one batch of outputs
            parts[name].append(_host(out[name], name == EMBEDDING))

    predict_batches(
        model.executor,
        loader,
        on_batch=collect,
        embed=EMBEDDING in outputs,
        predict=bool(from_predict),
        progress_label=progress_label,
    )
    return {name: _concat(chunks) for name, chunks in parts.items()}


def _check_outputs(out: Mapping[str, Any], wanted: Sequence[str], where: str) -> None:
    for name in wanted:
        if name not in out:
            given = sorted({*map(str, out), "embedding"})
            raise RunwayError(
                f"outputs: {where} does not produce '{name}'{did_you_mean(name, given)}; "
                f"it produces: {', '.join(given)}",
                hint="pick outputs among those, or add the column to the executor's predict_step",
            )


def _host(value: Any, as_float: bool = False) -> Any:
    if hasattr(value, "detach"):
        value = value.detach()
        return (value.float() if as_float else value).cpu().numpy()
    return list(value)


def _concat(chunks: list[Any]) -> Any:
    import numpy as np

    if chunks and all(isinstance(c, np.ndarray) for c in chunks):
        return np.concatenate(chunks)
    out: list[Any] = []
    for chunk in chunks:
        out.extend(chunk.tolist() if isinstance(chunk, np.ndarray) else chunk)
    return out


def to_arrow(values: Any) -> Any:
    """A column for ``Dataset.add_column``: a 2-D array becomes a list<float32> Arrow array without copies per row."""
    import numpy as np
    import pyarrow as pa

    if isinstance(values, np.ndarray):
        if values.ndim == 1:
            return pa.array(values)
        flat = values.reshape(len(values), -1)
        width = flat.shape[1]
        large = flat.size >= 2**31  # list offsets are int32
        offsets = np.arange(len(flat) + 1, dtype=np.int64 if large else np.int32) * width
        kind = pa.LargeListArray if large else pa.ListArray
        return kind.from_arrays(pa.array(offsets), pa.array(flat.ravel()))
    return values
