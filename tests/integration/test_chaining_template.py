"""End to end on the project template: runway-run digits, then digits_stacked (trained on digits' embeddings),
runway dag's reasons, lineage in the manifest and in runway diff, runway embed and the report.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runway_for_ml.cli.main import main

NODE = "output:DigitsEmbeddings"

pytestmark = pytest.mark.slow


def runway(project: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.chdir(project)
    return main(list(argv))


def plan(project: Path, monkeypatch: pytest.MonkeyPatch, opts: list[str]) -> dict:
    from runway_for_ml.pipeline.runner import DataPipeline

    monkeypatch.chdir(project)
    pipeline = DataPipeline.from_config(project / "configs/experiments/digits_stacked.jsonnet", opts)
    return {p.node: p for p in pipeline.plan()}


def test_stacked_experiment_consumes_digits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], template_opts
) -> None:
    small = template_opts()
    project = tmp_path / "proj"
    assert main(["init", str(project)]) == 0
    # Before digits is trained, the chained node says what to do.
    assert runway(project, monkeypatch, "dag", "digits_stacked", "--opts", *small) == 2
    assert "runway-train digits" in capsys.readouterr().err
    assert runway(project, monkeypatch, "run", "digits", "--opts", *small) == 0
    assert plan(project, monkeypatch, small)[NODE].status == "will run"

    assert runway(project, monkeypatch, "run", "digits_stacked", "--opts", *small) == 0
    stacked = project / "experiments" / "digits_stacked_V0"
    manifest = json.loads((stacked / "train" / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    (consumed,) = manifest["consumed_experiments"]
    assert (consumed["node"], consumed["experiment"], consumed["version"], consumed["checkpoint"]) == (
        NODE,
        "digits",
        "digits_V0",
        "best",
    )
    infer_manifest = json.loads((stacked / "infer-test" / "manifest.json").read_text())
    assert infer_manifest["consumed_experiments"] == manifest["consumed_experiments"]
    metrics = json.loads((stacked / "infer-test" / "metrics.json").read_text())
    assert "accuracy" in json.dumps(metrics)
    assert {p.status for p in plan(project, monkeypatch, small).values()} == {"cached"}

    # A newer completed version of digits: the chained node is stale and says why.
    newer = project / "experiments" / "digits_V1"
    shutil.copytree(project / "experiments" / "digits_V0", newer)
    newer_manifest = json.loads((newer / "train" / "manifest.json").read_text())
    newer_manifest.update(version=1, run_name="digits_V1")
    (newer / "train" / "manifest.json").write_text(json.dumps(newer_manifest))
    stale = plan(project, monkeypatch, small)[NODE]
    assert stale.status == "stale"
    assert stale.reasons == ["experiment digits now resolves to digits_V1 (was digits_V0)"]
    capsys.readouterr()
    assert runway(project, monkeypatch, "dag", "digits_stacked", "--opts", *small) == 0
    assert "digits_V1" in capsys.readouterr().out

    # Lineage in runway diff.
    assert runway(project, monkeypatch, "diff", "digits_stacked_V0", "digits_V0", "--json") == 0
    diff = json.loads(capsys.readouterr().out)
    (row,) = diff["consumed"]
    assert row["path"] == NODE and row["a"].startswith("digits_V0 best (sha256 ") and row["b"] == "<missing>"

    # Unknown experiment: exit 2 with did-you-mean, before anything runs.
    typo = f"data_pipeline.transforms.{NODE}.setup_kwargs.experiment=digts"
    assert runway(project, monkeypatch, "dag", "digits_stacked", "--opts", *small, typo) == 2
    assert "did you mean 'digits'" in capsys.readouterr().err

    # runway embed on the first model; the report shows the projection.
    assert runway(project, monkeypatch, "embed", "digits_V0", "--split", "test", "--color-by", "label") == 0
    out = project / "experiments" / "digits_V0" / "embed-test"
    assert {p.name for p in out.iterdir()} == {"embed.json", "embeddings.parquet", "projection.png", "projection.html"}
    info = json.loads((out / "embed.json").read_text())
    assert (info["method"], info["dim"], info["rows"]) == ("tsne", 64, 80)
    assert "Embeddings: embed-test" in (project / "experiments" / "digits_V0" / "report.html").read_text()
