"""Project metrics: ``(predictions, targets, **kwargs) -> value`` functions named in ``eval.metrics``.

Use one in a config with ``eval: { metrics: [{ name: 'error_count' }] }``.
"""

from __future__ import annotations

from runway_for_ml import register_metric


@register_metric
def error_count(predictions: list, targets: list) -> int:
    """How many samples were misclassified (easier to read than 1 - accuracy on small test sets)."""
    return sum(int(p != t) for p, t in zip(predictions, targets, strict=False))
