"""Rewrite a config of the original runway_for_ml into this project's format, saying why for each key.

The original framework (``python main.py --config X --mode train``) kept the experiment name, the
test suffix and the model/tokenizer settings at the top level, folders and W&B settings in ``meta``
(``EXPERIMENT_FOLDER``, ``WANDB: {USER_NAME, PROJECT_NAME}`` ...), the executor's input node in
``executor.init_kwargs.use_data_node`` and LoRA in ``train.use_lora`` + ``train.lora_config``.
:func:`migrate_config` maps each of those to where it lives now (or drops it, with the reason) and
returns the new config with the list of steps.

>>> m = migrate_config({"experiment_name": "imdb", "meta": {"EXPERIMENT_FOLDER": "./experiments/", "seed": 3},
...                     "executor": {"ExecutorClass": "X", "init_kwargs": {"use_data_node": "output:D"}}})
>>> m.config
{'meta': {'seed': 3}, 'executor': {'ExecutorClass': 'X'}, 'train': {'data_node': 'output:D'}}
>>> [s.action for s in m.steps if s.action != "kept"]
['dropped', 'dropped', 'moved']
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runway_for_ml.config.migrate_rules import (
    _CLI_ARGS,
    _OBSOLETE_TOP,
    _ORDER,
    _ORIGINAL_META_KEYS,
    _ORIGINAL_TOP_KEYS,
    _WANDB_KEYS,
    _WANDB_RENAMES,
    _WHY,
    Migration,
    MigrationStep,
)
from runway_for_ml.config.migrate_training import _TrainingSections
from runway_for_ml.config.schema import SECTIONS
from runway_for_ml.errors import ConfigError

__all__ = [
    "Migration",
    "MigrationStep",
    "migrate_config",
    "migrate_file",
    "original_config_hint",
    "render_config",
    "render_report",
]


class _Migrator(_TrainingSections):
    """The whole config: top-level keys, meta and data_pipeline here; model and training sections inherited."""

    # ----------------------------------------------------------------- top level
    def run(self) -> Migration:
        old = self.old
        name = old.get("experiment_name")
        handlers = {
            "meta": self.meta,
            "meta_config": self.meta,
            "data_pipeline": self.data_pipeline,
            "executor": self.executor,
            "train": self.train,
            "test": self.test,
            "eval": self.eval,
        }
        # Sections first (so top-level moves into them know what is already set), then the rest.
        for key in [k for k in old if k in ("meta", "meta_config", "executor", "data_pipeline")]:
            handlers[key](key, old[key])
        for key, value in old.items():
            if key in ("meta", "meta_config", "executor", "data_pipeline"):
                continue
            if key in handlers:
                handlers[key](key, value)
            elif key in ("experiment_name", "test_suffix", "tag", "exp_version"):
                self.step("dropped", key, None, _WHY[key].format(value=value))
            elif key == "model_config":
                self.model_config(key, value)
            elif key == "tokenizer_config":
                self.move(
                    key,
                    "executor.model_config.tokenizer_config",
                    self.clean_tokenizer_config(key, value),
                    "the executor loads its tokenizer from model_config.tokenizer_config",
                )
            elif key in ("seed",):
                self.move(key, "meta.seed", value, "project-wide settings live in meta")
            elif key in _OBSOLETE_TOP:
                self.step("dropped", key, None, _WHY[key])
            elif key in _CLI_ARGS:
                self.step("dropped", key, None, "a command-line argument of the original main.py, not configuration")
            elif key == "cache":
                self.old_cache(key, value)
            elif key == "metrics":
                self.metrics(key, value)
            elif key in ("valid", "data_loader"):
                self.step(
                    "dropped",
                    key,
                    None,
                    "validation runs on the 'validation' split every epoch (train.trainer_paras.check_val_every_n_epoch)"
                    if key == "valid"
                    else "replaced by data_pipeline (transforms cached by content)",
                )
            elif key in SECTIONS[""]:
                self.keep(key, value)
            else:
                self.to_user(key, value, "top level")
        # Report in the order of the old file (sections were handled first, see above).
        position = {key: i for i, key in enumerate(old)}
        self.steps.sort(key=lambda step: position.get(step.old.split(".")[0], len(position)))
        ordered = {k: self.new[k] for k in _ORDER if k in self.new}
        ordered.update({k: v for k, v in self.new.items() if k not in ordered})
        return Migration(ordered, self.steps, name if isinstance(name, str) else None)

    # ----------------------------------------------------------------- meta
    def meta(self, key: str, meta: Any) -> None:
        if not isinstance(meta, Mapping):
            self.step("dropped", key, None, f"expected an object, found {meta!r}")
            return
        if key != "meta":
            self.step("renamed", key, "meta", "the section is called meta")
        known = self._known("meta")
        for k, v in meta.items():
            path = f"meta.{k}"
            if k in (
                "EXPERIMENT_FOLDER",
                "DATA_FOLDER",
                "TENSORBOARD_FOLDER",
                "platform_type",
                "ignore_pretrained_weights",
                "cuda",
                "gpu_device",
            ):
                self.step("dropped", f"{key}.{k}", None, _WHY[k])
            elif k == "WANDB":
                self.wandb(f"{key}.WANDB", v)
            elif k == "cache":
                self.old_cache(f"{key}.cache", v)
            elif k in known:
                self.keep(path, v)
            else:
                self.to_user(path, v, "meta")

    def wandb(self, path: str, value: Any) -> None:
        if not isinstance(value, Mapping):
            self.step("dropped", path, None, f"expected an object, found {value!r}")
            return
        for k, v in value.items():
            new_key = _WANDB_RENAMES.get(k, k if k in _WANDB_KEYS else None)
            if k == "CACHE_DIR":
                self.step("dropped", f"{path}.{k}", None, _WHY["CACHE_DIR"])
            elif isinstance(v, str) and v.upper().startswith("YOUR "):
                self.step("dropped", f"{path}.{k}", None, f"a template placeholder ({v!r})")
            elif new_key is None:
                self.step("dropped", f"{path}.{k}", None, f"meta.wandb accepts {', '.join(_WANDB_KEYS)}")
            else:
                self.move(f"{path}.{k}", f"meta.wandb.{new_key}", v, "W&B settings", action="renamed")

    def old_cache(self, path: str, value: Any) -> None:
        if not isinstance(value, Mapping):
            self.step("dropped", path, None, f"expected an object, found {value!r}")
            return
        for k, v in value.items():
            if k in ("default_folder", "default_cache_dir"):
                self.move(f"{path}.{k}", "meta.default_cache_dir", v, "the cache folder setting", action="renamed")
            elif k == "regenerate":
                self.step(
                    "dropped",
                    f"{path}.{k}",
                    None,
                    "set regenerate: true on a node, or `runway prepare --regenerate NODE`",
                )
            else:
                self.step("dropped", f"{path}.{k}", None, "no such cache setting; the cache is content-addressed")

    # ----------------------------------------------------------------- data pipeline
    def data_pipeline(self, key: str, dp: Any) -> None:
        if not isinstance(dp, Mapping):
            self.step("dropped", key, None, f"expected an object, found {dp!r}")
            return
        known = self._known("data_pipeline")
        for k, v in dp.items():
            path = f"data_pipeline.{k}"
            if k == "transforms" and isinstance(v, Mapping):
                for node, spec in v.items():
                    self.node(node, spec)
            elif k == "out_ops":
                self.out_ops(path, v)
            elif k in _WHY and k not in known:
                self.step("dropped", path, None, _WHY[k])
            elif k in known:
                self.keep(path, v)
            else:
                self.step("dropped", path, None, f"data_pipeline accepts {', '.join(sorted(known))}")

    def out_ops(self, path: str, value: Any) -> None:
        nodes = [value] if isinstance(value, str) else list(value or [])
        why = "`runway prepare` runs every output: node; the executor's input is train.data_node"
        if len(nodes) == 1 and "data_node" not in (self.old.get("train") or {}) and not self._use_data_node():
            self.move(path, "train.data_node", nodes[0], why, action="converted")
        else:
            self.step("dropped", path, None, why)

    def _use_data_node(self) -> Any:
        executor = self.old.get("executor") or {}
        return (executor.get("init_kwargs") or {}).get("use_data_node") if isinstance(executor, Mapping) else None

    def node(self, node: str, spec: Any) -> None:
        base = f"data_pipeline.transforms.{node}"
        if not isinstance(spec, Mapping):
            self.keep(base, spec)
            return
        spec = dict(spec)
        known = self._known("data_pipeline.transforms.*")
        out: dict[str, Any] = {}
        for k, v in spec.items():
            if k in known:
                out[k] = v
            else:
                self.step("dropped", f"{base}.{k}", None, f"a node accepts {', '.join(sorted(known))}")
        name = out.get("transform_name")
        kwargs = dict(out.get("setup_kwargs") or {})
        if name == "LoadHFDataset" and "dataset_name" in kwargs and "dataset_path" not in kwargs:
            kwargs["dataset_path"] = kwargs.pop("dataset_name")
            self.step(
                "renamed",
                f"{base}.setup_kwargs.dataset_name",
                f"{base}.setup_kwargs.dataset_path",
                "dataset_path names the dataset (a file, folder or hub id); dataset_name is a hub config name",
            )
        if name == "LoadHFDataset" and "fields" in kwargs:
            kwargs.pop("fields")
            self.step("dropped", f"{base}.setup_kwargs.fields", None, "select columns with a SelectColumns node")
        if name == "SplitHFDatasetToTrainTestValidation":
            out["transform_name"] = "SplitHFDataset"
            self.step(
                "renamed", f"{base}.transform_name", None, "SplitHFDatasetToTrainTestValidation is SplitHFDataset"
            )
            if "valid_size" in kwargs:
                kwargs["validation_size"] = kwargs.pop("valid_size")
                self.step("renamed", f"{base}.setup_kwargs.valid_size", f"{base}.setup_kwargs.validation_size")
            split_kwargs = kwargs.pop("train_test_split_kwargs", None) or {}
            if "seed" in split_kwargs:
                kwargs["seed"] = split_kwargs["seed"]
                self.step("moved", f"{base}.setup_kwargs.train_test_split_kwargs.seed", f"{base}.setup_kwargs.seed")
        if name == "HFDatasetTokenizeTransform" and isinstance(kwargs.get("tokenizer_config"), Mapping):
            kwargs["tokenizer_config"] = self.clean_tokenizer_config(
                f"{base}.setup_kwargs.tokenizer_config", kwargs["tokenizer_config"]
            )
        if "setup_kwargs" in out or kwargs:
            out["setup_kwargs"] = kwargs
        if name in ("DummyTransform", "InsertBreakpoint"):
            self.step(
                "check",
                base,
                None,
                f"'{name}' has no built-in equivalent: register it in data_processing/ or remove the node",
            )
        self.keep(base, out)

    def clean_tokenizer_config(self, path: str, tok: Any) -> Any:
        """Drop the original's Dataset.map options from ``tokenize_kwargs`` (runway always maps in batches)."""
        if not isinstance(tok, Mapping) or not isinstance(tok.get("tokenize_kwargs"), Mapping):
            return tok
        tok = dict(tok)
        tk = dict(tok["tokenize_kwargs"])
        for k in ("batched", "load_from_cache_file", "num_proc"):
            if k in tk:
                tk.pop(k)
                self.step(
                    "dropped",
                    f"{path}.tokenize_kwargs.{k}",
                    None,
                    "runway always maps in batches, without datasets' cache",
                )
        tok["tokenize_kwargs"] = tk
        return tok


def original_config_hint(data: Any, source: str | Path | None = None) -> str | None:
    """A hint pointing to ``runway migrate`` when ``data`` looks like a config of the original framework.

    >>> original_config_hint({"experiment_name": "x"}, "old.jsonnet")
    'this looks like a config of the original runway_for_ml: `runway migrate old.jsonnet -o NEW.jsonnet` rewrites it'
    """
    if not isinstance(data, Mapping):
        return None
    meta = data.get("meta")
    original = any(k in data for k in _ORIGINAL_TOP_KEYS) or (
        isinstance(meta, Mapping) and any(k in meta for k in _ORIGINAL_META_KEYS)
    )
    if not original:
        return None
    return (
        "this looks like a config of the original runway_for_ml: "
        f"`runway migrate {source or 'OLD_CONFIG'} -o NEW.jsonnet` rewrites it"
    )


def migrate_config(old: Mapping[str, Any]) -> Migration:
    """Map an original-runway config (a dict) to this project's format. Nothing is evaluated as code."""
    if not isinstance(old, Mapping):
        raise ConfigError(f"the config must be an object, found {type(old).__name__}")
    return _Migrator(old).run()


def migrate_file(path: str | Path) -> Migration:
    """Evaluate an original config file (.jsonnet / .libsonnet / .json) and migrate it."""
    from runway_for_ml.config.loader import evaluate_jsonnet

    source = Path(path)
    if not source.is_file():
        raise ConfigError(
            f"{source}: no such config file",
            hint="give the original experiment config, e.g. configs/exp_configs/my_experiment.jsonnet",
        )
    data = evaluate_jsonnet(source, search_dirs=[source.parent, source.parent.parent])
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must evaluate to an object, found {type(data).__name__}")
    return migrate_config(data)


def render_report(migration: Migration, *, show_kept: bool = False) -> str:
    """Key by key: what moved, was renamed, converted or dropped, and why (kept keys summarised)."""
    lines = [step.describe() for step in migration.steps if show_kept or step.action != "kept"]
    kept = [s.old for s in migration.steps if s.action == "kept"]
    if kept and not show_kept:
        lines.append(f"kept      {len(kept)} key(s) unchanged: {', '.join(kept)}")
    if not migration.changed:
        lines.insert(0, "nothing to migrate: every key is already in this project's format")
    return "\n".join(lines)


def render_config(migration: Migration, source: str | Path | None = None) -> str:
    """The new config as a jsonnet file (JSON with a header saying where it came from and what changed)."""
    import json

    head = ["// Migrated by `runway migrate`" + (f" from {source}" if source else "") + "."]
    if migration.experiment_name:
        head.append(
            f"// Save it as configs/experiments/{migration.experiment_name}.jsonnet in a runway project, "
            f"then: runway-train {migration.experiment_name}"
        )
    changed = migration.changed
    if changed:
        head.append("// What changed, key by key:")
        head += [f"//   {step.describe()}" for step in changed]
    return "\n".join(head) + "\n" + json.dumps(migration.config, indent=2) + "\n"
