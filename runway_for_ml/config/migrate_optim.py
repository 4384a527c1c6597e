"""``runway migrate``: the original's effective optimizer and learning-rate schedule, written out here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runway_for_ml.config.migrate_rules import ORIGINAL_OPTIMIZERS, TRANSFORMERS_ADAFACTOR, MigratorBase

__all__ = ["OptimizerSection"]


class OptimizerSection(MigratorBase):
    """train.optimizer_config: where the same optimizer or scheduler name means something else here."""

    def optimizer(self) -> None:
        """Write the original's effective optimizer and schedule where the same name means something else here.

        The original's BaseExecutor built ``AdamW`` and ``Adafactor`` from transformers and ``Adam`` from
        torch, and any ``scheduler`` other than ``linear`` / ``cosine`` was a constant schedule after
        ``num_warmup_steps`` (its LambdaLR started one step ahead: last_epoch=0).
        """
        train = self.new.get("train")
        oc = train.get("optimizer_config") if isinstance(train, dict) else None
        if not isinstance(oc, dict):
            return
        base = "train.optimizer_config"
        name = oc.get("optimizer_name")
        params = oc.get("optimizer_params")
        params = dict(params) if isinstance(params, Mapping) else {}
        if name == "AdamW":
            self.adamw_params(base, params)
        elif name == "Adafactor":
            oc["optimizer_name"] = TRANSFORMERS_ADAFACTOR
            self.step(
                "converted",
                f"{base}.optimizer_name",
                f"{base}.optimizer_name",
                "the original's Adafactor was transformers' (relative_step, scale_parameter, warmup_init ...); "
                "Adafactor here is torch.optim.Adafactor, another algorithm, so transformers' is named by its path",
            )
        elif name is not None and name not in ORIGINAL_OPTIMIZERS and "." not in str(name):
            self.step(
                "note",
                f"{base}.optimizer_name",
                None,
                f"the original accepted AdamW, Adafactor and Adam only (it stopped with ValueError for '{name}'); "
                f"here '{name}' is torch.optim.{name}",
            )
        if params or "optimizer_params" in oc:
            oc["optimizer_params"] = params
        self.schedule(oc, base)

    def adamw_params(self, base: str, params: dict[str, Any]) -> None:
        """The original's AdamW (transformers') defaults, and its options torch's AdamW lacks (``params`` in place)."""
        what, theirs, ours = ORIGINAL_OPTIMIZERS["AdamW"]
        for key, value in theirs.items():
            if key not in params:
                params[key] = value
                self.step(
                    "set",
                    f"{base}.optimizer_name",
                    f"{base}.optimizer_params.{key}",
                    f"the original's AdamW was {what} ({key} {value}); AdamW here is torch.optim.AdamW "
                    f"({key} {ours[key]} by default)",
                )
        if "correct_bias" in params:
            correct = params.pop("correct_bias")
            if correct:
                self.step(
                    "dropped",
                    f"{base}.optimizer_params.correct_bias",
                    None,
                    "torch's AdamW always corrects the bias",
                )
            else:
                self.step(
                    "todo",
                    f"{base}.optimizer_params.correct_bias",
                    None,
                    "torch's AdamW always corrects the bias; for correct_bias: false name an optimizer class "
                    "that supports it in optimizer_name (a dotted path)",
                )
        if "no_deprecation_warning" in params:
            params.pop("no_deprecation_warning")
            self.step("dropped", f"{base}.optimizer_params.no_deprecation_warning", None, "a transformers option")

    def schedule(self, oc: dict[str, Any], base: str) -> None:
        scheduler = oc.get("scheduler")
        sp = oc.get("scheduler_params")
        sp = dict(sp) if isinstance(sp, Mapping) else {}
        warmup = sp.get("num_warmup_steps", 0)
        warmup = warmup if isinstance(warmup, int) and not isinstance(warmup, bool) else 0
        where = f"{base}.scheduler_params.num_warmup_steps"
        if scheduler == "cosine":
            self.step(
                "note",
                f"{base}.scheduler",
                None,
                "the original's 'cosine' stopped with NameError (optim is not imported in its base_executor), "
                "so no result used it; here 'cosine' is a half cosine to 0 over the training steps after the warmup",
            )
            return
        if scheduler == "linear":
            self.step(
                "note",
                f"{base}.scheduler",
                None,
                "the original's linear schedule ran one step ahead (its LambdaLR started at last_epoch=0): its "
                "lr reached 0 at the last step; here the last step keeps 1/(steps - warmup) of the peak. "
                "The difference depends on the number of steps, so no setting expresses it",
            )
            self.shift_warmup(
                oc,
                sp,
                where,
                warmup,
                f"the same warmup ramp: the original's started one step ahead (last_epoch=0), so its {warmup} "
                f"warmup steps reach the peak lr at the step where {warmup - 1} do here",
            )
            return
        self.constant_schedule(oc, sp, base, warmup)

    def shift_warmup(self, oc: dict[str, Any], sp: dict[str, Any], where: str, warmup: int, why: str) -> None:
        """One warmup step fewer than the original (its LambdaLR started one step ahead), unless already migrated."""
        if warmup >= 1 and not self.already_migrated:
            sp["num_warmup_steps"] = warmup - 1
            oc["scheduler_params"] = sp
            self.step("converted", where, where, why)

    def constant_schedule(self, oc: dict[str, Any], sp: dict[str, Any], base: str, warmup: int) -> None:
        """Any scheduler name but linear / cosine (or none): the original's constant lr after num_warmup_steps."""
        scheduler = oc.get("scheduler")
        where = f"{base}.scheduler_params.num_warmup_steps"
        if scheduler not in (None, "constant", "none"):
            why = (
                f"the original ran any scheduler other than linear / cosine ('{scheduler}' included) as a "
                "constant lr after num_warmup_steps"
            )
            oc["scheduler"] = "constant" if warmup > 1 else "none"
            self.step("converted", f"{base}.scheduler", f"{base}.scheduler", why)
        self.shift_warmup(
            oc,
            sp,
            where,
            warmup,
            f"the same lr at every step: the original's warmup started one step ahead (its LambdaLR "
            f"started at last_epoch=0), so its {warmup} warmup steps are {warmup - 1} here",
        )
        if warmup > 1 and not self.already_migrated and oc.get("scheduler") in (None, "none"):
            oc["scheduler"] = "constant"
            self.step(
                "set",
                f"{base}.scheduler_params.num_warmup_steps",
                f"{base}.scheduler",
                "the original warmed up with no scheduler named (a constant schedule); here no scheduler "
                "means no warmup",
            )
