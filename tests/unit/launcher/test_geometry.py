"""Task geometry checked before queueing: SLURM tasks vs Lightning processes, devices requested, srun."""

from __future__ import annotations

import pytest

from runway_for_ml.errors import ConfigError
from runway_for_ml.launcher.slurm import sbatch_parameters

TWO_BY_TWO = {"num_nodes": 2, "devices": 2, "strategy": "ddp", "accelerator": "cpu"}


def test_two_by_two_fills_slurm_and_kills_on_bad_exit():
    params = sbatch_parameters({}, trainer_paras=TWO_BY_TWO)
    assert (params["nodes"], params["ntasks_per_node"]) == (2, 2)
    assert params["srun_args"] == ["--kill-on-bad-exit=1"]
    explicit = sbatch_parameters({"nodes": 2, "tasks_per_node": 2, "srun_args": ["-K0"]}, trainer_paras=TWO_BY_TWO)
    assert explicit["srun_args"] == ["-K0"]  # the user's own choice is kept
    assert "srun_args" not in sbatch_parameters({}, trainer_paras={"devices": 1})


@pytest.mark.parametrize(
    ("section", "trainer", "keys", "fix"),
    [
        (
            {"nodes": 2, "tasks_per_node": 2},
            {"devices": 2},
            ("slurm.nodes=2", "train.trainer_paras.num_nodes=1"),
            "num_nodes=2",
        ),
        ({"tasks_per_node": 1}, {"devices": 2, "num_nodes": 2}, ("slurm.tasks_per_node=1", "devices=2"), "devices=1"),
        ({"tasks_per_node": 2}, {"accelerator": "cpu"}, ("slurm.tasks_per_node=2", "devices=1"), "devices=2"),
        ({"nodes": 3}, {"num_nodes": 2}, ("slurm.nodes=3", "num_nodes=2"), "num_nodes=3"),
    ],
)
def test_tasks_must_equal_processes(section, trainer, keys, fix):
    with pytest.raises(ConfigError) as err:
        sbatch_parameters(section, trainer_paras=trainer)
    text = str(err.value)
    assert all(k in text for k in keys), text
    assert fix in err.value.hint and "nothing was queued" in err.value.hint


def test_more_gpus_than_requested():
    with pytest.raises(ConfigError, match="slurm.gpus_per_node=2") as err:
        sbatch_parameters({"gpus_per_node": 2}, trainer_paras={"devices": 4, "accelerator": "gpu"})
    assert "train.trainer_paras.devices=4" in str(err.value) and "slurm.gpus_per_node=4" in err.value.hint
    with pytest.raises(ConfigError, match="no GPU"):
        sbatch_parameters({}, trainer_paras={"devices": 1, "accelerator": "cuda"})
    # gres and gpus_per_task count as requests too
    assert sbatch_parameters({"gres": "gpu:a100:4"}, trainer_paras={"devices": 4, "accelerator": "gpu"})
    assert sbatch_parameters({"gpus_per_task": 1}, trainer_paras={"devices": 4, "accelerator": "gpu"})


def test_ddp_needs_srun_and_no_spawning():
    with pytest.raises(ConfigError, match="slurm.use_srun=false") as err:
        sbatch_parameters({"use_srun": False}, trainer_paras=TWO_BY_TWO)
    assert "train.trainer_paras.strategy" in str(err.value)
    with pytest.raises(ConfigError, match="ddp_spawn"):
        sbatch_parameters({}, trainer_paras={**TWO_BY_TWO, "strategy": "ddp_spawn"})
    # one task without srun is fine
    assert sbatch_parameters({"use_srun": False}, trainer_paras={"devices": 1})["use_srun"] is False


def test_one_process_commands_run_one_task_whatever_the_training_geometry():
    from runway_for_ml.launcher.spec import JobSpec

    config = {"train": {"trainer_paras": TWO_BY_TWO}, "slurm": {"nodes": 2, "tasks_per_node": 2, "partition": "p"}}
    train = JobSpec("train", ["train", "x"], config).sbatch_parameters()
    assert (train["nodes"], train["ntasks_per_node"]) == (2, 2)
    for command in ("infer", "eval", "prepare"):
        params = JobSpec(command, [command, "x"], config).sbatch_parameters()
        assert (params["nodes"], params["ntasks_per_node"], params["partition"]) == (1, 1, "p"), command
        assert "srun_args" not in params
