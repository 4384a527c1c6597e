"""Metrics: the metric registry, the eval recorder and evaluation.

>>> from runway_for_ml.metrics import EvalRecorder, compute_metrics
>>> rec = EvalRecorder([{"prediction": 2, "target": 2}, {"prediction": 1, "target": 0}])
>>> compute_metrics(rec, [{"name": "accuracy"}, {"name": "f1", "kwargs": {"average": "macro"}}])["accuracy"]
0.5
"""

from runway_for_ml.metrics.evaluate import (
    compute_metrics,
    evaluate,
    normalize_metric_specs,
    save_confusion_matrix_png,
    save_metrics,
)
from runway_for_ml.metrics.recorder import EvalRecorder
from runway_for_ml.metrics.registry import METRICS, compute_metric, get_metric, register_metric
from runway_for_ml.metrics.text import rouge_scores  # registers bleu, chrf, rouge

__all__ = [
    "METRICS",
    "EvalRecorder",
    "compute_metric",
    "compute_metrics",
    "evaluate",
    "get_metric",
    "normalize_metric_specs",
    "register_metric",
    "rouge_scores",
    "save_confusion_matrix_png",
    "save_metrics",
]
