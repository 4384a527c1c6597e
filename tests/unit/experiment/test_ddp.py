"""experiment/ddp.py: SLURM host lists, the missing-node message, the DDP strategy and its rendezvous bound."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from runway_for_ml.experiment.ddp import (
    DEFAULT_DDP_TIMEOUT_S,
    ddp_strategy,
    expand_nodelist,
    missing_ranks_message,
)


@pytest.mark.parametrize(
    ("nodelist", "hosts"),
    [
        ("runway-n[1-2]", ["runway-n1", "runway-n2"]),
        ("gpu[01-03,07]", ["gpu01", "gpu02", "gpu03", "gpu07"]),
        ("a,b[2-3],c", ["a", "b2", "b3", "c"]),
        ("node5", ["node5"]),
        ("", []),
    ],
)
def test_expand_nodelist(nodelist, hosts):
    assert expand_nodelist(nodelist) == hosts


def test_missing_ranks_are_named_by_their_slurm_node(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_NODELIST", "n[1-2]")
    for rank in (0, 1):  # the first node's ranks left their markers; the second node's never started
        (tmp_path / f"rank-{rank}.json").write_text(json.dumps({"rank": rank, "node": "n1"}))
    message = missing_ranks_message(tmp_path, world_size=4, processes_per_node=2, timeout_s=30, this_rank=0)
    assert "did not complete within train.ddp_timeout_s=30 s" in message
    assert "node n2 did not join (ranks 2, 3)" in message
    assert "n1 did not join" not in message


def test_every_rank_started_but_could_not_connect(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_NODELIST", raising=False)
    monkeypatch.delenv("SLURM_NODELIST", raising=False)
    monkeypatch.setenv("MASTER_ADDR", "badhost")
    for rank in (0, 1):
        (tmp_path / f"rank-{rank}.json").write_text(json.dumps({"rank": rank, "node": f"h{rank}"}))
    message = missing_ranks_message(tmp_path, world_size=2, processes_per_node=1, timeout_s=5, this_rank=1)
    assert "all 2 ranks started (on h0, h1) but could not connect to rank 0 at badhost" in message


def test_ddp_names_get_the_bounded_strategy_and_keep_their_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    strategy = ddp_strategy({"strategy": "ddp_find_unused_parameters_true"}, {"ddp_timeout_s": 42}, tmp_path)
    assert type(strategy).__name__ == "RunwayDDPStrategy"
    assert strategy._timeout == timedelta(seconds=42) and strategy.timeout_s == 42
    assert strategy._ddp_kwargs.get("find_unused_parameters") is True
    assert ddp_strategy({"strategy": "ddp"}, {}, None).timeout_s == DEFAULT_DDP_TIMEOUT_S == 600
    # Not DDP, or one process: left to Lightning.
    assert ddp_strategy({"strategy": "auto", "devices": 1}, {}, None) is None
    assert ddp_strategy({"strategy": "fsdp"}, {}, None) is None
    # "auto" over several nodes is what Lightning would run as ddp: bounded too.
    assert ddp_strategy({"num_nodes": 2}, {"ddp_timeout_s": 5}, None).timeout_s == 5


def test_the_strategy_pickles_by_name(tmp_path):
    import pickle

    strategy = ddp_strategy({"strategy": "ddp_spawn"}, {"ddp_timeout_s": 7}, tmp_path)
    assert pickle.loads(pickle.dumps(type(strategy))) is type(strategy)


def test_rng_states_survive_a_weights_only_load(tmp_path):
    import random

    import numpy as np
    import torch

    from runway_for_ml.experiment.ddp import collect_rng_states, restore_rng_states, rng_state_callback

    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    callback = rng_state_callback()
    torch.save({"callbacks": {callback.state_key: callback.state_dict()}}, tmp_path / "c.ckpt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    # A resume loads the checkpoint weights-only (Lightning's default with torch >= 2.6).
    loaded = torch.load(tmp_path / "c.ckpt", weights_only=True)["callbacks"][callback.state_key]
    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    callback.load_state_dict(loaded)
    callback.on_train_start(None, None)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]
    restore_rng_states({})  # nothing saved: nothing changed
    assert set(collect_rng_states()) == {"torch", "numpy", "python"}
