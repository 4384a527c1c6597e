"""Trained experiments as pipeline building blocks: the built-in transform ``PredictWithExperiment``.

A node of one experiment's data pipeline runs another, already trained, experiment's model over its
input and adds the model's outputs as columns: pseudo-labels, distillation targets, stacking,
features from an encoder for a second model::

    'process:Digits_V0_Embeddings': {
      input_node: 'output:Normalised',
      transform_name: 'PredictWithExperiment',
      setup_kwargs: { experiment: 'digits', checkpoint: 'best', outputs: ['embedding', 'prediction'] },
    },

The node's cache key holds the resolved version (``digits`` means its latest completed version), the
checkpoint's content hash and a hash of that version's resolved config, so retraining, switching
checkpoints or a newer version make the node stale, and ``runway dag`` says why. The consuming
version's manifest lists what it consumed (:func:`consumed_experiments`).

``pipeline/`` sits below ``experiment/``: the pipeline's transform registry names this class with a
lazy entry (its dotted path), imported only when a config uses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.config.schema import typed_config
from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.experiment.consumed import check_no_cycle, checkpoint_sha256, is_this_transform
from runway_for_ml.experiment.experiment import Experiment
from runway_for_ml.experiment.manifest import update_manifest
from runway_for_ml.experiment.model_outputs import run_model, to_arrow
from runway_for_ml.experiment.names import require_project_root
from runway_for_ml.pipeline.datatypes import is_dataset, is_dataset_dict
from runway_for_ml.pipeline.transform import BaseTransform, register_transform_functor

__all__ = [
    "BUILTIN_OUTPUTS",
    "PredictWithExperiment",
    "checkpoint_sha256",
    "consumed_experiments",
    "record_consumed",
    "run_model",
    "to_arrow",
]

# Outputs every executor can give: predict_step's prediction / probabilities, embed_step's vectors.
# Any other name must be a column that the executor's predict_step returns.
BUILTIN_OUTPUTS = ("prediction", "probabilities", "embedding")


@register_transform_functor
class PredictWithExperiment(BaseTransform):
    """Add a trained experiment's outputs (prediction, probabilities, embedding, ...) as columns.

    Input and output: a ``Dataset`` or ``DatasetDict`` processed like the consumed experiment's own
    data (same input columns). The model is loaded once per run and mapped over every split, on the
    GPU when there is one.

    setup_kwargs:
        experiment: a version (``digits_V0``) or an experiment name (its latest completed version).
        checkpoint: ``best`` (default) or ``last``.
        outputs: list of output names (``prediction``, ``probabilities``, ``embedding``, or any column
            the executor's ``predict_step`` returns), or a mapping ``{output: new_column_name}``.
        batch_size: rows per model call (default: the experiment's ``test.batch_size``).
        splits: the splits of a DatasetDict to process (default: all); the others pass through.
        device: ``cuda``, ``cpu``, ... (default: ``cuda`` when available).
    """

    VERSION = "1"

    def setup(
        self,
        experiment: str,
        checkpoint: str = "best",
        outputs: Sequence[str] | Mapping[str, str] | str = ("prediction",),
        batch_size: int | None = None,
        splits: Sequence[str] | str | None = None,
        device: str | None = None,
    ) -> None:
        self.experiment = _check_ref(experiment)
        self.checkpoint = _check_checkpoint(checkpoint)
        self.columns = _output_columns(outputs)
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise RunwayError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self.splits = [splits] if isinstance(splits, str) else (list(splits) if splits is not None else None)
        self.device = device

    # ----------------------------------------------------------------- cache key
    @classmethod
    def fingerprint_extra(cls, setup_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Resolved version, checkpoint content hash and config hash: retraining makes the node stale."""
        ref = _check_ref(setup_kwargs.get("experiment"))
        choice = _check_checkpoint(setup_kwargs.get("checkpoint", "best"))
        _output_columns(setup_kwargs.get("outputs", ("prediction",)))  # checked now: `runway dag` reports it
        exp = _load_experiment(ref)
        ckpt = _checkpoint(exp, choice)
        return {
            "experiment": ref,
            "version": exp.version_name,
            "checkpoint": choice,
            "checkpoint_file": ckpt.name,
            "checkpoint_sha256": checkpoint_sha256(ckpt),
            "config_sha256": hashlib.sha256(
                json.dumps(exp.config, sort_keys=True, default=str).encode("utf-8")
            ).hexdigest(),
        }

    @classmethod
    def explain_fingerprint_extra(cls, old: Any, new: Any) -> list[str]:
        """Say which of version / checkpoint / config changed, e.g. ``checkpoint of digits_V0 changed``."""
        old, new = old or {}, new or {}
        reasons = []
        if old.get("version") != new.get("version"):
            ref = new.get("experiment")
            if ref and ref == old.get("experiment") and ref != new.get("version"):
                reasons.append(f"experiment {ref} now resolves to {new.get('version')} (was {old.get('version')})")
            else:
                reasons.append(f"consumed experiment version: {old.get('version')} -> {new.get('version')}")
            return reasons
        version = new.get("version")
        if old.get("checkpoint") != new.get("checkpoint"):
            reasons.append(f"checkpoint of {version}: {old.get('checkpoint')} -> {new.get('checkpoint')}")
        elif old.get("checkpoint_sha256") != new.get("checkpoint_sha256"):
            reasons.append(f"checkpoint of {version} changed")
        if old.get("config_sha256") != new.get("config_sha256"):
            reasons.append(f"config of {version} changed")
        return reasons

    # ----------------------------------------------------------------- running
    def _call(self, data: Any) -> Any:
        if is_dataset_dict(data):
            names = list(data)
            chosen = self.splits if self.splits is not None else names
            for split in chosen:
                if split not in data:
                    raise RunwayError(
                        f"splits: the input has no split '{split}'{did_you_mean(split, names)}; its splits: "
                        + ", ".join(names)
                    )
            model = self._load_model()
            out = type(data)(data)  # shallow copy: splits not listed pass through
            for split in chosen:
                out[split] = self._predict(model, data[split])
            return out
        if is_dataset(data):
            return self._predict(self._load_model(), data)
        raise TypeError(f"PredictWithExperiment expects a datasets Dataset or DatasetDict, got {type(data).__name__}")

    def _load_model(self) -> Any:
        import torch

        self.exp = _load_experiment(self.experiment)
        _checkpoint(self.exp, self.checkpoint)
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        return self.exp.loaded(self.checkpoint, device=device)

    def _batch_size(self, model: Any) -> int:
        if self.batch_size:
            return self.batch_size
        return typed_config(model.datamodule.config).test.batch_size

    def _predict(self, model: Any, dataset: Any) -> Any:
        clash = [c for c in self.columns.values() if c in dataset.column_names]
        if clash:
            raise RunwayError(
                f"outputs: column '{clash[0]}' already exists in the input (columns: {', '.join(dataset.column_names)})",
                hint=f"name the new column with a mapping, e.g. outputs: {{ {_key_for(self.columns, clash[0])}: "
                f"'{self.exp.name}_{clash[0]}' }}",
            )
        collected = run_model(
            model,
            dataset,
            list(self.columns),
            batch_size=self._batch_size(model),
            where=f"{self.exp.version_name}'s executor {type(model.executor).__name__}",
        )
        for output, column in self.columns.items():
            dataset = dataset.add_column(column, to_arrow(collected[output]))
        return dataset


# --------------------------------------------------------------------- resolution and checks


def _check_ref(ref: Any) -> str:
    if not isinstance(ref, str) or not ref.strip():
        raise RunwayError(
            f"experiment: expected a version such as 'digits_V0' or an experiment name, got {ref!r}",
            hint="set setup_kwargs.experiment of the PredictWithExperiment node",
        )
    return ref.strip()


def _check_checkpoint(choice: Any) -> str:
    if choice not in ("best", "last"):
        raise RunwayError(
            f"checkpoint: expected 'best' or 'last', got {choice!r}{did_you_mean(str(choice), ['best', 'last'])}"
        )
    return str(choice)


def _output_columns(outputs: Any) -> dict[str, str]:
    if isinstance(outputs, str):
        outputs = [outputs]
    if isinstance(outputs, Mapping):
        columns = {str(k): str(v) for k, v in outputs.items()}
    elif isinstance(outputs, (list, tuple)):
        columns = {str(o): str(o) for o in outputs}
    else:
        raise RunwayError(
            f"outputs: expected a list of output names or a mapping output -> column, got {outputs!r}",
            hint=f"e.g. outputs: ['embedding'] (built-in outputs: {', '.join(BUILTIN_OUTPUTS)})",
        )
    if not columns or any(not k or not v for k, v in columns.items()):
        raise RunwayError(
            "outputs: name at least one output, and no empty names",
            hint=f"built-in outputs: {', '.join(BUILTIN_OUTPUTS)}, or columns of the executor's predict_step",
        )
    if len(set(columns.values())) != len(columns):
        raise RunwayError(f"outputs: two outputs write the same column: {columns}")
    return columns


def _key_for(columns: Mapping[str, str], column: str) -> str:
    return next((k for k, v in columns.items() if v == column), column)


def _load_experiment(ref: str) -> Any:
    root = require_project_root()
    check_no_cycle(ref, root)
    try:
        return Experiment.load(ref, project_root=root)
    except RunwayError as exc:
        raise RunwayError(f"PredictWithExperiment experiment '{ref}': {exc.message}", hint=exc.hint) from exc


def _checkpoint(exp: Any, choice: str) -> Path:
    try:
        return exp.checkpoint(choice)
    except RunwayError as exc:
        raise RunwayError(
            f"PredictWithExperiment experiment '{exp.version_name}': {exc.message}", hint=exc.hint
        ) from exc


# --------------------------------------------------------------------- lineage


def consumed_experiments(config: Mapping[str, Any], nodes: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The experiment versions and checkpoints that the PredictWithExperiment nodes of ``config`` consume.

    ``nodes`` restricts the answer to those node ids (e.g. the nodes a run needed). One dict per node:
    ``node``, ``experiment`` (as written), ``version``, ``checkpoint``, ``checkpoint_file``,
    ``checkpoint_sha256``. Recorded in the consuming version's manifest and shown by ``runway diff``.
    """
    transforms = ((config.get("data_pipeline") or {}).get("transforms")) or {}
    wanted = set(nodes) if nodes is not None else None
    lineage = []
    for node_id, spec in transforms.items():
        if not isinstance(spec, Mapping) or not is_this_transform(spec.get("transform_name")):
            continue
        if wanted is not None and node_id not in wanted:
            continue
        extra = PredictWithExperiment.fingerprint_extra(dict(spec.get("setup_kwargs") or {}))
        extra.pop("config_sha256", None)
        lineage.append({"node": node_id, **extra})
    return lineage


def record_consumed(run_dir: Path, config: Mapping[str, Any], node_keys: Iterable[str]) -> list[dict[str, Any]]:
    """Write :func:`consumed_experiments` into the manifest of ``run_dir`` (a version or an ``infer-*`` folder)."""
    consumed = consumed_experiments(config, node_keys)
    if consumed:
        update_manifest(run_dir, consumed_experiments=consumed)
    return consumed
