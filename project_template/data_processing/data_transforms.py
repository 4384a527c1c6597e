"""Project data transforms.

A transform is a functor: ``setup`` takes the node's ``setup_kwargs``, ``_call`` does the work.
Registered transforms can be named in a config's ``transform_name``; their outputs are cached by
content, and editing this file invalidates exactly the nodes that use the changed transform.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from data_processing.feature_loaders import column_mean_std

from runway_for_ml import HFDatasetTransform, register_transform_functor


@register_transform_functor
class StandardizeColumn(HFDatasetTransform):
    """Standardise a list-of-floats column to zero mean / unit variance using one split's statistics.

    Input and output: a ``DatasetDict``. The statistics come from ``fit_split`` only (no test leakage)
    and are applied to every split.

    setup_kwargs:
        column: the column to standardise (e.g. ``pixels``).
        fit_split: the split whose statistics are used (default ``train``).
    """

    # The cache key covers this class and the project code it calls (column_mean_std in
    # feature_loaders.py included): editing either re-runs this node. Set VERSION = "1" to manage it by hand.

    def setup(self, column: str, fit_split: str = "train") -> None:
        self.column = column
        self.fit_split = fit_split

    def _check_input(self, data: Any) -> None:
        if self.fit_split not in data:
            raise KeyError(f"fit_split '{self.fit_split}' is not a split of the input (splits: {list(data)})")

    def fit_examples(self, data: Any) -> None:
        """Learn the statistics from the input's ``fit_split`` (``runway serve`` calls it once, too)."""
        self.mean, self.std = column_mean_std(data[self.fit_split], self.column)

    def transform_examples(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Standardise a batch of rows (a dict of columns); ``runway serve`` applies it to each request."""
        values = np.asarray(batch[self.column], dtype=np.float32)
        return {self.column: (values - self.mean) / self.std}

    def _call(self, data: Any) -> Any:
        # Training and serving share these two methods, so a served example is scaled exactly as the
        # training data was.
        self.fit_examples(data)
        return data.map(self.transform_examples, batched=True)
