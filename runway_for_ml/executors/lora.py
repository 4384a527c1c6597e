"""LoRA adapters through ``peft``: ``train.lora`` (or the original's ``train.use_lora`` + ``lora_config``).

::

    train: {
      lora: { r: 8, alpha: 16, dropout: 0.1, target_modules: ['query', 'value'] },
    },
    test: { merge_lora: true },   // merge the adapters into the weights for inference (default)

The original runway's form is accepted too: ``train: { use_lora: true, lora_config: { r: 8,
lora_alpha: 16, lora_dropout: 0.1, target_modules: [...] } }`` (peft ``LoraConfig`` names).

>>> lora_settings({"train": {"lora": {"r": 4, "target_modules": ["query"]}}})["lora_alpha"]
8
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from runway_for_ml.errors import ConfigError, check_keys, did_you_mean

__all__ = ["LORA_KEYS", "apply_lora", "check_target_modules", "lora_settings", "merged_copy"]

# Our short names -> peft LoraConfig names.
_SHORT = {"r": "r", "alpha": "lora_alpha", "dropout": "lora_dropout", "target_modules": "target_modules"}
_EXTRA = ("bias", "modules_to_save", "use_rslora", "init_lora_weights")
LORA_KEYS = (*_SHORT, *_EXTRA)
_PEFT_KEYS = ("r", "lora_alpha", "lora_dropout", "target_modules", *_EXTRA, "task_type", "fan_in_fan_out")


def lora_settings(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """peft ``LoraConfig`` keyword arguments from the config, or ``None`` when LoRA is off.

    ``train.lora`` wins; otherwise ``train.use_lora: true`` with ``train.lora_config``.
    """
    train = config.get("train") or {}
    lora = train.get("lora")
    if lora is not None and lora is not False:
        if lora is True:
            lora = {}
        if not isinstance(lora, Mapping):
            raise ConfigError(f"train.lora: expected an object {{r, alpha, dropout, target_modules}}, found {lora!r}")
        check_keys(lora, LORA_KEYS, "train.lora", hint="LoRA settings: r, alpha, dropout, target_modules")
        kwargs = {_SHORT.get(key, key): value for key, value in lora.items()}
        where = "train.lora"
    elif train.get("use_lora"):
        kwargs = dict(train.get("lora_config") or {})
        check_keys(kwargs, _PEFT_KEYS, "train.lora_config", hint="peft LoraConfig arguments")
        kwargs.pop("task_type", None)  # the executor knows its task
        where = "train.lora_config"
    else:
        return None
    kwargs.setdefault("r", 8)
    kwargs.setdefault("lora_alpha", 2 * int(kwargs["r"]))
    kwargs.setdefault("lora_dropout", 0.0)
    if not isinstance(kwargs["r"], int) or isinstance(kwargs["r"], bool) or kwargs["r"] < 1:
        raise ConfigError(f"{where}.r: expected a positive integer, found {kwargs['r']!r}")
    if not isinstance(kwargs["lora_dropout"], (int, float)) or not 0 <= kwargs["lora_dropout"] < 1:
        raise ConfigError(f"{where}.dropout: expected a number in [0, 1), found {kwargs['lora_dropout']!r}")
    targets = kwargs.get("target_modules")
    if isinstance(targets, str):
        kwargs["target_modules"] = [targets]
    elif targets is not None and not (isinstance(targets, list) and all(isinstance(t, str) for t in targets)):
        raise ConfigError(f"{where}.target_modules: expected a list of module names, found {targets!r}")
    kwargs["_where"] = where
    return kwargs


def _linear_names(model: Any) -> list[str]:
    """Names of the modules LoRA can adapt (linear / conv / embedding layers), last path part, sorted."""
    import torch

    kinds = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d)
    names: set[str] = set()
    for name, module in model.named_modules():
        if name and (isinstance(module, kinds) or type(module).__name__ == "Conv1D"):
            names.add(name.rsplit(".", 1)[-1])
    return sorted(names)


def check_target_modules(model: Any, settings: Mapping[str, Any]) -> None:
    """Every ``target_modules`` entry must match a module of ``model`` (as peft matches: a name suffix)."""
    targets: Iterable[str] | None = settings.get("target_modules")
    if not targets:
        return
    where = settings.get("_where", "train.lora")
    module_names = [name for name, _ in model.named_modules() if name]
    for target in targets:
        if not any(
            name == target or name.endswith("." + target) or re.fullmatch(target, name) for name in module_names
        ):
            candidates = _linear_names(model)

            raise ConfigError(
                f"{where}.target_modules: '{target}' matches no module of {type(model).__name__}"
                f"{did_you_mean(target, candidates)}",
                hint=f"modules LoRA can adapt: {', '.join(candidates)}",
            )


def apply_lora(model: Any, settings: Mapping[str, Any], task_type: str) -> Any:
    """Wrap ``model`` with LoRA adapters (peft ``get_peft_model``); only the adapters (and head) train."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ConfigError(
            "train.lora needs the 'peft' package", hint="pip install 'runway_for_ml[text]' (or pip install peft)"
        ) from exc
    check_target_modules(model, settings)
    kwargs = {k: v for k, v in settings.items() if not k.startswith("_")}
    try:
        lora_config = LoraConfig(task_type=task_type, **kwargs)
        return get_peft_model(model, lora_config)
    except ValueError as exc:
        where = settings.get("_where", "train.lora")
        raise ConfigError(f"{where}: peft refuses these LoRA settings: {exc}") from exc


def merged_copy(model: Any) -> Any:
    """A plain ``transformers`` model with the LoRA adapters of ``model`` merged in (``model`` is unchanged)."""
    import copy

    return copy.deepcopy(model).merge_and_unload()


def is_peft(model: Any) -> bool:
    """Whether ``model`` carries peft adapters."""
    return hasattr(model, "peft_config") and hasattr(model, "merge_and_unload")
