"""Bad inputs get one message, exit code 2, no traceback, and leave nothing on disk (issue 12).

Every case lists the project's ``experiments/`` and ``configs/`` trees before and after the command:
a typo must not leave a failed ``<exp>_V<n>/`` (which ``runway ls`` would show and the next command
would take as "latest") or an ``infer-<suffix>/`` (which would refuse the corrected command). The
second half checks behaviour the docs promise (docs/cli.md, docs/config.md).

One tiny version is trained once for the module (200 rows, one epoch); commands run in-process
through ``cli.main.main`` so torch is imported once, except the signal test, which needs a process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runway_for_ml.cli.main import main

BIN = Path(sys.executable).parent
TAG_VAR = "RUNWAY_TEST_TINY_TAG"
# The template's digits experiment, shrunk; `logger_enable` is hidden so the key is absent (the
# default must log CSV), and a std.extVar checks --ext-var on runway-train.
TINY = """local digits = import 'digits.jsonnet';
digits + {
  meta+: { logger_enable:: null },
  data_pipeline+: { transforms+: { 'input:LoadDigits'+: { setup_kwargs+: { max_rows: 200 } } } },
  train+: {
    trainer_paras+: { max_epochs: 1, enable_model_summary: false },
    early_stopping: null,
  },
  user: { tag: std.extVar('TAG_VAR') },
}
""".replace("TAG_VAR", TAG_VAR)


def _in(project: Path, argv: list[str]) -> int:
    previous = Path.cwd()
    os.chdir(project)
    try:
        return main(argv)
    finally:
        os.chdir(previous)


def snapshot(project: Path) -> list[str]:
    """Every file and folder under experiments/ and configs/ (relative paths, sorted)."""
    return sorted(
        str(p.relative_to(project)) for folder in ("experiments", "configs") for p in (project / folder).rglob("*")
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("bad") / "proj"
    assert main(["init", str(root)]) == 0
    (root / "configs/experiments/tiny.jsonnet").write_text(TINY)
    os.environ[TAG_VAR] = "from-env"  # what every other command of this module evaluates tiny.jsonnet with
    # The experiment given as its config file, and --ext-var on runway-train (docs/config.md).
    code = _in(root, ["train", "configs/experiments/tiny.jsonnet", "--ext-var", f"{TAG_VAR}=from-ext-var"])
    assert code == 0
    assert os.environ[TAG_VAR] == "from-env"  # --ext-var lasted for that command only
    yield root
    os.environ.pop(TAG_VAR, None)


def runway(project: Path, *argv: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.chdir(project)
    return main(list(argv))


LONG = "x" * 150
# (argv, expected message) — each must exit 2 before creating anything.
CASES = [
    # the data pipeline of the experiment being trained (runway prepare/dag already caught these)
    (
        ["train", "tiny", "--opts", "data_pipeline.transforms.process:Split.transform_name=SplitHFDatast"],
        "unknown transform 'SplitHFDatast' (did you mean 'SplitHFDataset'",
    ),
    (
        ["train", "tiny", "--opts", "data_pipeline.transforms.output:Normalised.input_node=process:Splt"],
        "no node 'process:Splt' (did you mean 'process:Split'?)",
    ),
    (
        ["run", "tiny", "--opts", "data_pipeline.transforms.process:Split.setup_kwargs.tst_size=0.2"],
        "unknown argument 'tst_size' (did you mean 'test_size'?)",
    ),
    # optimizer and schedule
    (["train", "tiny", "--opts", "train.optimizer_config.optimizer_name=Adamm"], "unknown optimizer 'Adamm'"),
    (["train", "tiny", "--opts", "train.optimizer_config.scheduler=lineer"], "did you mean 'linear'"),
    (["train", "tiny", "--opts", "train.optimizer_config.optimizer_params.lrr=0.1"], "did you mean 'lr'"),
    (["train", "tiny", "--opts", "train.optimizer_config.optimizer_params.lr=-1"], "Invalid learning rate"),
    (
        ["train", "tiny", "--opts", "train.optimizer_config.scheduler_params.warmup_ratio=2"],
        "scheduler_params.warmup_ratio: expected a number between 0 and 1",
    ),
    # loggers
    (["train", "tiny", "--opts", "meta.wandb.projet=x"], "meta.wandb.projet: unknown key (did you mean 'project'?)"),
    # launch options
    (["train", "tiny", "--sweep", "train.batch_size=16,32"], "--sweep submits a SLURM job array and needs SLURM"),
    (["run", "tiny", "--sweep", "train.batch_size=16,32"], "--sweep submits a SLURM job array and needs SLURM"),
    (["train", "tiny", "--slurm"], "the `sbatch` command was not found on PATH"),
    (["train", "tiny", "--slurm", "--opts", "slurm.time_min=-5"], "slurm.time_min: expected an integer >= 1"),
    (["train", "tiny", "--slurm", "--opts", "slurm.nodes=0"], "slurm.nodes: expected an integer >= 1"),
    # checkpoint and split: runway-run used to train fully, then fail
    (["run", "tiny", "--opts", "test.checkpoint=lastt"], "test.checkpoint: 'lastt' is not best, last"),
    (["run", "tiny", "--opts", "test.split=tset"], "no split 'tset' (did you mean 'test'?)"),
    (["infer", "tiny", "X", "--opts", "test.split=tset"], "no split 'tset' (did you mean 'test'?)"),
    (["infer", "tiny", "X", "--checkpoint", "lastt"], "checkpoint file not found: lastt"),
    # numbers of the framework's own settings: a key path, not a torch traceback
    (["train", "tiny", "--opts", "train.batch_size=-1"], "train.batch_size: expected an integer >= 1, found -1"),
    (["train", "tiny", "--opts", "train.batch_size=0.5"], "train.batch_size: expected"),
    (["train", "tiny", "--opts", "train.dataloader_workers=-2"], "train.dataloader_workers: expected an integer >= 0"),
    (["train", "tiny", "--opts", "train.trainer_paras.max_epochs=-3"], "max_epochs: expected an integer >= -1"),
    (["infer", "tiny", "X", "--opts", "test.batch_size=0"], "test.batch_size: expected an integer >= 1"),
    # names the file system cannot hold
    (["train", LONG], "it is 150 characters long; the limit is 100"),
    (["experiment", LONG], "it is 150 characters long; the limit is 100"),
    (["infer", "tiny", LONG], "invalid inference suffix"),
    (["config", "y" * 300], "name too long for the file system"),
    # a config file outside configs/experiments cannot name a version
    (["train", "tiny_copy.jsonnet"], "is not an experiment config of this project"),
    # docs/experiments.md: there is no config key for the experiments folder
    (["train", "tiny", "--opts", "meta.experiments_dir=/tmp/x"], "meta.experiments_dir: unknown key"),
    # runway ls NAME for an unknown name, while other experiments exist
    (["ls", "tiyn"], "no experiment 'tiyn' (did you mean 'tiny'?)"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_exits_2_with_one_message_and_writes_nothing(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    (project / "tiny_copy.jsonnet").write_text("import 'configs/experiments/tiny.jsonnet'\n")
    # No sbatch on PATH: --slurm must fail before anything is created, never submit.
    monkeypatch.setenv("PATH", str(BIN))
    before = snapshot(project)
    assert runway(project, *argv, monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert err.count("error: ") == 1
    assert "version folder:" not in err  # no folder was announced (and then deleted)
    assert snapshot(project) == before


def test_every_sweep_point_is_checked_before_submission(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # An `sbatch` that refuses everything: were the bad point not caught first, submission would fail
    # differently (and nothing could reach a real cluster).
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "sbatch").write_text("#!/bin/sh\necho 'sbatch: error: refused by the test' >&2\nexit 1\n")
    (fake / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{BIN}")
    before = snapshot(project)
    argv = ["train", "tiny", "--slurm", "--sweep", "train.batch_size=16,-1"]
    assert runway(project, *argv, monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err
    assert "--sweep point {'train.batch_size': -1}: train.batch_size: expected an integer >= 1" in err, err
    assert "refused by the test" not in err and "Traceback" not in err
    assert snapshot(project) == before


def test_a_problem_only_the_data_reveals_removes_the_new_version(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An uncached pipeline output (new max_rows) whose split is misspelt: only running the pipeline
    # tells; the version created for it must not survive as "latest".
    before = snapshot(project)
    splits = '{"train": {"node": "output:Normalised", "split": "trian"}, "validation": "output:Normalised"}'
    code = runway(
        project,
        "train",
        "tiny",
        "--opts",
        "data_pipeline.transforms.input:LoadDigits.setup_kwargs.max_rows=150",
        f"train.splits={splits}",
        monkeypatch=monkeypatch,
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "has no split 'trian' (did you mean 'train'?)" in err and "Traceback" not in err
    assert [p for p in snapshot(project) if p not in before] == []
    assert not (project / "experiments/tiny_V1").exists()


def test_wrong_split_then_the_corrected_command_under_the_same_suffix(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runway(project, "infer", "tiny", "again", "--opts", "test.split=tset", monkeypatch=monkeypatch) == 2
    assert not (project / "experiments/tiny_V0/infer-again").exists()
    capsys.readouterr()
    assert runway(project, "infer", "tiny", "again", "--opts", "test.split=test", monkeypatch=monkeypatch) == 0
    out, err = capsys.readouterr()
    # docs/cli.md: `name=$(runway-infer …)` captures the run name only; progress goes to stderr.
    assert out == "tiny_V0/infer-again\n", out
    assert "Predicting" in err or "[infer]" in err
    assert (project / "experiments/tiny_V0/infer-again/predictions.jsonl").is_file()


# ----------------------------------------------------------------------------- what the docs promise


def test_version_trained_from_a_config_path_with_ext_var_and_default_csv_logger(project: Path) -> None:
    version = project / "experiments/tiny_V0"
    manifest = json.loads((version / "train/manifest.json").read_text())
    assert manifest["status"] == "completed"
    config = json.loads((version / "train/config.json").read_text())
    assert config["user"]["tag"] == "from-ext-var"
    assert "logger_enable" not in config["meta"]
    # docs/config.md: logger_enable defaults to ["csv"]; the report's curves need it.
    assert (version / "train/logs/csv/metrics.csv").is_file()


def test_debug_is_accepted_by_every_command(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runway(project, "cache", "ls", "--debug", monkeypatch=monkeypatch) == 0
    assert runway(project, "ls", "--debug", "--json", monkeypatch=monkeypatch) == 0
    capsys.readouterr()
    assert runway(project, "ls", "tiyn", "--debug", monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "no experiment 'tiyn'" in err
    assert runway(project, "ls", "tiyn", monkeypatch=monkeypatch) == 2  # --debug does not stick
    err = capsys.readouterr().err
    assert "Traceback" not in err and "(run with --debug for the full traceback)" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("runway_for_ml ")


def test_dummy_flag_is_below_opts(project: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    # docs/config.md: the config file < explicit CLI flags (--dummy) < --opts
    assert runway(project, "prepare", "tiny", "--dummy", monkeypatch=monkeypatch) == 0
    assert "(dummy data)" in capsys.readouterr().out
    assert (
        runway(project, "prepare", "tiny", "--dummy", "--opts", "meta.use_dummy_data=false", monkeypatch=monkeypatch)
        == 0
    )
    assert "(dummy data)" not in capsys.readouterr().out


def test_opts_index_one_past_the_end_creates_the_step(project: Path, monkeypatch, capsys) -> None:
    assert (
        runway(project, "config", "tiny", "--plain", "--opts", "eval.metrics.3.name=recall", monkeypatch=monkeypatch)
        == 0
    )
    metrics = json.loads(capsys.readouterr().out)["eval"]["metrics"]
    assert [m["name"] for m in metrics] == ["accuracy", "f1", "confusion_matrix", "recall"]


def test_underscore_setup_kwargs_are_comments_for_built_ins(project: Path, monkeypatch, capsys) -> None:
    # docs/cache.md: `_`-prefixed keys are comments and stay out of the cache key (a hit, not a re-run).
    note = 'data_pipeline.transforms.process:Split.setup_kwargs._note="why 0.2"'
    assert runway(project, "prepare", "tiny", "--opts", note, monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert "✓ hit output:Normalised" in out and "ran" not in out.split("✓ hit output:Normalised")[0]


@pytest.mark.slow
def test_sigterm_during_training_exits_130_and_marks_the_run_interrupted(project: Path) -> None:
    env = {**os.environ, TAG_VAR: "signal"}
    proc = subprocess.Popen(
        [str(BIN / "runway-train"), "tiny", "--opts", "train.trainer_paras.max_epochs=100000"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    last = project / "experiments/tiny_V1/train/checkpoints/last.ckpt"
    deadline = time.time() + 120
    while not last.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert last.is_file(), proc.communicate(timeout=30)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "error: interrupted" in err and "Traceback" not in err
    assert "continue it from its last checkpoint: runway-train tiny --resume\n" in err
    assert out == ""  # the progress bar is on stderr
    manifest = json.loads((project / "experiments/tiny_V1/train/manifest.json").read_text())
    assert manifest["status"] == "interrupted"
