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

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

# Keys this project knows beyond config.schema.SECTIONS (owned by the text executors).
_EXTRA_KNOWN = {
    "train": ("lora", "use_lora", "lora_config"),
    "test": ("generation_kwargs", "merge_lora"),
}
_WANDB_KEYS = ("project", "entity", "mode", "tags", "group", "notes", "job_type")
_WANDB_RENAMES = {"USER_NAME": "entity", "PROJECT_NAME": "project", "ENTITY": "entity", "PROJECT": "project"}
_LORA_RENAMES = {"lora_alpha": "alpha", "lora_dropout": "dropout", "r": "r", "target_modules": "target_modules"}
_LORA_EXTRA = ("bias", "modules_to_save", "use_rslora", "init_lora_weights")
_ORDER = ("description", "meta", "data_pipeline", "executor", "train", "test", "eval", "slurm", "serve", "user")

# main.py command-line arguments the original copied into the config dict.
_CLI_ARGS = ("config", "mode", "from_experiment", "opts", "reset", "modules", "tags", "log_prediction_tables")

_WHY = {
    "experiment_name": "the experiment name is the config file's name: save the result as "
    "configs/experiments/{value}.jsonnet and run `runway-train {value}` (versions {value}_V0, _V1 ... are automatic)",
    "test_suffix": "the inference run's name is a command-line argument: `runway-infer <version> {value}`",
    "tag": "versions are numbered automatically; describe a run in `description`",
    "exp_version": "versions are chosen on the command line: `runway-infer <name>_V<n> <suffix>`",
    "EXPERIMENT_FOLDER": "experiments always live in <project>/experiments/<name>_V<n>/",
    "DATA_FOLDER": "data paths in setup_kwargs are relative to the project folder",
    "TENSORBOARD_FOLDER": "TensorBoard logs go to <version>/train/logs/ (meta.logger_enable: ['tensorboard'])",
    "platform_type": "runway always trains with PyTorch Lightning",
    "ignore_pretrained_weights": "not used; load weights with executor.model_config",
    "cuda": "devices are Lightning settings: train.trainer_paras.accelerator / devices",
    "gpu_device": "devices are Lightning settings: train.trainer_paras.accelerator / devices",
    "DataPipelineLib": "one built-in DataPipeline runs every pipeline",
    "DataPipelineClass": "one built-in DataPipeline runs every pipeline",
    "do_inspect": "inspection is per node (inspect: true writes inspect.json next to the cache entry); "
    "`runway dag` shows every node's cache status",
    "inspector_config": "inspection is per node (inspect: true); there is no inspector to configure",
    "dataloader_args": "dataloaders are built by the executor from train.batch_size / dataloader_workers",
    "in_features": "features come from transforms (input: nodes)",
    "CACHE_DIR": "W&B files go to <version>/train/logs/wandb/",
    "trainer_fit_paras": "resume with `runway-train --resume <version>` instead of trainer.fit arguments",
    "use_fp16": "mixed precision is a Lightning setting: train.trainer_paras.precision",
    "checkpoint_name": "",
    "default_root_dir": "runway sets Lightning's folder: <version>/train/",
    "dirpath": "checkpoints always go to <version>/train/checkpoints/",
    "eval_pipeline": "evaluation is eval.metrics: [{name, kwargs}] from the metric registry (accuracy, f1, bleu, ...); "
    "custom metrics are @register_metric functions in metrics/",
}

_OBSOLETE_TOP = (
    "platform_type",
    "ignore_pretrained_weights",
    "cuda",
    "gpu_device",
    "EXPERIMENT_FOLDER",
    "DATA_FOLDER",
    "TENSORBOARD_FOLDER",
)
_TEST_OBSOLETE = (
    "evaluation_name",
    "load_epoch",
    "load_model_path",
    "load_best_model",
    "num_evaluation",
    "additional",
    "trainer_paras",
)
_TRAIN_OBSOLETE = (
    "load_epoch",
    "load_model_path",
    "load_best_model",
    "save_interval",
    "type",
    "retriever_lr",
    "adam_epsilon",
)


@dataclass(frozen=True)
class MigrationStep:
    """One key's fate: ``action`` is kept / moved / renamed / converted / dropped / check."""

    action: str
    old: str
    new: str | None = None
    why: str = ""

    def describe(self) -> str:
        arrow = f" -> {self.new}" if self.new and self.new != self.old else ""
        why = f": {self.why}" if self.why else ""
        return f"{self.action:<9} {self.old}{arrow}{why}"


@dataclass
class Migration:
    """The new config and, in order, what happened to each key of the old one."""

    config: dict[str, Any]
    steps: list[MigrationStep] = field(default_factory=list)
    experiment_name: str | None = None

    @property
    def changed(self) -> list[MigrationStep]:
        return [s for s in self.steps if s.action != "kept"]


class _Migrator:
    def __init__(self, old: Mapping[str, Any]) -> None:
        self.old = copy.deepcopy(dict(old))
        self.new: dict[str, Any] = {}
        self.steps: list[MigrationStep] = []

    # ----------------------------------------------------------------- helpers
    def step(self, action: str, old: str, new: str | None = None, why: str = "") -> None:
        self.steps.append(MigrationStep(action, old, new, why))

    def put(self, path: str, value: Any, *, overwrite: bool = False) -> bool:
        """Set ``path`` (dotted) in the new config; False (nothing written) when a value is already there."""
        parts = path.split(".")
        node = self.new
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                return False
            node = nxt
        if parts[-1] in node and not overwrite and node[parts[-1]] != value:
            return False
        node[parts[-1]] = value
        return True

    def move(self, old: str, new: str, value: Any, why: str = "", action: str = "moved") -> None:
        if self.put(new, value):
            self.step(action, old, new, why)
        else:
            self.step("dropped", old, None, f"{new} is already set in the config, which wins")

    def keep(self, path: str, value: Any) -> None:
        self.put(path, value, overwrite=True)
        self.step("kept", path, path)

    def to_user(self, path: str, value: Any, section: str) -> None:
        self.move(path, f"user.{path}", value, f"not a key of runway's {section}; kept under user for your own code")

    @staticmethod
    def _known(section: str) -> set[str]:
        return set(SECTIONS.get(section, {})) | set(_EXTRA_KNOWN.get(section, ()))

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

    # ----------------------------------------------------------------- executor and model
    def executor(self, key: str, ex: Any) -> None:
        if not isinstance(ex, Mapping):
            self.step("dropped", key, None, f"expected an object, found {ex!r}")
            return
        known = self._known("executor")
        for k, v in ex.items():
            path = f"executor.{k}"
            if k == "init_kwargs" and isinstance(v, Mapping):
                rest = {}
                for ik, iv in v.items():
                    ipath = f"{path}.{ik}"
                    if ik == "use_data_node":
                        self.move(ipath, "train.data_node", iv, "the pipeline node that feeds the executor")
                    elif ik == "use_fp16":
                        if iv:
                            self.move(
                                ipath, "train.trainer_paras.precision", "16-mixed", _WHY["use_fp16"], action="converted"
                            )
                        else:
                            self.step("dropped", ipath, None, "full precision is the default")
                    else:
                        rest[ik] = iv
                        self.step("kept", ipath, ipath)
                if rest:
                    self.put(path, rest, overwrite=True)
            elif k == "model_config":
                self.model_config(path, v)
            elif k in known:
                self.keep(path, v)
            else:
                self.to_user(path, v, "executor")

    def model_config(self, path: str, mc: Any) -> None:
        if not isinstance(mc, Mapping):
            self.step("dropped", path, None, f"expected an object, found {mc!r}")
            return
        target = "executor.model_config"
        for k, v in mc.items():
            old = f"{path}.{k}"
            if k == "from_pretrained_kwargs" and isinstance(v, Mapping):
                v = dict(v)
                name = v.pop("pretrained_model_name_or_path", None)
                if name is not None:
                    self.move(
                        f"{old}.pretrained_model_name_or_path",
                        f"{target}.model_version",
                        name,
                        "the model's hub id or folder",
                        action="renamed",
                    )
                if v:
                    self.move(
                        old,
                        f"{target}.load_checkpoint_kwargs",
                        v,
                        "extra from_pretrained() arguments",
                        action="renamed",
                    )
            elif k in ("ModelVersion", "model_version"):
                self.move(
                    old,
                    f"{target}.model_version",
                    v,
                    "the model's hub id or folder",
                    action="renamed" if k != "model_version" else "moved",
                )
            elif k in ("TokenizerModelVersion", "TokenizerClass"):
                sub = "version_name" if k == "TokenizerModelVersion" else "class_name"
                self.move(old, f"{target}.tokenizer_config.{sub}", v, "the executor's tokenizer", action="renamed")
            elif k == "pretrained":
                if not v:
                    self.move(
                        old,
                        f"{target}.train_from_scratch",
                        True,
                        "pretrained: 0 means a model built from its config",
                        action="converted",
                    )
                else:
                    self.step("dropped", old, None, "loading pretrained weights is the default")
            else:
                self.move(
                    old,
                    f"{target}.{k}",
                    v,
                    "" if path.startswith("executor") else "model settings live in executor.model_config",
                    action="kept" if path == target else "moved",
                )

    # ----------------------------------------------------------------- train / test / eval
    def train(self, key: str, train: Any) -> None:
        if not isinstance(train, Mapping):
            self.step("dropped", key, None, f"expected an object, found {train!r}")
            return
        train = dict(train)
        known = self._known("train")
        use_lora = train.pop("use_lora", None)
        lora_config = train.pop("lora_config", None)
        if use_lora is not None or lora_config is not None:
            self.lora(use_lora, lora_config)
        additional = train.pop("additional", None)
        for k, v in train.items():
            path = f"train.{k}"
            if k == "epochs":
                self.move(path, "train.trainer_paras.max_epochs", v, "Lightning's max_epochs", action="renamed")
            elif k == "lr":
                self.move(path, "train.optimizer_config.optimizer_params.lr", v, "optimizer settings", action="renamed")
            elif k == "scheduler" and isinstance(v, str):
                if v == "none":
                    self.step("dropped", path, None, "no scheduler is the default")
                else:
                    self.move(path, "train.optimizer_config.scheduler", v, "optimizer settings")
            elif k == "trainer_paras" and isinstance(v, Mapping):
                paras = {pk: pv for pk, pv in v.items() if pk != "default_root_dir"}
                if "default_root_dir" in v:
                    self.step("dropped", f"{path}.default_root_dir", None, _WHY["default_root_dir"])
                for pk, pv in paras.items():
                    self.put(f"{path}.{pk}", pv, overwrite=False)
                self.step("kept", path, path)
            elif k == "model_checkpoint_callback_paras" and isinstance(v, Mapping):
                paras = dict(v)
                if "dirpath" in paras:
                    paras.pop("dirpath")
                    self.step("dropped", f"{path}.dirpath", None, _WHY["dirpath"])
                self.keep(path, paras)
            elif k == "trainer_fit_paras":
                self.step("dropped", path, None, _WHY["trainer_fit_paras"])
            elif k in _TRAIN_OBSOLETE:
                self.step("dropped", path, None, "not used: checkpoints, resuming and versions are managed by runway")
            elif k in known:
                self.keep(path, v)
            else:
                self.to_user(path, v, "train")
        if isinstance(additional, Mapping):
            for k, v in additional.items():
                target = {
                    "gradient_accumulation_steps": "train.trainer_paras.accumulate_grad_batches",
                    "gradient_clipping": "train.trainer_paras.gradient_clip_val",
                    "warmup_steps": "train.optimizer_config.scheduler_params.num_warmup_steps",
                }.get(k)
                if target is None:
                    self.step("dropped", f"train.additional.{k}", None, "no such setting here")
                elif k == "gradient_clipping" and not v:
                    self.step("dropped", f"train.additional.{k}", None, "no clipping is the default")
                else:
                    self.move(f"train.additional.{k}", target, v, "a Lightning / scheduler setting", action="renamed")

    def lora(self, use_lora: Any, lora_config: Any) -> None:
        if not use_lora:
            self.step(
                "dropped",
                "train.use_lora",
                None,
                "LoRA is off (use_lora: false); add train.lora: {r, alpha, dropout, target_modules} to turn it on",
            )
            if lora_config is not None:
                self.step("dropped", "train.lora_config", None, "LoRA is off")
            return
        config = dict(lora_config or {})
        prefix = "train.lora_config"
        # The original allowed one LoRA config per sub-model ({"unet": {...}}); take the single one.
        nested = [k for k, v in config.items() if isinstance(v, Mapping)]
        if nested and len(config) == len(nested):
            if len(nested) > 1:
                self.step(
                    "check",
                    prefix,
                    "train.lora",
                    f"one LoRA config per model here; kept '{nested[0]}', dropped {nested[1:]}",
                )
            else:
                self.step("converted", f"{prefix}.{nested[0]}", "train.lora", "one LoRA config per model here")
            prefix = f"{prefix}.{nested[0]}"
            config = dict(config[nested[0]])
        lora: dict[str, Any] = {}
        if not config.get("target_modules") and "target_modules" in config and config.get("suffices_to_lora"):
            config.pop("target_modules")  # the original's empty list meant "use suffices_to_lora"
        for k, v in config.items():
            if k in _LORA_RENAMES:
                lora[_LORA_RENAMES[k]] = v
                if _LORA_RENAMES[k] != k:
                    self.step("renamed", f"{prefix}.{k}", f"train.lora.{_LORA_RENAMES[k]}")
            elif k == "suffices_to_lora":
                if not config.get("target_modules"):
                    lora["target_modules"] = v
                    self.step("renamed", f"{prefix}.{k}", "train.lora.target_modules", "module names to adapt")
                else:
                    self.step("dropped", f"{prefix}.{k}", None, "target_modules is given")
            elif k in _LORA_EXTRA:
                lora[k] = v
            elif k == "task_type":
                self.step("dropped", f"{prefix}.{k}", None, "the executor knows its task")
            else:
                self.step(
                    "dropped",
                    f"{prefix}.{k}",
                    None,
                    f"train.lora accepts r, alpha, dropout, target_modules, {', '.join(_LORA_EXTRA)}",
                )
        if lora.get("target_modules") == []:
            lora.pop("target_modules")
            self.step(
                "dropped",
                "train.lora.target_modules",
                None,
                "an empty list: the executor's default modules are adapted",
            )
        self.put("train.lora", lora, overwrite=True)
        self.step("converted", "train.use_lora", "train.lora", "LoRA is on when train.lora is present")

    def test(self, key: str, test: Any) -> None:
        if not isinstance(test, Mapping):
            self.step("dropped", key, None, f"expected an object, found {test!r}")
            return
        known = self._known("test")
        for k, v in test.items():
            path = f"test.{k}"
            if k == "checkpoint_name":
                value = str(v)
                stem = value[:-5] if value.endswith(".ckpt") else value
                new = stem if stem in ("last", "best") else value
                why = "'best', 'last' or a checkpoint file"
                if new == value and new not in ("best", "last"):
                    why += f" (a file name: runway looks for it in <version>/train/checkpoints/{value})"
                self.move(path, "test.checkpoint", new, why, action="renamed")
            elif k in _TEST_OBSOLETE:
                self.step(
                    "dropped", path, None, "not used: inference settings are test.batch_size / split / checkpoint"
                )
            elif k in known:
                self.keep(path, v)
            else:
                self.to_user(path, v, "test")

    def eval(self, key: str, ev: Any) -> None:
        if not isinstance(ev, Mapping):
            self.step("dropped", key, None, f"expected an object, found {ev!r}")
            return
        known = self._known("eval")
        dropped_pipeline = False
        for k, v in ev.items():
            path = f"eval.{k}"
            if k in (
                "pipeline_config",
                "valid_eval_pipeline_config",
                "eval_op_name",
                "setup_kwargs",
                "eval_pipeline_config",
            ):
                self.step("dropped", path, None, _WHY["eval_pipeline"])
                dropped_pipeline = True
            elif k in known:
                self.keep(path, v)
            else:
                self.to_user(path, v, "eval")
        if dropped_pipeline and "metrics" not in ev:
            self.step(
                "check",
                "eval.metrics",
                "eval.metrics",
                "add the metrics to compute, e.g. [{name: 'accuracy'}, {name: 'f1'}]",
            )

    def metrics(self, key: str, value: Any) -> None:
        names = {
            "compute_accuracy": "accuracy",
            "compute_f1": "f1",
            "compute_bleu": "bleu",
            "compute_exact_match": "exact_match",
        }
        out = []
        for item in value if isinstance(value, list) else []:
            name = item.get("name") if isinstance(item, Mapping) else item
            out.append({"name": names.get(str(name), str(name))})
        self.move(
            key,
            "eval.metrics",
            out,
            "metrics are eval.metrics: [{name, kwargs}] from the metric registry",
            action="converted",
        )


# Keys only the original framework wrote: seeing one means `runway migrate` can help.
_ORIGINAL_TOP_KEYS = (
    "experiment_name",
    "test_suffix",
    "tokenizer_config",
    "model_config",
    "meta_config",
    "exp_version",
)
_ORIGINAL_META_KEYS = ("EXPERIMENT_FOLDER", "DATA_FOLDER", "TENSORBOARD_FOLDER", "WANDB", "platform_type", "cuda")


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
