"""Validation of the experiment sections of a config: ``executor``, ``train``, ``test``, ``eval``.

The config loader validates ``meta`` and ``data_pipeline``; these sections belong to the experiment
stage and are checked here, declaratively, before any version folder is created or job queued.
Free-form sub-sections (``init_kwargs``, ``model_config``, ``trainer_paras``, ...) are only
type-checked: they go to user code and to Lightning unchanged.

>>> validate_sections({"train": {"data_node": "output:Split", "batch_size": 32}})
>>> validate_sections({"train": {"data_node": "output:Split", "batchsize": 32}})
Traceback (most recent call last):
...
runway_for_ml.errors.ConfigError: train.batchsize: unknown key (did you mean 'batch_size' or 'val_batch_size'?)
  hint: valid keys here: batch_size, data_node, ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runway_for_ml.config.schema import check_section
from runway_for_ml.errors import ConfigError, check_keys

__all__ = ["EXPERIMENT_SECTIONS", "data_source", "validate_sections"]

#: The sections this stage owns; their keys, types and ranges are the models of ``config.models.SECTION_MODELS``.
EXPERIMENT_SECTIONS = ("executor", "train", "test", "eval")
_SPLIT_REF_KEYS = ("node", "split")
_CHECKPOINT_PARAS_FORCED = ("dirpath",)


def validate_sections(config: Mapping[str, Any], source: str | None = None) -> None:
    """Raise :class:`ConfigError` at the first unknown key or wrong type in the experiment sections."""
    where = f"{source}: " if source else ""
    for section in EXPERIMENT_SECTIONS:
        value = config.get(section)
        if value is None:
            continue
        check_section(value, section, where=where)
        for split, ref in (value.get("splits") or {}).items():
            _check_split_ref(ref, f"{section}.splits.{split}", where)
    paras = (config.get("train") or {}).get("model_checkpoint_callback_paras") or {}
    for key in _CHECKPOINT_PARAS_FORCED:
        if key in paras:
            raise ConfigError(
                f"{where}train.model_checkpoint_callback_paras.{key}: runway sets it (checkpoints go to <version>/train/checkpoints/)",
                hint=f"remove '{key}'",
            )
    train = config.get("train") or {}
    if train and "data_node" not in train and "splits" not in train:
        raise ConfigError(
            f"{where}train: say where the training data comes from with 'data_node' (a pipeline node whose "
            "DatasetDict has train/validation/test splits) or 'splits' ({train: {node, split}, ...})",
            hint="e.g. train: { data_node: 'output:Normalised' }",
        )


def _check_split_ref(ref: Any, path: str, where: str) -> None:
    if isinstance(ref, str):
        return
    if not isinstance(ref, dict) or "node" not in ref:
        raise ConfigError(f"{where}{path}: expected a node name or {{node, split}}, found {ref!r}")
    check_keys(ref, _SPLIT_REF_KEYS, path, where=where)


def data_source(config: Mapping[str, Any], stage: str = "train") -> dict[str, dict[str, str | None]]:
    """Where each split of ``stage`` comes from: ``{"train": {"node": "output:X", "split": "train"}, ...}``.

    ``data_node: N`` means "the splits of N's DatasetDict" and is returned as ``{"*": {"node": N, "split": None}}``.
    The test stage falls back to the train section's source.

    >>> data_source({"train": {"data_node": "output:Split"}})
    {'*': {'node': 'output:Split', 'split': None}}
    """
    section = config.get(stage) or {}
    if stage != "train" and "data_node" not in section and "splits" not in section:
        section = config.get("train") or {}
    if "splits" in section:
        out = {}
        for split, ref in section["splits"].items():
            out[split] = (
                {"node": ref, "split": None}
                if isinstance(ref, str)
                else {"node": ref["node"], "split": ref.get("split")}
            )
        return out
    if "data_node" in section:
        return {"*": {"node": section["data_node"], "split": None}}
    raise ConfigError(
        f"{stage}.data_node is missing: the experiment does not say which pipeline node feeds the executor",
        hint="e.g. train: { data_node: 'output:Normalised' }",
    )
