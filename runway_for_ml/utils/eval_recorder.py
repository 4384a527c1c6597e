"""The original ``runway_for_ml.utils.eval_recorder`` path: :class:`EvalRecorder` (now in ``runway_for_ml.metrics``).

>>> from runway_for_ml.utils.eval_recorder import EvalRecorder
>>> from runway_for_ml.metrics.recorder import EvalRecorder as Same
>>> EvalRecorder is Same
True
"""

from runway_for_ml.metrics.recorder import EvalRecorder

__all__ = ["EvalRecorder"]
