"""The command line a SLURM job replays: each command builds it from its parsed arguments.

The argv is parsed with the real command parsers (as ``runway-<command>`` does), turned into the
command's :class:`~runway_for_ml.launcher.JobSpec`, then parsed again as the job would. The launcher
itself never reads a command line: it only appends ``--launcher local``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from runway_for_ml.cli import eval_cmd, infer_cmd, prepare_cmd, run_cmd, train_cmd

MODULES = {"train": train_cmd, "run": run_cmd, "infer": infer_cmd, "eval": eval_cmd, "prepare": prepare_cmd}


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"runway-{command}")
    MODULES[command].add_arguments(parser)
    parser.add_argument("--debug", action="store_true")
    return parser


def _submitted(command: str, argv: list[str]) -> argparse.Namespace:
    """What cli.main hands a command: parsed args plus the command line it was given."""
    args = _parser(command).parse_args(argv)
    args._runway_argv = [command, *argv]
    return args


@pytest.fixture
def version(tmp_path: Path) -> Path:
    folder = tmp_path / "experiments" / "digits_lr3_V0"
    (folder / "train").mkdir(parents=True)
    return folder


def test_run_keeps_its_own_flags_and_drops_launcher_and_baked_ones(version: Path) -> None:
    typed = ["digits_lr3", "--from", "digits", "--opts", "a=1", "b=2", "--checkpoint", "last", "--slurm"]
    args = _submitted("run", [*typed, "--debug", "--wait", "--launcher=slurm"])
    spec = run_cmd.job_spec(args, {}, version)
    argv = spec.job_argv()
    assert argv == [
        "run",
        "digits_lr3",
        "--checkpoint",
        "last",
        "--debug",
        "--in-version",
        str(version.resolve()),
        "--launcher",
        "local",
    ]
    assert spec.command_line == ["runway", "run", *typed, "--debug", "--wait", "--launcher=slurm"]
    # The job parses it into the same choices, runs here, in the folder made at submit time.
    job = _parser("run").parse_args(argv[1:])
    assert (job.checkpoint, job.debug, job.launcher, job.slurm, job.wait) == ("last", True, "local", False, False)
    assert job.in_version == str(version.resolve()) and job.opts == [] and job.from_name is None


def test_abbreviated_launcher_options_never_reach_the_job(version: Path) -> None:
    # argparse accepts unambiguous prefixes; the spec is built from parsed values, so none survives.
    args = _submitted("run", ["digits_lr3", "--slu", "--wai", "--swe", "x=1,2", "--checkpoint=best"])
    assert args.slurm and args.wait and args.sweep == ["x=1,2"]
    assert run_cmd.job_spec(args, {}, version).job_argv()[2:4] == ["--checkpoint", "best"]


def test_train_job_needs_only_the_folder(version: Path) -> None:
    args = _submitted("train", ["digits_lr3", "--resume", "--version", "0", "--slurm"])
    argv = train_cmd.job_spec(args, {}, version).job_argv()
    assert argv == ["train", "digits_lr3", "--in-version", str(version.resolve()), "--launcher", "local"]
    job = _parser("train").parse_args(argv[1:])
    assert (job.resume, job.version, job.in_version) == (False, None, str(version.resolve()))


def test_a_flag_value_equal_to_the_experiment_name_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "last_V0"
    args = _submitted("run", ["last", "--checkpoint", "last", "--slurm"])
    argv = run_cmd.job_spec(args, {}, folder).job_argv()
    assert argv[:4] == ["run", "last", "--checkpoint", "last"]
    assert _parser("run").parse_args(argv[1:]).checkpoint == "last"


def test_sweep_points_replay_the_same_flags_in_their_own_folder(tmp_path: Path) -> None:
    args = _submitted("run", ["digits", "--checkpoint", "last", "--sweep", "train.batch_size=16,32", "--slurm"])
    spec = run_cmd.job_spec(args, {}, tmp_path / "digits_V0")
    point = spec.for_version(tmp_path / "digits_V7", {"train": {"batch_size": 32}})
    assert point.job_argv() == [
        "run",
        "digits",
        "--checkpoint",
        "last",
        "--in-version",
        str((tmp_path / "digits_V7").resolve()),
        "--launcher",
        "local",
    ]
    assert point.data == {"train": {"batch_size": 32}} and point.job_name == "runway-run-digits_V7"


def test_infer_job_runs_the_folder_made_at_submit_time(tmp_path: Path) -> None:
    infer_dir = tmp_path / "digits_V2" / "infer-test"
    args = _submitted("infer", ["digits", "test", "--version", "2", "--no-eval", "--opts", "x=1", "--slurm"])
    spec = infer_cmd.job_spec(args, {}, infer_dir)
    assert spec.job_argv() == ["infer", "digits", "test", "--in-dir", str(infer_dir.resolve()), "--launcher", "local"]
    assert spec.experiment == "digits" and spec.job_name == "runway-infer-infer-test"
    job = _parser("infer").parse_args(spec.job_argv()[1:])
    assert job.in_dir == str(infer_dir.resolve()) and job.launcher == "local"


def test_eval_and_prepare_jobs_replay_their_options(tmp_path: Path) -> None:
    infer_dir = tmp_path / "digits_V0" / "infer-test"
    args = _submitted("eval", ["digits_V0/infer-test", "--opts", "eval.key_metric=f1", "--slurm", "--debug"])
    argv = eval_cmd.job_spec(args, {}, infer_dir).job_argv()
    assert argv == [
        "eval",
        str(infer_dir.resolve()),
        "--opts",
        "eval.key_metric=f1",
        "--debug",
        "--launcher",
        "local",
    ]
    typed = ["digits", "--opts", "a=1", "--ext-var", "K=v", "--targets", "output:Split", "--dummy", "--slurm"]
    args = _submitted("prepare", typed)
    argv = prepare_cmd.job_spec(args, {}).job_argv()
    job = _parser("prepare").parse_args(argv[1:])
    assert (job.config, job.opts, job.ext_var, job.targets, job.dummy) == (
        "digits",
        ["a=1"],
        ["K=v"],
        ["output:Split"],
        True,
    )
    assert (job.slurm, job.launcher, job.regenerate, job.cache_dir) == (False, "local", [], None)
