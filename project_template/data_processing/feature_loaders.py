"""Feature helpers shared by the project's transforms.

>>> mean, std = column_mean_std(dataset["train"], "pixels")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np


def column_mean_std(dataset: Any, column: str, min_std: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation of a list-of-floats column of a ``datasets.Dataset``.

    ``min_std`` floors the deviation: a pixel that is (almost) always blank in the training split must
    not turn a rare non-blank test pixel into a huge value.
    """
    values = np.asarray(dataset.with_format("numpy")[column], dtype=np.float32)
    return values.mean(axis=0), np.maximum(values.std(axis=0), min_std)
