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

from runway_for_ml.config.jsonnet import evaluate_jsonnet
from runway_for_ml.config.migrate_data import DataPipelineSection
from runway_for_ml.config.migrate_render import render_jsonnet
from runway_for_ml.config.migrate_rules import (
    CLI_ARGS,
    MIGRATED_MARKER,
    OBSOLETE_TOP,
    ORIGINAL_META_KEYS,
    ORIGINAL_TOP_KEYS,
    SECTION_ORDER,
    WANDB_KEYS,
    WANDB_RENAMES,
    WHY,
    Migration,
    MigrationStep,
)
from runway_for_ml.config.migrate_training import TrainingSections
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


class _Migrator(TrainingSections, DataPipelineSection):
    """The whole config: top-level keys and meta here; data_pipeline, model and training sections inherited."""

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
            "training": self.old_section,
            "testing": self.old_section,
            "validation": self.old_section,
        }
        # Sections first (so top-level moves into them know what is already set), then the rest.
        for key in [k for k in old if k in ("meta", "meta_config", "executor", "data_pipeline")]:
            handlers[key](key, old[key])
        for key, value in old.items():
            if key in ("meta", "meta_config", "executor", "data_pipeline"):
                continue
            if key in handlers:
                handlers[key](key, value)
            else:
                self.top_level(key, value)
        # Report in the order of the old file (sections were handled first, see above).
        position = {key: i for i, key in enumerate(old)}
        self.steps.sort(key=lambda step: position.get(step.old.split(".")[0], len(position)))
        ordered = {k: self.new[k] for k in SECTION_ORDER if k in self.new}
        ordered.update({k: v for k, v in self.new.items() if k not in ordered})
        return Migration(ordered, self.steps, name if isinstance(name, str) else None)

    def top_level(self, key: str, value: Any) -> None:
        """A top-level key that is not a section: dropped, moved into a section, or kept."""
        if key in ("experiment_name", "test_suffix", "tag", "exp_version"):
            shown = self.experiment if key == "experiment_name" and self.experiment else value
            self.step("dropped", key, None, WHY[key].format(value=shown))
        elif key == "model_config" and value == {}:
            self.step("dropped", key, None, "empty")
        elif key == "model_config":
            self.model_config(key, value)
        elif key == "next_data_pipeline":
            self.step("dropped", key, None, WHY[key])
        elif key == "tokenizer_config":
            self.move(
                key,
                "executor.model_config.tokenizer_config",
                self.clean_tokenizer_config(key, value),
                "the executor loads its tokenizer from model_config.tokenizer_config",
            )
        elif key in ("seed",):
            self.move(key, "meta.seed", value, "project-wide settings live in meta")
        elif key in OBSOLETE_TOP:
            self.step("dropped", key, None, WHY[key])
        elif key in CLI_ARGS:
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
        elif key in self._known(""):
            self.keep(key, value)
        else:
            self.to_user(key, value, "top level")

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
                self.step("dropped", f"{key}.{k}", None, WHY[k])
            elif k == "WANDB":
                self.wandb(f"{key}.WANDB", v)
            elif k == "cache":
                self.old_cache(f"{key}.cache", v)
            elif k == "use_versioning":
                self.step("dropped", f"{key}.{k}", None, WHY[k])
            elif k == "logger_enable" and isinstance(v, list) and "metrics_history" in v:
                self.move(
                    f"{key}.{k}",
                    "meta.logger_enable",
                    [name for name in v if name != "metrics_history"],
                    "'metrics_history' (the original's in-memory metrics list) has no equivalent: every "
                    "metric is in the csv / tensorboard logs and in the version's report",
                    action="converted",
                )
            elif k in known:
                self.keep(path, v)
            else:
                self.to_user(path, v, "meta")

    def wandb(self, path: str, value: Any) -> None:
        if not isinstance(value, Mapping):
            self.step("dropped", path, None, f"expected an object, found {value!r}")
            return
        for k, v in value.items():
            new_key = WANDB_RENAMES.get(k, k if k in WANDB_KEYS else None)
            if k == "CACHE_DIR":
                self.step("dropped", f"{path}.{k}", None, WHY["CACHE_DIR"])
            elif isinstance(v, str) and v.upper().startswith("YOUR "):
                self.step("dropped", f"{path}.{k}", None, f"a template placeholder ({v!r})")
            elif new_key is None:
                self.step("dropped", f"{path}.{k}", None, f"meta.wandb accepts {', '.join(WANDB_KEYS)}")
            else:
                self.move(f"{path}.{k}", f"meta.wandb.{new_key}", v, "W&B settings", action="renamed")

    def old_section(self, key: str, value: Any) -> None:
        """``training`` / ``validation`` / ``testing``: the sections of the original's first format."""
        if value in ({}, None):
            self.step("dropped", key, None, "empty")
            return
        new = {"training": "train", "testing": "test"}.get(key)
        self.move(key, f"user.{key}", value, "kept under user for your own code")
        self.step(
            "todo",
            key,
            new,
            "a section of the original's first format, read by executors of that time: move the settings "
            + (
                f"your executor needs into {new} (see docs/migrating.md)"
                if new
                else "into train (validation "
                "runs every epoch: train.trainer_paras.check_val_every_n_epoch, train.val_batch_size)"
            ),
        )

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


def original_config_hint(data: Any, source: str | Path | None = None) -> str | None:
    """A hint pointing to ``runway migrate`` when ``data`` looks like a config of the original framework.

    >>> original_config_hint({"experiment_name": "x"}, "old.jsonnet")
    'this looks like a config of the original runway_for_ml: `runway migrate old.jsonnet -o NEW.jsonnet` rewrites it'
    """
    if not isinstance(data, Mapping):
        return None
    meta = data.get("meta")
    original = any(k in data for k in ORIGINAL_TOP_KEYS) or (
        isinstance(meta, Mapping) and any(k in meta for k in ORIGINAL_META_KEYS)
    )
    if not original:
        return None
    return (
        "this looks like a config of the original runway_for_ml: "
        f"`runway migrate {source or 'OLD_CONFIG'} -o NEW.jsonnet` rewrites it"
    )


def migrate_config(
    old: Mapping[str, Any], *, already_migrated: bool = False, experiment: str | None = None
) -> Migration:
    """Map an original-runway config (a dict) to this project's format. Nothing is evaluated as code.

    ``already_migrated``: the config comes from a file ``runway migrate`` wrote (its first line is the
    marker), so rules that shift a value the original read differently are not applied again.
    ``experiment``: the name the result will run under (``runway migrate -o``'s file name).
    """
    if not isinstance(old, Mapping):
        raise ConfigError(f"the config must be an object, found {type(old).__name__}")
    migrator = _Migrator(old, already_migrated=already_migrated)
    migrator.experiment = experiment
    return migrator.run()


def migrate_file(path: str | Path, *, experiment: str | None = None) -> Migration:
    """Evaluate an original config file (.jsonnet / .libsonnet / .json) and migrate it."""
    source = Path(path)
    if not source.is_file():
        raise ConfigError(
            f"{source}: no such config file",
            hint="give the original experiment config, e.g. configs/exp_configs/my_experiment.jsonnet",
        )
    data = evaluate_jsonnet(source, search_dirs=[source.parent, source.parent.parent])
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must evaluate to an object, found {type(data).__name__}")
    marked = source.read_text(encoding="utf-8", errors="replace").startswith(MIGRATED_MARKER)
    return migrate_config(data, already_migrated=marked, experiment=experiment)


def render_report(migration: Migration, *, show_kept: bool = False) -> str:
    """Key by key: what moved, was renamed, converted, set or dropped and why (kept keys summarised).

    A config with nothing to change reports just that (its notes, which describe the original's
    behaviour, do not apply to a file that is already in this format).
    """
    if not migration.changed:
        return "nothing to migrate: every key is already in this project's format"
    lines = [step.describe() for step in migration.steps if show_kept or step.action != "kept"]
    kept = [s.old for s in migration.steps if s.action == "kept"]
    if kept and not show_kept:
        lines.append(f"kept      {len(kept)} key(s) unchanged: {', '.join(kept)}")
    return "\n".join(lines)


def render_config(
    migration: Migration,
    source: str | Path | None = None,
    *,
    experiment: str | None = None,
    remaining: list[str] | None = None,
) -> str:
    """The new config as a formatted jsonnet file.

    The header says where it came from, lists the dropped keys (with their values), what is still to
    fix (``remaining``: lines from the checks, e.g. transforms to register) and the command to run;
    every changed key carries a ``//`` comment with the original key and value. ``experiment`` is the
    name the file will run under (the ``-o`` file's name; default: the original's experiment_name).
    """

    head = [MIGRATED_MARKER + (f" from {source}" if source else "") + "."]
    name = experiment or migration.experiment_name
    if name:
        head.append(f"// Run it from a runway project as configs/experiments/{name}.jsonnet: runway-train {name}")
    attached: dict[str, list[str]] = {}
    unattached: list[str] = []
    for step in migration.changed:
        if step.action in ("dropped", "todo") or not step.new:
            continue
        attached.setdefault(step.new, []).append(f"{step.origin()}: {step.why}" if step.why else step.origin())
    body, used = render_jsonnet(migration.config, attached)
    for step in migration.changed:
        if step.action in ("moved", "renamed", "converted", "set") and step.new and step.new not in used:
            unattached.append(f"//   {step.action:<9} {step.origin()} -> {step.new}: {step.why}")
    dropped = [s for s in migration.changed if s.action == "dropped"]
    if dropped:
        head.append("// Dropped (original key = value: why):")
        head += [f"//   {s.origin()}: {s.why}" for s in dropped]
    if unattached:
        head.append("// Changed (where no key remains to carry the comment):")
        head += unattached
    notes = [s for s in migration.steps if s.action == "note"]
    if notes:
        head.append("// Behaviour of the original that no setting here expresses (nothing to do):")
        head += [f"//   {s.origin()}: {s.why}" for s in notes]
    todo = [f"{s.origin()}: {s.why}" for s in migration.todo] + list(remaining or [])
    if todo:
        head.append("// Still to fix before it runs (runway migrate exits 1 until then):")
        head += [f"//   {line}" for line in todo]
    return "\n".join(head) + "\n" + body + "\n"
