"""End to end: runway init -> experiment -> train -> infer -> eval -> run -> resume -> ls / diff, in temp projects.

Runs the real template (digits, Lightning, the Arrow cache) on a shrunk configuration: fewer rows and
epochs. Most commands run in-process through ``cli.main.main``; the kill -9 / resume test uses
subprocesses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runway_for_ml.cli.main import main

BIN = Path(sys.executable).parent


def runway(project: Path, *argv: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.chdir(project)
    return main(list(argv))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, new_project) -> Path:
    return new_project(tmp_path_factory.mktemp("proj") / "myproj")


def test_init_layout(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for rel in (
        ".runway",
        ".gitignore",
        "README.md",
        "main.py",
        "configs/meta_config.libsonnet",
        "configs/data_config.libsonnet",
        "configs/model_config.libsonnet",
        "configs/experiments/digits.jsonnet",
        "data_processing/data_transforms.py",
        "data_processing/feature_loaders.py",
        "executors/custom_executor.py",
        "modeling/custom_modeling.py",
        "metrics/custom_metric.py",
    ):
        assert (project / rel).is_file(), rel
    for folder in ("data", "local_cache", "third_party", "experiments"):
        assert (project / folder).is_dir()
    assert not (project / "__init__.py").exists()
    assert not list(project.rglob("__pycache__"))
    # A non-empty folder is refused, and left alone.
    other = tmp_path / "busy"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["init", str(other)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    assert main(["init", str(other), "--force"]) == 0
    assert (other / "notes.txt").read_text() == "mine" and (other / ".runway").exists()


def test_daily_loop(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], template_opts
) -> None:
    small = template_opts()
    assert runway(project, "experiment", "small", "--from", "digits", monkeypatch=monkeypatch) == 0
    assert json.loads((project / "configs/experiments/.small.lineage.json").read_text())["parent"] == "digits"
    assert runway(project, "train", "small", "--opts", *small, "train.batch_size=32", monkeypatch=monkeypatch) == 0
    version = project / "experiments" / "small_V0"
    manifest = json.loads((version / "train" / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["parent_experiment"] == "digits"
    assert {"path": "train.batch_size", "value": 32, "previous": 64} in manifest["overrides"]
    assert set(manifest["data_nodes"]) == {"input:LoadDigits", "process:Split", "output:Normalised"}
    assert manifest["command_line"][:4] == ["runway", "train", "small", "--opts"]
    assert (version / "train" / "checkpoints" / "last.ckpt").is_file()
    assert manifest["checkpoints"]["best"].startswith("train/checkpoints/best-")
    assert (version / "train" / "logs" / "csv" / "metrics.csv").is_file()
    assert json.loads((version / "train" / "config.json").read_text())["train"]["batch_size"] == 32
    capsys.readouterr()

    assert runway(project, "infer", "small", "test", "--checkpoint", "last", monkeypatch=monkeypatch) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "small_V0/infer-test"
    infer = version / "infer-test"
    metrics = json.loads((infer / "metrics.json").read_text())
    assert 0.5 < metrics["accuracy"] <= 1.0 and "f1" in metrics
    assert (infer / "confusion_matrix.png").stat().st_size > 1000
    rows = [json.loads(line) for line in (infer / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 80 and {"prediction", "target", "index"} <= set(rows[0])

    # eval recomputes from the saved predictions with other metrics, without the model; earlier
    # metrics stay in metrics.json, the confusion matrix is drawn again, ls keeps the test metric.
    picture = infer / "confusion_matrix.png"
    os.utime(picture, (1, 1))
    (version / "train" / "checkpoints" / "last.ckpt").rename(version / "train" / "last.bak")
    opts = 'eval.metrics=[{"name":"f1","kwargs":{"average":"micro"}},{"name":"error_count"}]'
    capsys.readouterr()
    assert runway(project, "eval", "small_V0/infer-test", "--opts", opts, monkeypatch=monkeypatch) == 0
    (version / "train" / "last.bak").rename(version / "train" / "checkpoints" / "last.ckpt")
    printed = capsys.readouterr()
    assert "kept from earlier evaluations: accuracy" in printed.err
    assert "accuracy" in printed.out and "error_count" in printed.out
    new = json.loads((infer / "metrics.json").read_text())
    assert set(new) == set(metrics) | {"error_count"}
    assert new["accuracy"] == metrics["accuracy"] and new["confusion_matrix"] == metrics["confusion_matrix"]
    assert new["f1"] == pytest.approx(metrics["accuracy"])  # micro F1 == accuracy
    assert new["error_count"] == round((1 - metrics["accuracy"]) * 80)
    assert picture.stat().st_mtime > 1 and picture.stat().st_size > 1000
    infer_manifest = json.loads((infer / "manifest.json").read_text())
    assert [e["keys"] for e in infer_manifest["evaluations"]] == [sorted(metrics), ["error_count", "f1"]]
    assert runway(project, "ls", "--json", monkeypatch=monkeypatch) == 0
    listed = {r["run_name"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["small_V0"]["key_metric"] == {
        "name": "accuracy",
        "value": metrics["accuracy"],
        "source": "infer-test",
        "split": "test",
    }
    # --replace keeps only this evaluation's metrics and removes the pictures of the dropped ones
    assert runway(project, "eval", "small_V0/infer-test", "--opts", opts, "--replace", monkeypatch=monkeypatch) == 0
    assert set(json.loads((infer / "metrics.json").read_text())) == {"f1", "error_count"}
    assert not picture.exists()
    capsys.readouterr()

    # the same suffix twice is refused; --no-eval writes predictions only
    assert runway(project, "infer", "small", "test", monkeypatch=monkeypatch) == 2
    assert runway(project, "infer", "small_V0", "raw", "--no-eval", monkeypatch=monkeypatch) == 0
    assert (version / "infer-raw" / "predictions.jsonl").is_file() and not (
        version / "infer-raw" / "metrics.json"
    ).exists()

    # run = train + infer + eval + report, in a new experiment cloned on the fly
    lr = "train.optimizer_config.optimizer_params.lr=3e-3"
    assert runway(project, "run", "small_lr", "--from", "small", "--opts", *small, lr, monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "report.html" in out
    run_version = project / "experiments" / "small_lr_V0"
    assert (run_version / "report.html").read_text().count("data:image/png;base64") >= 2
    assert "<svg" in (run_version / "report.html").read_text()

    assert runway(project, "ls", "--json", monkeypatch=monkeypatch) == 0
    listed = {r["run_name"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["small_V0"]["status"] == "completed"
    assert listed["small_lr_V0"]["key_metric"]["name"] == "accuracy"
    assert listed["small_lr_V0"]["key_metric"]["source"] == "infer-test"

    assert runway(project, "diff", "small_V0", "small_lr", "--json", monkeypatch=monkeypatch) == 0
    diff = json.loads(capsys.readouterr().out)
    assert {"path": "train.optimizer_config.optimizer_params.lr", "a": 0.002, "b": 0.003} in diff["config"]
    assert all(row["a"] == row["b"] for row in diff["data_nodes"])  # same data, same cache keys

    # resume of a completed version: says so, does nothing
    assert runway(project, "train", "small", "--resume", monkeypatch=monkeypatch) == 0
    assert "already completed" in capsys.readouterr().out
    assert not (project / "experiments" / "small_V1").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "digts"], "did you mean 'digits'"),
        (["experiment", "x", "--from", "nope"], "unknown experiment 'nope'"),
        (["experiment", "a/b"], "invalid experiment name"),
        (["experiment", "has space"], "invalid experiment name"),
        (["experiment", "digits"], "already exists"),
        (["infer", "never_trained", "test"], "no trained version yet"),
        (["train", "digits", "--opts", "executor.ExecutorClass=DigitExecutor"], "did you mean 'DigitsExecutor'"),
        (["train", "digits", "--opts", 'eval.metrics=[{"name":"acuracy"}]'], "did you mean 'accuracy'"),
        (["train", "digits", "--opts", 'meta.logger_enable=["tensorbord"]'], "did you mean 'tensorboard'"),
        (["train", "digits", "--opts", "train.batchsize=3"], "did you mean 'batch_size'"),
        (["train", "digits", "--opts", "train.data_node=output:Nope"], "not a node of data_pipeline.transforms"),
        (["eval", "small_V99/infer-test"], "no version 99"),
        (["diff", "small_V0", "nope_V0"], "unknown experiment 'nope'"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (project / "configs/experiments/never_trained.jsonnet").write_text("import 'digits.jsonnet'\n")
    before = sorted(p.name for p in (project / "experiments").iterdir())
    configs_before = sorted(p.name for p in (project / "configs/experiments").iterdir())
    assert runway(project, *argv, monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert sorted(p.name for p in (project / "experiments").iterdir()) == before
    assert sorted(p.name for p in (project / "configs/experiments").iterdir()) == configs_before


def test_infer_errors_on_missing_version_and_checkpoint(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runway(project, "infer", "digits", "x", "--version", "7", monkeypatch=monkeypatch) == 2
    assert "no trained version yet" in capsys.readouterr().err
    from runway_for_ml.config import ResolvedConfig
    from runway_for_ml.experiment.names import resolve_experiment
    from runway_for_ml.experiment.versions import create_version

    exp = resolve_experiment("digits", project)
    version = create_version(exp, ResolvedConfig.from_dict({"meta": {"seed": 0}}), command_line=["test"])
    assert runway(project, "infer", "digits", "x", "--version", "7", monkeypatch=monkeypatch) == 2
    assert "has no version 7" in capsys.readouterr().err
    # Without --version: the latest completed version (there is none); with it: that version's checkpoint.
    assert runway(project, "infer", "digits", "x", monkeypatch=monkeypatch) == 2
    assert "has no completed version; versions: digits_V0 (created)" in capsys.readouterr().err
    assert runway(project, "infer", "digits", "x", "--version", "0", monkeypatch=monkeypatch) == 2
    assert "no best checkpoint" in capsys.readouterr().err
    assert not (version / "infer-x").exists()
    import shutil

    shutil.rmtree(version)


def test_failed_training_is_marked_failed(project: Path, monkeypatch: pytest.MonkeyPatch, template_opts) -> None:
    # input_dim 63 passes validation but the first forward pass fails on a 64-wide batch.
    with pytest.raises(RuntimeError):
        opts = [*template_opts(), "executor.model_config.input_dim=63"]
        runway(project, "train", "digits", "--opts", *opts, monkeypatch=monkeypatch)
    version = max((project / "experiments").glob("digits_V*"), key=lambda p: int(p.name.rsplit("_V", 1)[1]))
    manifest = json.loads((version / "train" / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert "RuntimeError" in manifest["error"] and "Traceback" in manifest["traceback"]
    assert "final_metrics" not in manifest


def test_same_seed_same_metrics(project: Path, monkeypatch: pytest.MonkeyPatch, template_opts) -> None:
    small, results = template_opts(), []
    for name in ("rep_a", "rep_b"):
        assert runway(project, "run", name, "--from", "digits", "--opts", *small, monkeypatch=monkeypatch) == 0
        results.append((project / "experiments" / f"{name}_V0" / "infer-test" / "metrics.json").read_text())
    assert results[0] == results[1]


def _cli(project: Path, *argv: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "offline"}
    return subprocess.Popen([str(BIN / "runway"), *argv], cwd=project, env=env, **kwargs)


@pytest.mark.slow
def test_kill_9_then_resume_matches_uninterrupted_run(project: Path, template_opts) -> None:
    opts = [
        *template_opts()[:1],
        "train.trainer_paras.max_epochs=8",
        "train.trainer_paras.enable_progress_bar=false",
        "train.early_stopping=null",
        "train.batch_size=8",
        'meta.logger_enable=["csv"]',
    ]
    subprocess.run([str(BIN / "runway"), "experiment", "killme", "--from", "digits"], cwd=project, check=True)
    straight = _cli(project, "train", "killme", "--opts", *opts, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert straight.wait(timeout=300) == 0

    victim = _cli(project, "train", "killme", "--opts", *opts, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    version = project / "experiments" / "killme_V1"
    last = version / "train" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not last.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # let the first checkpoint finish writing
    assert victim.poll() is None, "training finished before it could be killed; make it longer"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert json.loads((version / "train" / "manifest.json").read_text())["status"] == "running"

    resumed = subprocess.run(
        [str(BIN / "runway"), "train", "killme", "--resume"], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = json.loads((project / "experiments" / "killme_V0" / "train" / "manifest.json").read_text())
    b = json.loads((version / "train" / "manifest.json").read_text())
    assert b["status"] == "completed" and b["resume_count"] == 1 and b["resumed_from"] == "train/checkpoints/last.ckpt"
    assert b["epochs_completed"] == a["epochs_completed"] == 8
    for key in ("val_loss", "val_accuracy", "train_loss_epoch"):
        assert b["final_metrics"][key] == pytest.approx(a["final_metrics"][key], rel=1e-6, abs=1e-7), key
