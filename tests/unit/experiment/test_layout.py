"""VersionDir (the version folder layout), lock placement, checkpoint choice, key-metric split labels,
atomic writes, the progress bar's version and the outside-a-project message (no training needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runway_for_ml.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic, write_text_exclusive
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.layout import VersionDir, lock_file
from runway_for_ml.experiment.listing import list_runs
from runway_for_ml.experiment.manifest import update_manifest


def _version(root: Path, name: str = "digits_V0", manifest: dict | None = None) -> VersionDir:
    layout = VersionDir(root / "experiments" / name)
    layout.checkpoints_dir.mkdir(parents=True)
    write_json_atomic(layout.config_path, {"meta": {"seed": 0}})
    write_json_atomic(layout.manifest_path, {"status": "completed", "key_metric": "accuracy", **(manifest or {})})
    return layout


def test_paths_are_owned_by_version_dir(tmp_path: Path) -> None:
    layout = VersionDir(tmp_path / "experiments" / "my_exp_V12")
    assert (layout.name, layout.experiment_name) == ("my_exp_V12", "my_exp")
    assert layout.config_path == layout.path / "train" / "config.json"
    assert layout.manifest_path == layout.path / "train" / "manifest.json"
    assert layout.last_ckpt == layout.path / "train" / "checkpoints" / "last.ckpt"
    assert layout.logs_dir == layout.path / "train" / "logs"
    assert layout.infer_dir("test") == layout.path / "infer-test"
    assert layout.report_path == layout.path / "report.html"
    assert not layout.is_version()
    with pytest.raises(RunwayError, match="not a runway experiment version"):
        layout.config_dict()


def test_infer_dirs_put_test_first(tmp_path: Path) -> None:
    layout = _version(tmp_path)
    for suffix in ("b", "test", "a"):
        layout.infer_dir(suffix).mkdir()
    (layout.path / "not-infer").mkdir()
    assert [p.name for p in layout.infer_dirs()] == ["infer-test", "infer-a", "infer-b"]


def test_locks_live_outside_version_folders(tmp_path: Path) -> None:
    layout = _version(tmp_path)
    update_manifest(layout.path, status="running")
    update_manifest(layout.infer_dir("test"), status="created")
    assert not list(layout.path.rglob("*.lock"))
    locks = sorted(p.name for p in (tmp_path / "experiments" / ".locks").iterdir())
    assert locks == ["digits_V0.infer-test.manifest.lock", "digits_V0.train.manifest.lock"]
    assert layout.run_lock_path == tmp_path / "experiments" / ".locks" / "digits_V0.train.run.lock"
    assert lock_file(tmp_path / "experiments", "versions").parent.name == ".locks"


def test_checkpoint_choice(tmp_path: Path) -> None:
    layout = _version(tmp_path)
    with pytest.raises(RunwayError, match=r"digits_V0 has no best checkpoint .*training status: completed"):
        layout.checkpoint("best")
    layout.last_ckpt.write_bytes(b"last")
    assert layout.checkpoint("best") == layout.last_ckpt  # no best kept: last stands in
    older, newer = layout.checkpoints_dir / "best-epoch=00.ckpt", layout.checkpoints_dir / "best-epoch=01.ckpt"
    older.write_bytes(b"0")
    newer.write_bytes(b"1")
    os.utime(older, (1, 1))
    assert layout.checkpoint("best") == newer  # killed before the manifest named it: the newest
    update_manifest(layout.path, checkpoints={"best": "train/checkpoints/best-epoch=00.ckpt"})
    assert layout.checkpoint() == older  # the manifest's choice wins
    assert layout.checkpoint("last") == layout.last_ckpt
    with pytest.raises(RunwayError, match="checkpoint file not found"):
        layout.checkpoint(tmp_path / "nope.ckpt")


def test_key_metric_says_which_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from runway_for_ml.cli.ls_cmd import _fmt_metric

    evaluated = _version(tmp_path, "digits_V0", {"final_metrics": {"val_accuracy": 0.5}})
    write_json_atomic(evaluated.infer_dir("test") / "metrics.json", {"accuracy": 0.9})
    update_manifest(evaluated.infer_dir("test"), split="test")
    _version(tmp_path, "digits_V1", {"final_metrics": {"val_accuracy": 0.75, "train_loss": 0.1}})
    rows = {r["run_name"]: r for r in list_runs(tmp_path)}
    assert rows["digits_V0"]["key_metric"] == {
        "name": "accuracy",
        "value": 0.9,
        "source": "infer-test",
        "split": "test",
    }
    assert rows["digits_V1"]["key_metric"]["split"] == "validation"
    assert _fmt_metric(rows["digits_V0"]["key_metric"]) == "test accuracy: 0.9000"
    assert _fmt_metric(rows["digits_V1"]["key_metric"]) == "val accuracy: 0.7500"


def test_atomic_writes_leave_nothing_half_written(tmp_path: Path) -> None:
    target = tmp_path / "out" / "m.json"
    write_json_atomic(target, {"path": Path("/x"), "tuple": (1, 2)})
    assert json.loads(target.read_text()) == {"path": "/x", "tuple": [1, 2]}
    with pytest.raises(TypeError):
        write_bytes_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert json.loads(target.read_text())["tuple"] == [1, 2]  # the old content survives a failed write
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.json"]  # no temp file left
    write_text_atomic(target, "new", fsync=True)
    assert target.read_text() == "new"
    with pytest.raises(FileExistsError):
        write_text_exclusive(target, "other")
    assert target.read_text() == "new" and len(list(target.parent.iterdir())) == 1


def test_progress_bar_shows_the_version_number(tmp_path: Path) -> None:
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks.progress.progress_bar import get_standard_metrics
    from pytorch_lightning.loggers import TensorBoardLogger

    from runway_for_ml.experiment.trainer import progress_bar

    bar = progress_bar(3, plain=False)  # the live bar of a terminal
    logger = TensorBoardLogger(tmp_path, name="", version="tensorboard")
    trainer = pl.Trainer(logger=logger, callbacks=[bar], enable_checkpointing=False, accelerator="cpu")
    assert get_standard_metrics(trainer)["v_num"] == "oard"  # what Lightning alone would show
    assert bar.get_metrics(trainer, pl.LightningModule())["v_num"] == 3


def test_user_modules_outside_a_project_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runway_for_ml.project import import_user_modules

    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunwayError, match=rf"no runway project found above {tmp_path} \(no \.runway marker\)"):
        import_user_modules(None, ["runway_no_such_module_xyz"])


def test_commands_outside_a_project_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runway_for_ml.experiment.names import require_project_root

    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunwayError, match=rf"no runway project found above {tmp_path} \(no \.runway marker\)"):
        require_project_root()
