"""``runway migrate``: the executor, model, train, test and eval sections of an original config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runway_for_ml.config.migrate_optim import OptimizerSection
from runway_for_ml.config.migrate_rules import (
    LORA_EXTRA,
    LORA_RENAMES,
    TEST_OBSOLETE,
    TRAIN_OBSOLETE,
    WHY,
)


class TrainingSections(OptimizerSection):
    """executor (and model_config), train (and LoRA), test, eval and metrics; the optimizer rules inherited."""

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
                                ipath, "train.trainer_paras.precision", "16-mixed", WHY["use_fp16"], action="converted"
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
        if "early_stop_patience" in train or "early_stopping_callback_paras" in train:
            self.early_stopping(train.pop("early_stop_patience", 0), train.pop("early_stopping_callback_paras", None))
        for k, v in train.items():
            path = f"train.{k}"
            if k == "epochs":
                self.move(path, "train.trainer_paras.max_epochs", v, "Lightning's max_epochs", action="renamed")
            elif k == "lr":
                self.move(path, "train.optimizer_config.optimizer_params.lr", v, "optimizer settings", action="renamed")
            elif k == "adam_epsilon":
                self.move(
                    path, "train.optimizer_config.optimizer_params.eps", v, "the optimizer's eps", action="renamed"
                )
            elif k == "scheduler" and isinstance(v, str):
                if v == "none":
                    self.step("dropped", path, None, "no scheduler is the default")
                else:
                    self.move(path, "train.optimizer_config.scheduler", v, "optimizer settings")
            elif k == "trainer_paras" and isinstance(v, Mapping):
                paras = {pk: pv for pk, pv in v.items() if pk != "default_root_dir"}
                if "default_root_dir" in v:
                    self.step("dropped", f"{path}.default_root_dir", None, WHY["default_root_dir"])
                paras = self.val_check_interval(path, paras)
                for pk, pv in paras.items():
                    self.put(f"{path}.{pk}", pv, overwrite=False)
                self.step("kept", path, path)
            elif k == "model_checkpoint_callback_paras" and isinstance(v, Mapping):
                paras = dict(v)
                if "dirpath" in paras:
                    paras.pop("dirpath")
                    self.step("dropped", f"{path}.dirpath", None, WHY["dirpath"])
                self.keep(path, paras)
            elif k == "trainer_fit_paras":
                self.step("dropped", path, None, WHY["trainer_fit_paras"])
            elif k in TRAIN_OBSOLETE:
                self.step("dropped", path, None, "not used: checkpoints, resuming and versions are managed by runway")
            elif k in known:
                self.keep(path, v)
            else:
                self.to_user(path, v, "train")
        self.additional(additional)
        self.optimizer()
        self.val_batch_size()

    def additional(self, additional: Any) -> None:
        """``train.additional``: the original's accumulation, clipping and warmup settings."""
        if not isinstance(additional, Mapping):
            return
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

    def early_stopping(self, patience: Any, paras: Any) -> None:
        """The original added EarlyStopping(monitor, **early_stopping_callback_paras) when early_stop_patience > 0."""
        checkpoint = (self.old.get("train") or {}).get("model_checkpoint_callback_paras") or {}
        paras = dict(paras) if isinstance(paras, Mapping) else {}
        monitor = checkpoint.get("monitor") or paras.get("monitor")
        olds = [
            k for k in ("early_stop_patience", "early_stopping_callback_paras") if k in (self.old.get("train") or {})
        ]
        if not (isinstance(patience, (int, float)) and patience > 0 and monitor):
            for key in olds:
                self.step(
                    "dropped",
                    f"train.{key}",
                    None,
                    "the original added no early stopping (it needs early_stop_patience > 0 and a monitor)",
                )
            return
        early = {**paras, "monitor": monitor}
        for key in olds:
            self.move(
                f"train.{key}",
                "train.early_stopping",
                early,
                "Lightning's EarlyStopping arguments "
                "(patience from early_stopping_callback_paras, as in the original: default 3)",
                action="converted",
            )
        self.step(
            "note",
            "train.early_stop_patience",
            None,
            "the original never imported EarlyStopping (its experiment.py stopped with NameError here); "
            "train.early_stopping is what it meant to add",
        )

    def val_check_interval(self, path: str, paras: dict[str, Any]) -> dict[str, Any]:
        """The original multiplied ``val_check_interval`` by ``accumulate_grad_batches`` (optimizer steps)."""
        every, accumulate = paras.get("val_check_interval"), paras.get("accumulate_grad_batches", 1)
        if (
            isinstance(every, int)
            and not isinstance(every, bool)
            and isinstance(accumulate, int)
            and accumulate > 1
            and not self.already_migrated
        ):
            paras = {**paras, "val_check_interval": every * accumulate}
            self.step(
                "converted",
                f"{path}.val_check_interval",
                f"{path}.val_check_interval",
                f"the original passed val_check_interval * accumulate_grad_batches ({every} * {accumulate}) to "
                "Lightning (validation every N optimizer steps); Lightning counts batches",
            )
        return paras

    def val_batch_size(self) -> None:
        """The original's validation loader used train.batch_size; here train.val_batch_size says it."""
        train = self.new.get("train")
        if not isinstance(train, dict) or "batch_size" not in train or "val_batch_size" in train:
            return
        train["val_batch_size"] = train["batch_size"]
        self.step(
            "set",
            "train.batch_size",
            "train.val_batch_size",
            "the original's validation loader used train.batch_size; here validation batches are train.val_batch_size",
            was=train["batch_size"],
        )

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
        prefix, config = self.single_lora_config("train.lora_config", dict(lora_config or {}))
        lora: dict[str, Any] = {}
        if not config.get("target_modules") and "target_modules" in config and config.get("suffices_to_lora"):
            config.pop("target_modules")  # the original's empty list meant "use suffices_to_lora"
        for k, v in config.items():
            if k in LORA_RENAMES:
                lora[LORA_RENAMES[k]] = v
                if LORA_RENAMES[k] != k:
                    self.step("renamed", f"{prefix}.{k}", f"train.lora.{LORA_RENAMES[k]}")
            elif k == "suffices_to_lora":
                if not config.get("target_modules"):
                    lora["target_modules"] = v
                    self.step("renamed", f"{prefix}.{k}", "train.lora.target_modules", "module names to adapt")
                else:
                    self.step("dropped", f"{prefix}.{k}", None, "target_modules is given")
            elif k in LORA_EXTRA:
                lora[k] = v
            elif k == "task_type":
                self.step("dropped", f"{prefix}.{k}", None, "the executor knows its task")
            else:
                self.step(
                    "dropped",
                    f"{prefix}.{k}",
                    None,
                    f"train.lora accepts r, alpha, dropout, target_modules, {', '.join(LORA_EXTRA)}",
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

    def single_lora_config(self, prefix: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The original allowed one LoRA config per sub-model (``{"unet": {...}}``); take the single one."""
        nested = [k for k, v in config.items() if isinstance(v, Mapping)]
        if nested and len(config) == len(nested):
            if len(nested) > 1:
                self.step(
                    "todo",
                    prefix,
                    "train.lora",
                    f"one LoRA config per model here; kept '{nested[0]}', dropped {nested[1:]}",
                )
            else:
                self.step("converted", f"{prefix}.{nested[0]}", "train.lora", "one LoRA config per model here")
            prefix = f"{prefix}.{nested[0]}"
            config = dict(config[nested[0]])
        return prefix, config

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
            elif k == "load_model_path" and v and "checkpoint_name" not in test:
                self.move(path, "test.checkpoint", str(v), "a checkpoint file to test", action="renamed")
            elif k == "load_best_model" and v and "checkpoint_name" not in test and not test.get("load_model_path"):
                self.move(
                    path,
                    "test.checkpoint",
                    "best",
                    "the original loaded saved_models/best.ckpt; here 'best' is the best checkpoint by "
                    "train.model_checkpoint_callback_paras.monitor",
                    action="converted",
                )
            elif k in TEST_OBSOLETE:
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
                placeholder = isinstance(v, str) and v.strip().lower().startswith("your ")
                self.step(
                    "dropped", path, None, f"a template placeholder ({v!r})" if placeholder else WHY["eval_pipeline"]
                )
                dropped_pipeline = dropped_pipeline or not placeholder
            elif k in known:
                self.keep(path, v)
            else:
                self.to_user(path, v, "eval")
        if dropped_pipeline and "metrics" not in ev:
            self.step(
                "todo",
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
