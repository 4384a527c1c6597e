"""``RunwayDataModule``: the data of a run, apart from the model.

A ``LightningDataModule`` built by the experiment layer (training, ``runway-infer``,
:class:`Experiment`, ``runway embed``, ``PredictWithExperiment``). It owns what the executor used to:

- the splits (``{split: dataset}``, loaded from the pipeline, or lazily at inference: :class:`LazySplits`),
  with the usual aliases (``val`` / ``valid`` / ``dev`` for ``validation``);
- the batch sizes from the typed config: ``train.batch_size`` (training), ``train.val_batch_size``
  (validation), ``test.batch_size`` (test and predict); ``train.dataloader_workers``;
- the sampler (a permutation per ``(meta.seed, epoch)``, so a resumed run sees the same order);
- the collate function (the executor's ``collate_fn`` hook, else ``default_collate``);
- the tokenizer: found through the pipeline graph (:meth:`PipelineGraph.upstream` by transform class)
  and given to the executor when it takes one (the text executors).

>>> dm, keys = build_datamodule(config, project_root, stage="train")   # doctest: +SKIP
>>> executor = build_executor(config, dm.splits, tokenizer=dm.tokenizer)  # doctest: +SKIP
>>> dm.collate_fn = executor.collate_fn                                # doctest: +SKIP
>>> trainer.fit(executor, datamodule=dm)                               # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Sampler

from runway_for_ml.config.schema import RunwayConfig, typed_config
from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean
from runway_for_ml.executors.base import default_collate
from runway_for_ml.experiment.data import load_splits, pipeline_for
from runway_for_ml.experiment.sections import data_source
from runway_for_ml.pipeline.graph import PipelineGraph
from runway_for_ml.pipeline.tokenize import HFDatasetTokenizeTransform, load_tokenizer

__all__ = [
    "EpochSeededSampler",
    "LazySplits",
    "RunwayDataModule",
    "build_datamodule",
    "find_tokenizer",
    "tokenizer_source",
]

# Other spellings of split names found in datasets, tried in order when a split is asked for.
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "validation": ("validation", "val", "valid", "dev"),
    "test": ("test",),
    "train": ("train",),
}


class EpochSeededSampler(Sampler[int]):
    """A random permutation that depends only on ``(seed, epoch)``.

    Lightning calls ``set_epoch`` before each epoch, so a run resumed from an epoch-end checkpoint
    visits the samples in the same order as an uninterrupted run would.
    """

    def __init__(self, length: int, seed: int) -> None:
        self.length = length
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())

    def __len__(self) -> int:
        return self.length


class LazySplits(Mapping):
    """The splits of a version's ``stage``, loaded from the (cached) pipeline on first use.

    At inference the executor and the data module get one, so a model that only predicts on given
    inputs never runs the pipeline.
    """

    def __init__(self, config: Any, project_root: Path | None, stage: str = "test") -> None:
        self._config = config
        self._project_root = project_root
        self._stage = stage
        self._splits: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._splits is None:
            self._splits, _ = load_splits(self._config, self._project_root, stage=self._stage)
        return self._splits

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    # Identity, not Mapping's item-by-item comparison: Lightning compares __init__ arguments with the
    # hyperparameters, and that must not run the pipeline.
    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__


class RunwayDataModule(pl.LightningDataModule):
    """Splits, batch sizes, sampler, collate and tokenizer of one run (see the module doc).

    Args:
        config: the resolved config (a dict or a ``ResolvedConfig``).
        splits: split name -> dataset (``datasets.Dataset`` or a sequence of row dicts); may be lazy.
        collate_fn: rows -> batch (default: the executor's ``collate_fn``, set after it is built).
        tokenizer: the tokenizer the executor reads its text with, if any.
    """

    def __init__(
        self,
        config: Any,
        splits: Mapping[str, Any] | None = None,
        *,
        collate_fn: Callable[[Sequence[Any]], Any] | None = None,
        tokenizer: Any = None,
    ) -> None:
        super().__init__()
        data = getattr(config, "data", config)
        self.config: Mapping[str, Any] = data
        self.typed: RunwayConfig = typed_config(data)
        self.splits: Mapping[str, Any] = splits if splits is not None else {}
        self.collate_fn: Callable[[Sequence[Any]], Any] = collate_fn or default_collate
        self.tokenizer = tokenizer
        self.seed: int = int(self.typed.meta.seed or 0)

    # ----------------------------------------------------------------- splits

    def has_split(self, split: str) -> bool:
        """Whether the data holds ``split`` (or one of its aliases, e.g. ``val`` for ``validation``)."""
        return self._split_key(split) is not None

    def _split_key(self, split: str) -> str | None:
        for candidate in SPLIT_ALIASES.get(split, (split,)):
            if candidate in self.splits:
                return candidate
        return None

    def get_split(self, split: str) -> Any:
        """The dataset of ``split``; a missing split is a :class:`RunwayError` listing the available ones."""
        key = self._split_key(split)
        if key is None:
            available = sorted(self.splits)
            raise RunwayError(
                f"the data has no '{split}' split{did_you_mean(split, available)}; "
                f"available splits: {', '.join(available) or 'none'}",
                hint="the splits come from the data pipeline's output node(s); check the split names it produces",
            )
        return self.splits[key]

    # ----------------------------------------------------------------- loaders

    def loader(self, split_or_dataset: Any, *, shuffle: bool = False, batch_size: int | None = None) -> DataLoader:
        """A DataLoader over a split (by name) or a dataset, with the configured batch size and workers.

        ``shuffle=True`` (training) uses ``train.batch_size`` and draws a fresh order each epoch from
        ``(meta.seed, epoch)``; otherwise rows stay in order with ``test.batch_size``.
        """
        dataset = self.get_split(split_or_dataset) if isinstance(split_or_dataset, str) else split_or_dataset
        if batch_size is None:
            batch_size = self.typed.train.batch_size if shuffle else self.typed.test.batch_size
        workers = self.typed.train.dataloader_workers
        return DataLoader(
            dataset,
            batch_size=int(batch_size),
            sampler=EpochSeededSampler(len(dataset), self.seed) if shuffle else None,
            collate_fn=self.collate_fn,
            num_workers=workers,
            # The loader draws its workers' base seed from this generator instead of the global stream.
            generator=torch.Generator().manual_seed(self.seed),
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        # No validation split: an empty list makes Lightning skip validation instead of failing.
        if not self.has_split("validation"):
            return []
        return self.loader("validation", batch_size=self.typed.train.val_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")

    def predict_dataloader(self, split_or_dataset: Any = None, batch_size: int | None = None) -> DataLoader:
        """In-order loader for prediction over a split or a dataset (default: ``test.split``), ``test.batch_size``."""
        if split_or_dataset is None:
            split_or_dataset = self.typed.test.split or "test"
        return self.loader(split_or_dataset, batch_size=batch_size)


# --------------------------------------------------------------------- tokenizer discovery


def tokenizer_source(config: Mapping[str, Any], graph: PipelineGraph | None = None) -> tuple[str, Any] | None:
    """``("node", node_id)``, ``("config", tokenizer_config)`` or ``None``: where the executor's tokenizer is.

    First match wins: ``executor.model_config.tokenizer_node``; ``model_config.tokenizer_config``; the
    nearest ``HFDatasetTokenizeTransform`` node (or subclass) upstream of the training data, by the
    pipeline graph: its tokenizer input (``input_node: [data, tokenizer]``) or its ``tokenizer_config``;
    ``model_config.model_version`` (a pretrained model's own tokenizer).
    """
    mc = (config.get("executor") or {}).get("model_config") or {}
    if mc.get("tokenizer_node"):
        return ("node", mc["tokenizer_node"])
    if mc.get("tokenizer_config"):
        tc = mc["tokenizer_config"]
        return ("config", {"version_name": tc} if isinstance(tc, str) else dict(tc))
    if graph is None:
        graph = PipelineGraph.from_config(config.get("data_pipeline"))
    starts = [ref["node"] for ref in data_source(config, "train").values() if ref["node"] in graph.nodes]
    for spec in graph.upstream(starts, HFDatasetTokenizeTransform):
        if len(spec.inputs) > 1:
            return ("node", spec.inputs[1])
        tc = spec.setup_kwargs.get("tokenizer_config")
        if tc:
            return ("config", dict(tc))
    if mc.get("model_version") and not mc.get("train_from_scratch"):
        return ("config", {"version_name": mc["model_version"]})
    return None


def find_tokenizer(config: Any, project_root: Path | None, pipeline: Any = None) -> Any:
    """The tokenizer of :func:`tokenizer_source`, loaded; a node's output comes from ``pipeline`` (its cache)."""
    data = getattr(config, "data", config)
    pipeline = pipeline or pipeline_for(config, project_root)
    source = tokenizer_source(data, pipeline.graph)
    if source is None:
        return None
    kind, value = source
    if kind == "config":
        # The same loader as the tokenize node, so ids, added tokens and padding match the data.
        return load_tokenizer(value, "executor.model_config.tokenizer_config")
    return _as_tokenizer(pipeline.get_data([value])[value], f"tokenizer node '{value}'")


def _as_tokenizer(value: Any, where: str) -> Any:
    from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

    if isinstance(value, PreTrainedTokenizerBase):
        return value
    if isinstance(value, (str, os.PathLike)) and Path(value).is_dir():
        return AutoTokenizer.from_pretrained(str(value))
    if type(value).__module__.startswith("tokenizers"):
        return PreTrainedTokenizerFast(tokenizer_object=value)
    raise ConfigError(
        f"{where} produced a {type(value).__name__}, not a tokenizer",
        hint="name the node whose output is a tokenizer (e.g. a TrainTokenizer node)",
    )


def build_datamodule(
    config: Any,
    project_root: Path | None,
    *,
    stage: str = "train",
    only: tuple[str, ...] | None = None,
    lazy: bool = False,
    tokenizer: bool = False,
) -> tuple[RunwayDataModule, dict[str, str]]:
    """The data module of ``stage`` and the cache keys of the nodes it read.

    ``lazy=True`` (a loaded model) reads nothing now: the splits load on first use and the keys are
    ``{}``. ``tokenizer=True`` (the executor takes one) finds the tokenizer through the pipeline graph.
    """
    if lazy:
        splits: Mapping[str, Any] = LazySplits(config, project_root, stage)
        keys: dict[str, str] = {}
    else:
        splits, keys = load_splits(config, project_root, stage=stage, only=only)
    found = find_tokenizer(config, project_root) if tokenizer else None
    return RunwayDataModule(config, splits, tokenizer=found), keys
