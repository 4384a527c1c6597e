"""The rule tables and bookkeeping of ``runway migrate`` (see ``config.migrate``).

Where each key of an original runway_for_ml config goes, why a dropped key is gone, and
:class:`_MigratorBase`: the new config being built and the list of steps taken.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runway_for_ml.config.schema import SECTIONS

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


class _MigratorBase:
    """The new config being built, key by key, and what happened to each old key."""

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
