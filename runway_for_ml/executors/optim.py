"""Optimizer and learning-rate schedule from ``train.optimizer_config``.

The config names any ``torch.optim`` optimizer (or a dotted path to one) and one of a few
schedules, each a :class:`torch.optim.lr_scheduler.LambdaLR` stepped once per optimizer step::

    optimizer_config: {
      optimizer_name: "AdamW",
      optimizer_params: { lr: 1e-3, weight_decay: 0.01 },
      scheduler: "linear",                      // linear | cosine | constant | none
      scheduler_params: { num_warmup_steps: 10 },
    }

>>> import torch
>>> opt = build_optimizer(torch.nn.Linear(2, 1).parameters(), {"optimizer_name": "SGD", "optimizer_params": {"lr": 0.1}})
>>> sched = build_scheduler(opt, {"scheduler": "linear", "scheduler_params": {"num_warmup_steps": 2}}, total_steps=10)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from runway_for_ml.errors import ConfigError, check_choice, check_keys, did_you_mean
from runway_for_ml.registry import import_dotted

__all__ = ["SCHEDULES", "build_optimizer", "build_scheduler", "optimizer_names"]

_WHERE = "train.optimizer_config"
_KNOWN_KEYS = ("optimizer_name", "optimizer_params", "scheduler", "scheduler_params")
_SCHEDULER_PARAMS = ("num_warmup_steps", "warmup_ratio", "num_training_steps", "num_cycles", "min_lr_ratio")


def optimizer_names() -> list[str]:
    """Names of the optimizer classes in ``torch.optim`` (``"Adam"``, ``"AdamW"``, ``"SGD"``, ...)."""
    return sorted(
        name
        for name, obj in vars(torch.optim).items()
        if isinstance(obj, type) and issubclass(obj, torch.optim.Optimizer) and obj is not torch.optim.Optimizer
    )


def _check_keys(optimizer_config: Mapping[str, Any]) -> None:
    check_keys(optimizer_config, _KNOWN_KEYS, _WHERE)


def _optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    candidate = getattr(torch.optim, name, None)
    if candidate is None and "." in name:
        candidate = import_dotted(name, what="optimizer")
    if not (isinstance(candidate, type) and issubclass(candidate, torch.optim.Optimizer)):
        raise ConfigError(
            f"unknown optimizer '{name}' in {_WHERE}.optimizer_name{did_you_mean(name, optimizer_names())}",
            hint="use a class name from torch.optim (e.g. 'AdamW', 'SGD') or a dotted path to an Optimizer subclass",
        )
    return candidate


def build_optimizer(params: Iterable[Any], optimizer_config: Mapping[str, Any] | None) -> torch.optim.Optimizer:
    """Build the optimizer named by ``optimizer_config["optimizer_name"]`` (default ``"AdamW"``).

    ``params`` are model parameters or parameter groups. ``optimizer_params`` are passed as keyword
    arguments; a misspelt one is reported with the optimizer's valid arguments.

    >>> import torch
    >>> build_optimizer(torch.nn.Linear(2, 1).parameters(), {"optimizer_params": {"lr": 0.01}}).defaults["lr"]
    0.01
    """
    optimizer_config = dict(optimizer_config or {})
    _check_keys(optimizer_config)
    name = str(optimizer_config.get("optimizer_name") or "AdamW")
    cls = _optimizer_class(name)
    kwargs = dict(optimizer_config.get("optimizer_params") or {})
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "params")]
    for key in kwargs:
        if key not in valid:
            raise ConfigError(
                f"{name} has no argument '{key}' ({_WHERE}.optimizer_params.{key}){did_you_mean(key, valid)}",
                hint=f"valid arguments of {name}: {', '.join(valid)}",
            )
    try:
        return cls(params, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cannot build optimizer {name} from {_WHERE}.optimizer_params={kwargs}: {exc}") from exc


def _linear(warmup: int, total: int, min_ratio: float, _cycles: float) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        return max(min_ratio, 1.0 - progress * (1.0 - min_ratio))

    return factor


def _cosine(warmup: int, total: int, min_ratio: float, cycles: float) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        cosine = 0.5 * (1.0 + math.cos(math.pi * 2.0 * cycles * progress))
        return min_ratio + (1.0 - min_ratio) * cosine

    return factor


def _constant(warmup: int, _total: int, _min_ratio: float, _cycles: float) -> Callable[[int], float]:
    def factor(step: int) -> float:
        return (step + 1) / (warmup + 1) if step < warmup else 1.0

    return factor


# name -> factory(num_warmup_steps, num_training_steps, min_lr_ratio, num_cycles) -> lr multiplier of the step
SCHEDULES: dict[str, Callable[[int, int, float, float], Callable[[int], float]]] = {
    "linear": _linear,
    "cosine": _cosine,
    "constant": _constant,
}


def build_scheduler(
    optimizer: torch.optim.Optimizer, optimizer_config: Mapping[str, Any] | None, total_steps: int | None = None
) -> torch.optim.lr_scheduler.LambdaLR | None:
    """Build the per-step schedule named by ``optimizer_config["scheduler"]``; ``None`` for ``"none"``.

    During ``num_warmup_steps`` (or ``warmup_ratio * total``) the multiplier rises linearly to 1; then
    ``linear`` decays it to ``min_lr_ratio`` (default 0) at ``num_training_steps``, ``cosine`` follows a
    half cosine (``num_cycles`` 0.5), ``constant`` stays at 1. ``num_training_steps`` defaults to
    ``total_steps`` (the executor passes ``trainer.estimated_stepping_batches``).

    >>> import torch
    >>> opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
    >>> s = build_scheduler(opt, {"scheduler": "constant", "scheduler_params": {"num_warmup_steps": 1}}, 4)
    >>> opt.param_groups[0]["lr"]
    0.5
    """
    optimizer_config = dict(optimizer_config or {})
    _check_keys(optimizer_config)
    name = optimizer_config.get("scheduler") or "none"
    name = str(name).lower()
    if name == "none":
        return None
    check_choice(name, [*SCHEDULES, "none"], f"{_WHERE}.scheduler", what="scheduler")
    params = dict(optimizer_config.get("scheduler_params") or {})
    check_keys(params, _SCHEDULER_PARAMS, f"{_WHERE}.scheduler_params")
    total = params.get("num_training_steps", total_steps)
    if total is None or not math.isfinite(float(total)) or int(total) <= 0:
        raise ConfigError(
            f"scheduler '{name}' needs the number of training steps, found {total!r}",
            hint=f"set {_WHERE}.scheduler_params.num_training_steps or train.trainer_paras.max_epochs / max_steps",
        )
    total = int(total)
    warmup = params.get("num_warmup_steps")
    if warmup is None:
        warmup = int(float(params.get("warmup_ratio", 0.0)) * total)
    factor = SCHEDULES[name](
        int(warmup), total, float(params.get("min_lr_ratio", 0.0)), float(params.get("num_cycles", 0.5))
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
