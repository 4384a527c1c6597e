"""Launcher glue without a cluster: argument parsing, job command lines, sweeps, job-state parsing."""

from __future__ import annotations

import argparse
import json

import pytest

from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.launcher import JobSpec, add_launcher_arguments, chosen_launcher, maybe_submit
from runway_for_ml.launcher.job import RunwayJob
from runway_for_ml.launcher.jobs import JobRecord, _parse_table, job_states, list_jobs, save_job, tail
from runway_for_ml.launcher.sweep import parse_sweep, sweep_points


def _parser(sweep: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("experiment")
    parser.add_argument("--opts", nargs="+", default=[])
    add_launcher_arguments(parser, sweep=sweep)
    return parser


def test_launcher_choice_order():
    p = _parser()
    assert chosen_launcher(p.parse_args(["x"]), {"meta": {}}) == "local"
    assert chosen_launcher(p.parse_args(["x"]), {"meta": {"launcher": "slurm"}}) == "slurm"
    assert chosen_launcher(p.parse_args(["x", "--slurm"]), {}) == "slurm"
    # --launcher local wins over both --slurm and meta.launcher.
    assert (
        chosen_launcher(p.parse_args(["x", "--slurm", "--launcher", "local"]), {"meta": {"launcher": "slurm"}})
        == "local"
    )


def test_local_launcher_returns_none_and_sweep_needs_slurm():
    p = _parser()
    spec = JobSpec("train", ["train", "x"], {"meta": {}})
    assert maybe_submit(spec, p.parse_args(["x"])) is None
    with pytest.raises(RunwayError, match="--sweep"):
        maybe_submit(spec, p.parse_args(["x", "--sweep", "a=1,2"]))


def test_unknown_slurm_key_fails_before_submission_and_removes_fresh_version(tmp_path, monkeypatch):
    version = tmp_path / "experiments" / "digits_V0"
    (version / "train").mkdir(parents=True)
    (version / "train" / "manifest.json").write_text(json.dumps({"status": "created", "experiment": "digits"}))
    args = _parser().parse_args(["digits", "--slurm"])
    spec = JobSpec("train", ["train", "digits"], {"slurm": {"partion": "gpu"}}, version_dir=version)
    with pytest.raises(ConfigError, match="did you mean 'partition'"):
        maybe_submit(spec, args)
    assert not version.exists()


def test_a_spec_without_its_folder_is_a_programming_error():
    with pytest.raises(ValueError, match="no version_dir"):
        JobSpec("train", ["train", "x", "--in-version", "{version_dir}"], {}).job_argv()


def test_sweep_parsing_and_cartesian_product():
    axes = parse_sweep(["train.lr=1e-4,3e-4", 'eval.metrics=[{"name":"f1"}],[{"name":"accuracy"}]', "x=a,b,c"])
    assert axes[0] == ("train.lr", [1e-4, 3e-4])
    assert axes[1][1] == [[{"name": "f1"}], [{"name": "accuracy"}]]
    points = sweep_points(axes)
    assert len(points) == 12
    assert points[0] == {"train.lr": 1e-4, "eval.metrics": [{"name": "f1"}], "x": "a"}
    with pytest.raises(ConfigError):
        parse_sweep(["no_equals_sign"])
    with pytest.raises(ConfigError, match="twice"):
        parse_sweep(["a=1", "a=2"])


def test_state_table_parsing_covers_pending_array_ranges():
    states: dict = {}
    _parse_table(
        "12_[2-3%4]|PENDING|0:00|\n12_0|COMPLETED|0:31|0:0\n12_1|CANCELLED by 0|0:02|0:15\n",
        ["12_0", "12_1", "12_3"],
        states,
    )
    assert states["12_0"].state == "COMPLETED"
    assert states["12_1"].state == "CANCELLED"
    assert states["12_3"].state == "PENDING"


def test_forgotten_job_state_comes_from_submitit_result(tmp_path):
    import pickle

    # What submitit writes at the end of a job: ("success", result) or ("error", traceback).
    (tmp_path / "99999998_0_result.pkl").write_bytes(pickle.dumps(("error", "Traceback ...")))
    (tmp_path / "99999997_0_result.pkl").write_bytes(pickle.dumps(("success", 0)))
    failed = JobRecord("99999998", "train", "t", "o", "e", str(tmp_path))
    states = job_states(["99999998", "99999997", "99999996"], [failed], folders={"99999997": str(tmp_path)})
    assert states["99999998"].state == "FAILED"
    assert states["99999997"].state == "COMPLETED"
    assert states["99999996"].state == "UNKNOWN"


def test_registry_round_trip_and_tail(tmp_path):
    log = tmp_path / "x.out"
    log.write_text("a\n\nprogress 10%\rprogress 100%\nlast line\n")
    save_job(
        tmp_path,
        JobRecord("7", "train", "2024-01-01T00:00:00", str(log), "", str(tmp_path), version_dir="/p/digits_V1"),
    )
    save_job(tmp_path, JobRecord("5", "train", "2024-01-01T00:00:00", "", "", str(tmp_path)))
    records = list_jobs(tmp_path)
    assert [r.job_id for r in records] == ["5", "7"]
    assert records[1].version == "digits_V1"
    assert tail(log, 2) == ["progress 100%", "last line"]
    assert tail(tmp_path / "missing", 2) == []


def test_runway_job_is_picklable_and_refuses_too_many_requeues(tmp_path, monkeypatch):
    import pickle

    job = RunwayJob(["ls"], cwd=tmp_path, version_dir=None, max_requeues=1)
    assert pickle.loads(pickle.dumps(job)).argv == ["ls"]
    # The job chdirs and sets env vars: let monkeypatch restore them afterwards.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    monkeypatch.setenv("RUNWAY_LAUNCHER", "local")
    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.raises(RuntimeError, match="max_requeues=1"):
        job()
