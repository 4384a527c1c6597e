"""Run a trained executor over a dataset in batches: its ``predict_step`` columns and ``embed_step`` vectors.

Used by ``PredictWithExperiment`` (``experiment.chaining``) and ``runway embed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.progress import PlainProgress


def run_model(
    model: Any,
    dataset: Any,
    outputs: Sequence[str],
    *,
    batch_size: int,
    where: str = "the executor",
    optional: Sequence[str] = (),
    progress_label: str | None = None,
) -> dict[str, Any]:
    """Call ``predict_step`` / ``embed_step`` over ``dataset`` in order; ``{output: array or list}``.

    ``embedding`` comes from ``embed_step``, everything else from ``predict_step``'s dict. The rows
    are batched by the executor's own ``collate_fn``, as in its prediction dataloader. A requested
    output the executor does not give is a :class:`RunwayError` listing what it does give; those in
    ``optional`` are left out of the answer instead. With ``progress_label``, plain progress lines
    (``[embed] 12/40 batch (30%) | ...``) go to stderr when it is not a terminal.
    """
    import torch
    from torch.utils.data import DataLoader

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    want_embedding = "embedding" in outputs
    from_predict = [o for o in outputs if o != "embedding"]
    parts: dict[str, list[Any]] = {o: [] for o in outputs}
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=model.collate_fn, num_workers=0)
    progress = PlainProgress(
        progress_label or "model", total=len(loader), unit="batch", enabled=None if progress_label else False
    )
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for index, batch in enumerate(loader):
                if device.type != "cpu":
                    batch = model.transfer_batch_to_device(batch, device, 0)
                rows = _batch_rows(batch)
                if from_predict:
                    out = model.predict_step(batch, index)
                    if index == 0:
                        if isinstance(out, Mapping):
                            from_predict = [o for o in from_predict if o in out or o not in optional]
                        _check_outputs(out, from_predict, where)
                        for name in set(parts) - {*from_predict, "embedding"}:
                            del parts[name]
                    for name in from_predict:
                        parts[name].append(_host(out[name]))
                if want_embedding:
                    parts["embedding"].append(_embedding(model, batch, rows, where))
                progress.update(1)
        progress.close()
    finally:
        model.train(was_training)
    return {name: _concat(chunks) for name, chunks in parts.items()}


def _batch_rows(batch: Any) -> int | None:
    if isinstance(batch, Mapping):
        for value in batch.values():
            try:
                return len(value)
            except TypeError:
                continue
    return None


def _check_outputs(out: Any, wanted: Sequence[str], where: str) -> None:
    if not isinstance(out, Mapping):
        raise RunwayError(
            f"{where}: predict_step returned a {type(out).__name__}, not a dict of per-row columns",
            hint="return e.g. {'prediction': ..., 'probabilities': ...} from predict_step",
        )
    for name in wanted:
        if name not in out:
            given = sorted([*map(str, out), "embedding"])
            raise RunwayError(
                f"outputs: {where} does not produce '{name}'{did_you_mean(name, given)}; "
                f"it produces: {', '.join(given)}",
                hint="pick outputs among those, or add the column to the executor's predict_step",
            )


def _embedding(model: Any, batch: Any, rows: int | None, where: str) -> Any:
    import torch

    vectors = model.embed_step(batch)
    if not isinstance(vectors, torch.Tensor) or vectors.ndim != 2 or (rows is not None and len(vectors) != rows):
        shape = tuple(vectors.shape) if isinstance(vectors, torch.Tensor) else type(vectors).__name__
        raise RunwayError(
            f"{where}: embed_step must return a [batch, dim] tensor with one row per sample, got {shape}",
            hint="flatten or pool the vectors in embed_step",
        )
    return vectors.detach().float().cpu().numpy()


def _host(value: Any) -> Any:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
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
