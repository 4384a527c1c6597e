"""Optimizer and schedule building from train.optimizer_config."""

from __future__ import annotations

import itertools

import pytest
import torch

from runway_for_ml.errors import ConfigError
from runway_for_ml.executors.optim import build_optimizer, build_scheduler, optimizer_names


def _params():
    return torch.nn.Linear(3, 2).parameters()


def _lrs(optimizer, scheduler, steps: int) -> list[float]:
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_any_torch_optimizer_by_name_with_params():
    opt = build_optimizer(_params(), {"optimizer_name": "SGD", "optimizer_params": {"lr": 0.5, "momentum": 0.9}})
    assert isinstance(opt, torch.optim.SGD)
    assert opt.defaults["momentum"] == 0.9
    assert isinstance(build_optimizer(_params(), {}), torch.optim.AdamW)
    assert isinstance(build_optimizer(_params(), {"optimizer_name": "torch.optim.Adagrad"}), torch.optim.Adagrad)
    assert "AdamW" in optimizer_names() and "Optimizer" not in optimizer_names()


def test_unknown_optimizer_and_argument_suggest_fixes():
    with pytest.raises(ConfigError, match=r"unknown optimizer 'AdamX'.*did you mean 'Adam'") as info:
        build_optimizer(_params(), {"optimizer_name": "AdamX"})
    assert "train.optimizer_config.optimizer_name" in str(info.value)
    with pytest.raises(ConfigError, match=r"AdamW has no argument 'weight_decy'.*did you mean 'weight_decay'"):
        build_optimizer(_params(), {"optimizer_params": {"weight_decy": 0.1}})
    with pytest.raises(ConfigError, match=r"train.optimizer_config.schedular: unknown key.*did you mean 'scheduler'"):
        build_optimizer(_params(), {"schedular": "linear"})


def test_linear_schedule_warms_up_then_decays_to_zero():
    opt = torch.optim.SGD(_params(), lr=1.0)
    sched = build_scheduler(opt, {"scheduler": "linear", "scheduler_params": {"num_warmup_steps": 3}}, total_steps=8)
    lrs = _lrs(opt, sched, 9)
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # warm-up rises to the configured lr
    assert lrs[3:] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2, 0.0])  # then linear decay to 0 at step 8
    assert all(a >= b for a, b in itertools.pairwise(lrs[3:]))


def test_cosine_constant_none_and_ratio():
    opt = torch.optim.SGD(_params(), lr=2.0)
    sched = build_scheduler(opt, {"scheduler": "cosine"}, total_steps=4)
    assert _lrs(opt, sched, 5) == pytest.approx([2.0, 2 * 0.8535534, 1.0, 2 * 0.1464466, 0.0])
    opt = torch.optim.SGD(_params(), lr=1.0)
    sched = build_scheduler(opt, {"scheduler": "constant", "scheduler_params": {"warmup_ratio": 0.5}}, total_steps=4)
    assert _lrs(opt, sched, 4) == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])
    assert build_scheduler(torch.optim.SGD(_params(), lr=1.0), {"scheduler": "none"}, 10) is None
    assert build_scheduler(torch.optim.SGD(_params(), lr=1.0), {}, None) is None


def test_scheduler_errors():
    opt = torch.optim.SGD(_params(), lr=1.0)
    with pytest.raises(ConfigError, match=r"unknown scheduler 'cosin'.*did you mean 'cosine'"):
        build_scheduler(opt, {"scheduler": "cosin"}, 10)
    with pytest.raises(ConfigError, match=r"scheduler_params.num_warmup.*did you mean 'num_warmup_steps'"):
        build_scheduler(opt, {"scheduler": "linear", "scheduler_params": {"num_warmup": 2}}, 10)
    with pytest.raises(ConfigError, match="needs the number of training steps"):
        build_scheduler(opt, {"scheduler": "linear"}, None)
