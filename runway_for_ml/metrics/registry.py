"""The metric registry and the built-in metrics (backed by ``torchmetrics.functional``).

A metric is a function ``(predictions: list, targets: list, **kwargs) -> float | dict | list`` or a
``torchmetrics.Metric`` class (built with ``kwargs``, updated once with all samples)::

    @register_metric
    def within_one(predictions, targets, **kwargs):
        return sum(abs(p - t) <= 1 for p, t in zip(predictions, targets)) / len(targets)

    @register_metric(name="spearman")
    class Spearman(torchmetrics.SpearmanCorrCoef): ...

Classification built-ins (``accuracy``, ``precision``, ``recall``, ``f1``, ``confusion_matrix``)
accept predicted labels or per-class scores, labels of any hashable type (mapped to class indices),
``average`` (``"micro"`` default for accuracy, ``"macro"`` for the others; ``None`` gives a per-class
list) and infer ``num_classes`` when it is absent.

>>> compute_metric("accuracy", [0, 1, 1, 2], [0, 1, 2, 2])
0.75
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from runway_for_ml.errors import RunwayError
from runway_for_ml.registry import Registry

__all__ = ["METRICS", "compute_metric", "get_metric", "register_metric", "to_python"]

_METRIC_HINT = "custom metrics are registered with @register_metric in the project's metrics/ package"
METRICS: Registry[Any] = Registry("metric", hint=_METRIC_HINT)


def register_metric(obj: Any = None, *, name: str | None = None) -> Any:
    """Register a metric function or ``torchmetrics.Metric`` class; use as ``@register_metric`` or with ``name=``."""
    return METRICS.register(obj, name=name) if obj is not None else METRICS.register(name=name)


def get_metric(name: str) -> Any:
    """The metric registered as ``name`` (or a dotted path); unknown names get a did-you-mean error."""
    return METRICS.get(name)


def compute_metric(name: str, predictions: Sequence[Any], targets: Sequence[Any], **kwargs: Any) -> Any:
    """Compute one metric and return plain Python values (float, list, dict).

    >>> compute_metric("f1", [0, 1, 1], [0, 1, 0], average="micro")
    0.6666667
    """
    metric = get_metric(name)
    if len(predictions) != len(targets):
        raise RunwayError(f"metric '{name}': {len(predictions)} predictions but {len(targets)} targets")
    if isinstance(metric, type):
        import torchmetrics

        if not issubclass(metric, torchmetrics.Metric):
            raise RunwayError(f"metric '{name}' is a class but not a torchmetrics.Metric: {metric!r}")
        instance = metric(**kwargs)
        instance.update(_tensor(predictions), _tensor(targets))
        result = instance.compute()
    else:
        result = metric(list(predictions), list(targets), **kwargs)
    return to_python(result)


def to_python(value: Any) -> Any:
    """Tensors / numpy values -> floats, ints and nested lists (JSON-ready)."""
    if hasattr(value, "detach"):  # a torch tensor (torch is imported only when a metric runs)
        value = value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype in (np.float32, np.float16):
        # Shortest decimal that round-trips the single-precision value: 0.6666667, not 0.6666666865348816.
        return _short_floats(value.tolist())
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_python(v) for v in value]
    return value


def _short_floats(value: Any) -> Any:
    if isinstance(value, list):
        return [_short_floats(v) for v in value]
    return float(str(np.float32(value)))


def _tensor(values: Sequence[Any]) -> Any:
    import torch

    if isinstance(values, torch.Tensor):
        return values
    if len(values) and isinstance(values[0], torch.Tensor):
        return torch.stack(list(values))
    return torch.as_tensor(np.asarray(values))


# ------------------------------------------------------------------ classification


def _class_inputs(predictions: Sequence[Any], targets: Sequence[Any], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """Predictions/targets as tensors of class indices (or scores), filling ``task`` and ``num_classes``."""
    import torch

    targets_array = np.asarray(targets)
    preds_array = np.asarray(predictions)
    if targets_array.dtype.kind not in "biu" or (preds_array.ndim == 1 and preds_array.dtype.kind not in "biu"):
        # Non-integer labels (strings, floats holding integers): index the sorted union of labels.
        if preds_array.ndim != 1:
            raise RunwayError("per-class scores need integer class-index targets")
        labels = _sorted_labels({*targets_array.tolist(), *preds_array.tolist()})
        index = {label: i for i, label in enumerate(labels)}
        targets_array = np.asarray([index[t] for t in targets_array.tolist()])
        preds_array = np.asarray([index[p] for p in preds_array.tolist()])
        kwargs.setdefault("num_classes", len(labels))
    task = kwargs.setdefault("task", "multiclass")
    if task == "multiclass" and "num_classes" not in kwargs:
        if preds_array.ndim == 2:
            kwargs["num_classes"] = preds_array.shape[1]
        else:
            kwargs["num_classes"] = int(max(preds_array.max(initial=0), targets_array.max(initial=0))) + 1
        kwargs["num_classes"] = max(2, kwargs["num_classes"])
    return torch.as_tensor(preds_array), torch.as_tensor(targets_array).long()


def _sorted_labels(labels: set[Any]) -> list[Any]:
    try:
        return sorted(labels)
    except TypeError:  # mixed types
        return sorted(labels, key=str)


def _classification(fn_name: str, default_average: str | None) -> Callable[..., Any]:
    def metric(predictions: list, targets: list, **kwargs: Any) -> Any:
        import torchmetrics.functional as F

        kwargs = dict(kwargs)
        preds, target = _class_inputs(predictions, targets, kwargs)
        if default_average is not None:
            kwargs.setdefault("average", default_average)
        return getattr(F, fn_name)(preds, target, **kwargs)

    metric.__name__ = fn_name
    metric.__doc__ = f"torchmetrics.functional.{fn_name} on class labels or scores (task/num_classes inferred)."
    return metric


register_metric(_classification("accuracy", "micro"), name="accuracy")
register_metric(_classification("precision", "macro"), name="precision")
register_metric(_classification("recall", "macro"), name="recall")
register_metric(_classification("f1_score", "macro"), name="f1")
register_metric(_classification("confusion_matrix", None), name="confusion_matrix")


# ---------------------------------------------------------------------- regression


def _regression(fn_name: str) -> Callable[..., Any]:
    def metric(predictions: list, targets: list, **kwargs: Any) -> Any:
        import torchmetrics.functional as F

        return getattr(F, fn_name)(_tensor(predictions).double(), _tensor(targets).double(), **kwargs)

    metric.__name__ = fn_name
    metric.__doc__ = f"torchmetrics.functional.{fn_name} on numeric predictions and targets."
    return metric


register_metric(_regression("mean_squared_error"), name="mse")
register_metric(_regression("mean_absolute_error"), name="mae")
register_metric(_regression("r2_score"), name="r2")


@register_metric(name="rmse")
def _rmse(predictions: list, targets: list, **kwargs: Any) -> float:
    """Root mean squared error."""
    return math.sqrt(float(METRICS.get("mse")(predictions, targets, **kwargs)))


# ---------------------------------------------------------------------------- text


@register_metric(name="exact_match")
def _exact_match(predictions: list, targets: list, strip: bool = True, lowercase: bool = False) -> float:
    """Fraction of samples whose prediction equals the target (compared as strings)."""

    def norm(value: Any) -> str:
        text = str(value).strip() if strip else str(value)
        return text.lower() if lowercase else text

    if not targets:
        return 0.0
    return sum(norm(p) == norm(t) for p, t in zip(predictions, targets, strict=True)) / len(targets)


# bleu, chrf and rouge (sacreBLEU / ROUGE-1/2/L): metrics/text.py


@register_metric(name="wer")
def _wer(predictions: list, targets: list) -> Any:
    """Word error rate (torchmetrics ``word_error_rate``)."""
    from torchmetrics.functional.text import word_error_rate

    return word_error_rate([str(p) for p in predictions], [str(t) for t in targets])
