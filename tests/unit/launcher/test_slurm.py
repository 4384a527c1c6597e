"""The `slurm` section -> submitit parameters, and the golden sbatch script it produces."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.launcher.slurm import (
    check_slurm_available,
    max_requeues,
    render_sbatch,
    sbatch_parameters,
    valid_slurm_keys,
)

GOLDEN = Path(__file__).parent / "golden"

# A realistic multi-GPU section: every documented key at least once.
SECTION = {
    "partition": "gpu",
    "nodes": 2,
    "gpus_per_node": 4,
    "cpus_per_task": 8,
    "mem_gb": 64,
    "time_min": 720,
    "account": "nlp",
    "qos": "high",
    "constraint": "a100",
    "exclude": "node[01-02]",
    "setup": ["module load cuda/12.1", "source .venv/bin/activate"],
    "additional_parameters": {"mail-type": "END"},
    "max_requeues": 5,
}
TRAINER = {"devices": 4, "num_nodes": 2, "strategy": "ddp", "accelerator": "gpu"}


def _normalised_script(params: dict, folder: str) -> str:
    text = render_sbatch(params, folder)
    return text.replace(folder, "<FOLDER>").replace(shlex.quote(sys.executable), "<PYTHON>")


@pytest.mark.parametrize(
    ("name", "section", "trainer"),
    [("multi_gpu", SECTION, TRAINER), ("minimal", {}, {})],
)
def test_generated_sbatch_matches_golden_file(tmp_path, name, section, trainer):
    folder = str(tmp_path / "experiments" / "bert_V3" / "slurm" / "%j")
    params = sbatch_parameters(section, trainer_paras=trainer, job_name="runway-train-bert_V3")
    text = _normalised_script(params, folder)
    golden = GOLDEN / f"sbatch_{name}.sh"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text(), f"sbatch script changed; if intended, rerun with UPDATE_GOLDEN=1 ({golden})"


def test_renames_and_defaults():
    params = sbatch_parameters({"time_min": 30, "mem_gb": 1.5, "tasks_per_node": 1})
    assert params["time"] == 30
    assert params["mem"] == "1536MB"
    assert params["ntasks_per_node"] == 1
    assert params["additional_parameters"] == {"requeue": True}
    assert "max_requeues" not in params


def test_unknown_key_lists_valid_keys_with_did_you_mean():
    with pytest.raises(ConfigError) as err:
        sbatch_parameters({"partiton": "gpu"})
    text = str(err.value)
    assert "slurm.partiton" in text
    assert "did you mean 'partition'" in text
    for key in ("partition", "gpus_per_node", "time_min", "mem_gb", "max_requeues", "setup"):
        assert key in text


def test_raw_submitit_names_with_friendlier_spelling_are_refused():
    # `time` would be ambiguous (minutes? a string?): the section says time_min.
    with pytest.raises(ConfigError, match="time_min"):
        sbatch_parameters({"time": 10})


def test_keys_only_submitit_knows_pass_through_its_public_api():
    # Not documented by runway, validated and converted by submitit's AutoExecutor.update_parameters.
    assert not {"mail_user", "signal_delay_s", "srun_args"} & set(valid_slurm_keys())
    params = sbatch_parameters({"mail_user": "a@b.c", "signal_delay_s": 90, "srun_args": ["-K0"], "mem_gb": "500MB"})
    assert (params["mail_user"], params["signal_delay_s"], params["srun_args"], params["mem"]) == (
        "a@b.c",
        90,
        ["-K0"],
        "500MB",
    )
    for internal in ("num_gpus", "map_count", "folder"):
        with pytest.raises(ConfigError, match=f"slurm.{internal}: unknown key"):
            sbatch_parameters({internal: 1})
    with pytest.raises(ConfigError, match=r"slurm.nodes: submitit refused 'two'"):
        sbatch_parameters({"nodes": "two"})


def test_tasks_per_node_follows_devices_and_conflicts_fail():
    assert sbatch_parameters({}, trainer_paras={"devices": 2})["ntasks_per_node"] == 2
    assert sbatch_parameters({}, trainer_paras={"devices": [0, 1, 2]})["ntasks_per_node"] == 3
    assert "ntasks_per_node" not in sbatch_parameters({}, trainer_paras={"devices": "auto"})
    with pytest.raises(ConfigError, match="disagrees with train.trainer_paras.devices"):
        sbatch_parameters({"tasks_per_node": 1}, trainer_paras={"devices": 2})
    with pytest.raises(ConfigError, match="num_nodes"):
        sbatch_parameters({"nodes": 1}, trainer_paras={"num_nodes": 2})


def test_max_requeues_validation():
    assert max_requeues(None) == 3
    assert max_requeues({"max_requeues": 0}) == 0
    with pytest.raises(ConfigError):
        max_requeues({"max_requeues": -1})


def test_missing_sbatch_suggests_local_launcher(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no sbatch on PATH
    with pytest.raises(RunwayError) as err:
        check_slurm_available()
    assert "sbatch" in str(err.value) and "--launcher local" in str(err.value)


def test_render_sbatch_needs_no_slurm_and_restores_path(tmp_path, monkeypatch):
    """The script comes from submitit's public submit() to a stand-in sbatch: no SLURM, nothing queued, PATH kept."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no sbatch, no srun
    folder = str(tmp_path / "v" / "slurm" / "%j")
    text = render_sbatch(sbatch_parameters({"partition": "gpu", "time_min": 5}), folder)
    assert os.environ["PATH"] == str(tmp_path / "empty-bin")
    assert text.startswith("#!/bin/bash") and "#SBATCH --partition=gpu" in text and "#SBATCH --time=5" in text
    assert f"#SBATCH --output={folder}/%j_0_log.out" in text
    assert not (tmp_path / "v").exists(), "rendering writes nothing into the job folder"
