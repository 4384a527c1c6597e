"""The command line a SLURM job replays: every user flag except the launcher's own, no cluster needed.

The argv is parsed with the real command parsers (as ``runway-<command>`` does), then rebuilt by
:func:`runway_for_ml.launcher.job_argv`, then parsed again as the job would.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from runway_for_ml.cli import infer_cmd, run_cmd, train_cmd
from runway_for_ml.launcher import job_argv

MODULES = {"train": train_cmd, "run": run_cmd, "infer": infer_cmd}


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"runway-{command}")
    MODULES[command].add_arguments(parser)
    parser.add_argument("--debug", action="store_true")
    return parser


def _submitted(command: str, argv: list[str], *, before: list[str] = ()) -> argparse.Namespace:
    """What cli.main hands a command: parsed args plus the command line it was given."""
    args = _parser(command).parse_args([*before, *argv])
    args._runway_argv = [*before, command, *argv]
    return args


@pytest.fixture
def version(tmp_path: Path) -> Path:
    folder = tmp_path / "experiments" / "digits_lr3_V0"
    (folder / "train").mkdir(parents=True)
    (folder / "train" / "manifest.json").write_text(json.dumps({"experiment": "digits_lr3"}))
    return folder


def test_run_keeps_every_user_flag_and_drops_launcher_and_baked_ones(version: Path) -> None:
    typed = ["digits_lr3", "--from", "digits", "--opts", "a=1", "b=2", "--checkpoint", "last", "--slurm"]
    args = _submitted("run", [*typed, "--debug", "--wait", "--launcher=slurm"])
    argv = job_argv("run", args, version_dir=version)
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
    # The job parses it into the same choices, runs here, in the folder made at submit time.
    job = _parser("run").parse_args(argv[1:])
    assert (job.checkpoint, job.debug, job.launcher, job.slurm, job.wait) == ("last", True, "local", False, False)
    assert job.in_version == str(version.resolve()) and job.opts == [] and job.from_name is None


def test_flag_without_value_does_not_swallow_the_next_flag(version: Path) -> None:
    args = _submitted("train", ["digits_lr3", "--resume", "--debug", "--slurm"])
    assert job_argv("train", args, version_dir=version)[:3] == ["train", "digits_lr3", "--debug"]


def test_abbreviated_launcher_options_are_dropped_too(version: Path) -> None:
    # argparse accepts unambiguous prefixes; a replayed `--swe` would make the job refuse to run locally.
    args = _submitted("run", ["digits_lr3", "--slu", "--wai", "--swe", "x=1,2", "--checkpoint=best"])
    assert args.slurm and args.wait and args.sweep == ["x=1,2"]
    assert job_argv("run", args, version_dir=version)[2:-4] == ["--checkpoint=best"]


def test_options_before_the_command_are_kept(version: Path) -> None:
    args = _submitted("run", ["digits_lr3", "--slurm"], before=["--debug"])
    assert "--debug" in job_argv("run", args, version_dir=version)


def test_a_flag_value_equal_to_the_experiment_name_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "last_V0"
    (folder / "train").mkdir(parents=True)
    (folder / "train" / "manifest.json").write_text(json.dumps({"experiment": "last"}))
    args = _submitted("run", ["last", "--checkpoint", "last", "--slurm"])
    argv = job_argv("run", args, version_dir=folder)
    assert argv[:4] == ["run", "last", "--checkpoint", "last"]
    assert _parser("run").parse_args(argv[1:]).checkpoint == "last"


def test_sweep_points_replay_the_same_flags_without_reading_a_manifest(tmp_path: Path) -> None:
    point = tmp_path / "digits_V7"  # no manifest: the caller names the experiment
    args = _submitted("run", ["digits", "--checkpoint", "last", "--sweep", "train.batch_size=16,32", "--slurm"])
    argv = job_argv("run", args, version_dir=point, experiment="digits")
    assert argv == [
        "run",
        "digits",
        "--checkpoint",
        "last",
        "--in-version",
        str(point.resolve()),
        "--launcher",
        "local",
    ]


def test_commands_without_a_version_replay_their_positionals_and_flags() -> None:
    args = _submitted("infer", ["digits", "test", "--version", "2", "--no-eval", "--opts", "x=1", "--slurm"])
    assert job_argv("infer", args, version_dir=None) == [
        "infer",
        "digits",
        "test",
        "--version",
        "2",
        "--no-eval",
        "--opts",
        "x=1",
        "--launcher",
        "local",
    ]
