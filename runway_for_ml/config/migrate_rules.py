"""The rule tables and bookkeeping of ``runway migrate`` (see ``config.migrate``).

Where each key of an original runway_for_ml config goes, why a dropped key is gone, and
:class:`MigratorBase`: the new config being built and the list of steps taken.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runway_for_ml.config.models import SECTIONS

# Keys this project knows beyond config.schema.SECTIONS (owned by the text executors).
_EXTRA_KNOWN = {
    "train": ("lora", "use_lora", "lora_config"),
    "test": ("generation_kwargs", "merge_lora"),
}
WANDB_KEYS = ("project", "entity", "mode", "tags", "group", "notes", "job_type")
WANDB_RENAMES = {"USER_NAME": "entity", "PROJECT_NAME": "project", "ENTITY": "entity", "PROJECT": "project"}
LORA_RENAMES = {"lora_alpha": "alpha", "lora_dropout": "dropout", "r": "r", "target_modules": "target_modules"}
LORA_EXTRA = ("bias", "modules_to_save", "use_rslora", "init_lora_weights")
SECTION_ORDER = ("description", "meta", "data_pipeline", "executor", "train", "test", "eval", "slurm", "serve", "user")

# main.py command-line arguments the original copied into the config dict.
CLI_ARGS = ("config", "mode", "from_experiment", "opts", "reset", "modules", "tags", "log_prediction_tables")

WHY = {
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
    "next_data_pipeline": "one data_pipeline per experiment: make the second pipeline its own experiment config",
    "use_versioning": "versions are always numbered: <name>_V0, _V1 ... under experiments/",
    "CACHE_DIR": "W&B files go to <version>/train/logs/wandb/",
    "trainer_fit_paras": "resume with `runway-train EXP --resume` (add --version N for another version) "
    "instead of trainer.fit arguments",
    "use_fp16": "mixed precision is a Lightning setting: train.trainer_paras.precision",
    "checkpoint_name": "",
    "default_root_dir": "runway sets Lightning's folder: <version>/train/",
    "dirpath": "checkpoints always go to <version>/train/checkpoints/",
    "eval_pipeline": "evaluation is eval.metrics: [{name, kwargs}] from the metric registry (accuracy, f1, bleu, ...); "
    "custom metrics are @register_metric functions in metrics/",
}

OBSOLETE_TOP = (
    "platform_type",
    "ignore_pretrained_weights",
    "cuda",
    "gpu_device",
    "EXPERIMENT_FOLDER",
    "DATA_FOLDER",
    "TENSORBOARD_FOLDER",
)
TEST_OBSOLETE = (
    "evaluation_name",
    "load_epoch",
    "load_model_path",
    "load_best_model",
    "num_evaluation",
    "additional",
    "trainer_paras",
)
TRAIN_OBSOLETE = (
    "load_epoch",
    "load_model_path",
    "load_best_model",
    "save_interval",
    "type",
    "retriever_lr",
    "adam_epsilon",
)


#: The original's optimizer names (its BaseExecutor.configure_optimizers accepted these three only):
#: name -> (what it was, the defaults that differ from the optimizer of that name here, and those here).
ORIGINAL_OPTIMIZERS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "AdamW": ("transformers' AdamW", {"eps": 1e-6, "weight_decay": 0.0}, {"eps": 1e-8, "weight_decay": 0.01}),
    "Adafactor": ("transformers' Adafactor", {}, {}),
    "Adam": ("torch.optim.Adam, as here", {}, {}),
}
#: Where transformers' Adafactor is named here (``Adafactor`` alone is torch.optim.Adafactor, another algorithm).
TRANSFORMERS_ADAFACTOR = "transformers.optimization.Adafactor"
#: Where the original's compatibility transforms live (named by dotted path; see data_module.data_transforms).
COMPAT_TRANSFORMS = "runway_for_ml.data_module.data_transforms"

# The first line of a file written by `runway migrate`.
MIGRATED_MARKER = "// Migrated by `runway migrate`"

# Keys only the original framework wrote: seeing one means `runway migrate` can help.
ORIGINAL_TOP_KEYS = (
    "experiment_name",
    "test_suffix",
    "tokenizer_config",
    "model_config",
    "meta_config",
    "exp_version",
)
ORIGINAL_META_KEYS = ("EXPERIMENT_FOLDER", "DATA_FOLDER", "TENSORBOARD_FOLDER", "WANDB", "platform_type", "cuda")


#: What happened to a key. ``set``: a value written that the original left implicit (its default);
#: ``note``: a difference in behaviour that no config value can express (nothing to do);
#: ``todo``: left for you to fix (``runway migrate`` exits 1 while any remains).
ACTIONS = ("kept", "moved", "renamed", "converted", "set", "dropped", "note", "todo")
_NO_VALUE = object()


def short_value(value: Any, limit: int = 70) -> str:
    """``value`` as JSON, cut to ``limit`` characters (for reports and comments)."""
    import json

    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class MigrationStep:
    """One key's fate (``action`` is one of :data:`ACTIONS`); ``was`` is the original value of ``old``."""

    action: str
    old: str
    new: str | None = None
    why: str = ""
    was: Any = field(default=_NO_VALUE, compare=False, repr=False)

    @property
    def has_value(self) -> bool:
        return self.was is not _NO_VALUE

    def describe(self) -> str:
        arrow = f" -> {self.new}" if self.new and self.new != self.old else ""
        why = f": {self.why}" if self.why else ""
        return f"{self.action:<9} {self.old}{arrow}{why}"

    def origin(self) -> str:
        """The original key and its value: ``train.batch_size = 8`` (for the comment on the new key)."""
        return f"{self.old} = {short_value(self.was)}" if self.has_value else self.old


@dataclass
class Migration:
    """The new config and, in order, what happened to each key of the old one."""

    config: dict[str, Any]
    steps: list[MigrationStep] = field(default_factory=list)
    experiment_name: str | None = None

    @property
    def changed(self) -> list[MigrationStep]:
        """Steps that change the config (not ``kept``, not ``note``)."""
        return [s for s in self.steps if s.action not in ("kept", "note")]

    @property
    def todo(self) -> list[MigrationStep]:
        """What is left for you to fix by hand."""
        return [s for s in self.steps if s.action == "todo"]


class MigratorBase:
    """The new config being built, key by key, and what happened to each old key."""

    def __init__(self, old: Mapping[str, Any], *, already_migrated: bool = False) -> None:
        self.old = copy.deepcopy(dict(old))
        # Never modified: the original values quoted in the report and in the new file's comments.
        self._original = copy.deepcopy(dict(old))
        # A file `runway migrate` wrote: rules that re-read a key the original used with another meaning
        # (a warmup length shifted by one step) must not apply twice.
        self.already_migrated = already_migrated
        self.experiment: str | None = None  # the name the result runs under (runway migrate -o)
        self.new: dict[str, Any] = {}
        self.steps: list[MigrationStep] = []

    # ----------------------------------------------------------------- helpers
    def original(self, path: str) -> Any:
        """The original value at dotted ``path`` (``_NO_VALUE`` when absent)."""
        node: Any = self._original
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return _NO_VALUE
            node = node[part]
        return node

    def step(self, action: str, old: str, new: str | None = None, why: str = "", *, was: Any = _NO_VALUE) -> None:
        assert action in ACTIONS, action
        self.steps.append(MigrationStep(action, old, new, why, self.original(old) if was is _NO_VALUE else was))

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
        if old == new and action in ("moved", "renamed") and self.original(old) == value:
            action = "kept"  # already where it belongs (a config migrated before)
        if self.put(new, value):
            self.step(action, old, new, why if action != "kept" else "")
        else:
            self.step("dropped", old, None, f"{new} is already set in the config, which wins")

    def keep(self, path: str, value: Any) -> None:
        self.put(path, copy.deepcopy(value), overwrite=True)
        self.step("kept", path, path)

    def to_user(self, path: str, value: Any, section: str) -> None:
        self.move(path, f"user.{path}", value, f"not a key of runway's {section}; kept under user for your own code")

    @staticmethod
    def _known(section: str) -> set[str]:
        return set(SECTIONS.get(section, {})) | set(_EXTRA_KNOWN.get(section, ()))
