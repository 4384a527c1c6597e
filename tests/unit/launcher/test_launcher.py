"""Launcher glue without a cluster: argument parsing, job command lines, sweeps, job-state parsing."""

from __future__ import annotations

import argparse
import json

import pytest

from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.launcher import add_launcher_arguments, chosen_launcher, job_argv, maybe_submit
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
    assert maybe_submit("train", p.parse_args(["x"]), {"meta": {}}, version_dir=None) is None
    with pytest.raises(RunwayError, match="--sweep"):
        maybe_submit("train", p.parse_args(["x", "--sweep", "a=1,2"]), {"meta": {}}, version_dir=None)


def test_unknown_slurm_key_fails_before_submission_and_removes_fresh_version(tmp_path, monkeypatch):
    version = tmp_path / "experiments" / "digits_V0"
    (version / "train").mkdir(parents=True)
    (version / "train" / "manifest.json").write_text(json.dumps({"status": "created", "experiment": "digits"}))
    args = _parser().parse_args(["digits", "--slurm"])
    with pytest.raises(ConfigError, match="did you mean 'partition'"):
        maybe_submit("train", args, {"slurm": {"partion": "gpu"}}, version_dir=version)
    assert not version.exists()


def test_job_argv_for_a_fresh_version_and_for_replayed_commands(tmp_path):
    version = tmp_path / "digits_V3"
    (version / "train").mkdir(parents=True)
    (version / "train" / "manifest.json").write_text(json.dumps({"experiment": "digits"}))
    args = argparse.Namespace(
        _runway_argv=["train", "digits", "--slurm", "--opts", "a=1", "b=2", "--wait", "--launcher", "slurm"]
    )
    assert job_argv("train", args, version_dir=version) == [
        "train",
        "digits",
        "--in-version",
        str(version.resolve()),
        "--launcher",
        "local",
    ]
    args = argparse.Namespace(_runway_argv=["infer", "digits", "test", "--opts", "x=1", "--slurm", "--no-eval"])
    assert job_argv("infer", args, version_dir=None) == [
        "infer",
        "digits",
        "test",
        "--opts",
        "x=1",
        "--no-eval",
        "--launcher",
        "local",
    ]


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

    (tmp_path / "99999998_0_result.pkl").write_bytes(pickle.dumps(("error", "Traceback ...")))
    record = JobRecord("99999998", "train", "t", "o", "e", str(tmp_path))
    assert job_states(["99999998"], [record])["99999998"].state in ("FAILED", "UNKNOWN")


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
