"""The public ``Experiment`` API on a real, tiny trained version of the template's digits experiment.

``from runway_for_ml import Experiment``: load by name / path / latest completed, config, manifest,
checkpoints, ``load_model`` and ``predict`` (which must give exactly what ``runway-infer`` saved).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runway_for_ml.cli.main import main
from runway_for_ml.config import load_config
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.names import resolve_experiment
from runway_for_ml.experiment.versions import create_version

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, new_project, template_opts) -> Path:
    """A project with digits_V0 trained and inferred on its test split (infer-test), and digits_V1 failed."""
    root = new_project(tmp_path_factory.mktemp("api") / "proj")
    small = template_opts(max_rows=200)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        assert main(["train", "digits", "--opts", *small]) == 0
        assert main(["infer", "digits_V0", "test"]) == 0
    # A later version that never completed: "digits" must still mean digits_V0.
    config = load_config(root / "configs" / "experiments" / "digits.jsonnet", small, project_root=root)
    v1 = create_version(resolve_experiment("digits", root), config, command_line=["runway-train"], status="failed")
    assert v1.name == "digits_V1"
    return root


def test_load_by_name_path_and_latest_completed(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runway_for_ml import Experiment, VersionDir

    monkeypatch.chdir(project)
    exp = Experiment.load("digits_V0")
    assert (exp.name, exp.version_name) == ("digits", "digits_V0")
    assert exp.path == (project / "experiments" / "digits_V0").resolve()
    assert exp.project_root == project.resolve()
    assert isinstance(exp.layout, VersionDir)
    assert exp.layout.config_path == exp.path / "train" / "config.json"
    assert exp.layout.last_ckpt.is_file() and exp.layout.infer_dir("test").is_dir()
    assert exp.config["train"]["trainer_paras"]["max_epochs"] == 2
    assert exp.manifest["status"] == "completed"
    assert not list(exp.path.rglob("*.lock"))  # locks live in experiments/.locks, not in results

    versions = sorted(p.name for p in (project / "experiments").iterdir() if p.name.startswith("digits_V"))
    assert versions == ["digits_V0", "digits_V1"]
    assert Experiment.load("digits").version_name == "digits_V0"  # V1 did not complete
    assert Experiment.load(project / "experiments" / "digits_V0").path == exp.path
    assert Experiment.load("experiments/digits_V0").version_name == "digits_V0"

    with pytest.raises(RunwayError, match="did you mean 'digits'"):
        Experiment.load("digts", project_root=project)
    with pytest.raises(RunwayError, match="no version 7"):
        Experiment.load("digits_V7")
    with pytest.raises(RunwayError, match="not an experiment version folder"):
        Experiment.load(project / "configs")


def test_checkpoints(project: Path) -> None:
    from runway_for_ml import Experiment

    exp = Experiment.load("digits_V0", project_root=project)
    best, last = exp.checkpoint("best"), exp.checkpoint("last")
    assert best.name.startswith("best-") and last.name == "last.ckpt"
    assert exp.checkpoint(str(last)) == last.resolve()
    assert exp.checkpoint() == best
    with pytest.raises(RunwayError, match="checkpoint file not found"):
        exp.checkpoint("nope.ckpt")
    failed = Experiment.load("digits_V1", project_root=project)
    with pytest.raises(RunwayError, match="no best checkpoint"):
        failed.checkpoint("best")


def test_predict_matches_runway_infer(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runway_for_ml import Experiment

    monkeypatch.chdir(tmp_path)  # outside the project: the path alone is enough
    exp = Experiment.load(project / "experiments" / "digits_V0")
    saved = [json.loads(line) for line in (exp.layout.infer_dir("test") / "predictions.jsonl").read_text().splitlines()]
    rows = exp.predict("test", batch_size=7)
    assert len(rows) == len(saved) == 40
    assert [r["prediction"] for r in rows] == [r["prediction"] for r in saved]
    assert [r["target"] for r in rows] == [r["target"] for r in saved]
    assert [r["confidence"] for r in rows] == pytest.approx([r["confidence"] for r in saved], abs=1e-6)
    # The batch size override was for that call only, and the version's config was not touched.
    assert exp.load_model().test_config.get("batch_size") != 7
    assert (exp.config.get("test") or {}).get("batch_size") != 7
    assert not list(tmp_path.iterdir())  # predicting wrote nothing into the working directory


def test_load_model_and_predict_on_given_rows(project: Path) -> None:
    import torch

    from runway_for_ml import BaseExecutor, Experiment

    exp = Experiment.load("digits_V0", project_root=project)
    model = exp.load_model("last", device="cpu")
    assert isinstance(model, BaseExecutor) and not model.training
    assert next(model.parameters()).device == torch.device("cpu")
    assert exp.load_model("last", device="cpu") is model  # cached
    datamodule = exp.datamodule("last", device="cpu")
    assert datamodule.collate_fn == model.collate_fn  # the executor's collate hook batches the rows
    test = datamodule.get_split("test")  # the pipeline runs lazily, on first use
    rows = [{"pixels": test[i]["pixels"]} for i in range(5)]  # no labels
    data_before, config_before = model.data, json.dumps(model.config, sort_keys=True, default=str)
    preds = exp.predict(rows, checkpoint="last", device="cpu")
    # Nothing of the executor is swapped for a call: its data and config are the same objects / values.
    assert model.data is data_before and json.dumps(model.config, sort_keys=True, default=str) == config_before
    assert [p["index"] for p in preds] == list(range(5)) and "target" not in preds[0]
    with torch.no_grad():
        logits = model(torch.tensor([r["pixels"] for r in rows], dtype=torch.float32))
    assert [p["prediction"] for p in preds] == logits.argmax(-1).tolist()
    # The split given as a dataset object gives the same as the split by name.
    by_name = exp.predict("test", checkpoint="last", device="cpu")
    assert [p["prediction"] for p in exp.predict(test, checkpoint="last", device="cpu")] == [
        p["prediction"] for p in by_name
    ]


def test_copied_version_outside_a_project_says_so(project: Path, tmp_path: Path) -> None:
    from runway_for_ml import Experiment

    copy = tmp_path / "elsewhere" / "digits_V0"
    shutil.copytree(project / "experiments" / "digits_V0", copy)
    manifest = json.loads((copy / "train" / "manifest.json").read_text())
    manifest["project_root"] = str(tmp_path / "gone")
    (copy / "train" / "manifest.json").write_text(json.dumps(manifest))
    exp = Experiment.load(copy)
    assert exp.config["meta"]["seed"] == Experiment.load(project / "experiments" / "digits_V0").config["meta"]["seed"]
    with pytest.raises(RunwayError, match=r"no runway project found above .* \(no \.runway marker\)"):
        exp.load_model()


def test_import_is_light() -> None:
    code = (
        "import sys; from runway_for_ml import Experiment; Experiment.load;"
        "print(sorted(m for m in ('torch', 'pytorch_lightning', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
