"""PredictWithExperiment: a trained version's outputs as pipeline columns, its cache key, its errors, lineage.

The consumed "trained" versions are real version folders (config.json, manifest.json, a checkpoint
saved from a ClassificationExecutor's state dict) written by the fixture, so no training runs here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from runway_for_ml.errors import RunwayError
from runway_for_ml.executors import build_executor
from runway_for_ml.experiment.chaining import (
    PredictWithExperiment,
    checkpoint_sha256,
    consumed_experiments,
    record_consumed,
    run_model,
    to_arrow,
)
from runway_for_ml.experiment.datamodule import RunwayDataModule
from runway_for_ml.experiment.prediction import LoadedModel
from runway_for_ml.pipeline.runner import DataPipeline
from runway_for_ml.pipeline.transform import TRANSFORMS

CLF = {
    "meta": {"seed": 0},
    "executor": {
        "ExecutorClass": "ClassificationExecutor",
        "model_config": {"input_dim": 64, "hidden_dims": [16], "num_classes": 10, "dropout": 0.0},
    },
    "test": {"batch_size": 32},
}


def make_version(
    root: Path, name: str, number: int, *, seed: int = 0, checkpoint: bool = True, config: dict | None = None
) -> Path:
    """A completed version folder whose best checkpoint holds a freshly initialised classifier."""
    version = root / "experiments" / f"{name}_V{number}"
    (version / "train" / "checkpoints").mkdir(parents=True)
    (version / "train" / "config.json").write_text(json.dumps(config or CLF))
    manifest: dict[str, Any] = {"experiment": name, "version": number, "status": "completed"}
    manifest["project_root"] = str(root)
    if checkpoint:
        torch.manual_seed(seed)
        state = build_executor(CLF).state_dict()
        torch.save({"state_dict": state}, version / "train" / "checkpoints" / "best.ckpt")
        manifest["checkpoints"] = {"best": "train/checkpoints/best.ckpt", "last": None}
    (version / "train" / "manifest.json").write_text(json.dumps(manifest))
    return version


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    (root / "configs" / "experiments").mkdir(parents=True)
    (root / ".runway").write_text("")
    (root / "configs" / "experiments" / "clf.jsonnet").write_text("{}\n")
    make_version(root, "clf", 0)
    monkeypatch.chdir(root)
    return root


def consumer(outputs: Any = ("embedding", "prediction", "probabilities"), **kwargs: Any) -> dict[str, Any]:
    setup = {"experiment": "clf", "outputs": list(outputs) if isinstance(outputs, tuple) else outputs, **kwargs}
    return {
        "meta": {"seed": 0},
        "data_pipeline": {
            "transforms": {
                "input:Digits": {"transform_name": "LoadSklearnDigits", "setup_kwargs": {"max_rows": 70}},
                "output:Pred": {
                    "input_node": "input:Digits",
                    "transform_name": "PredictWithExperiment",
                    "setup_kwargs": setup,
                },
            }
        },
    }


def run_pipeline(project: Path, config: dict[str, Any]) -> Any:
    return DataPipeline(config, cache_dir=project / "local_cache").get_data("output:Pred")["output:Pred"]


def test_lazy_registry_entry_resolves_to_the_experiment_layer_class() -> None:
    assert "PredictWithExperiment" in TRANSFORMS
    assert TRANSFORMS.get("PredictWithExperiment") is PredictWithExperiment


def test_adds_the_models_outputs_as_columns(project: Path) -> None:
    out = run_pipeline(project, consumer())
    assert out.column_names == ["pixels", "label", "embedding", "prediction", "probabilities"]
    assert len(out) == 70
    # The same numbers as calling the trained model by hand.
    model = build_executor(CLF)
    state = torch.load(project / "experiments/clf_V0/train/checkpoints/best.ckpt", weights_only=False)
    model.load_state_dict(state["state_dict"])
    model.eval()
    pixels = torch.tensor(np.asarray(out["pixels"], dtype=np.float32))
    with torch.no_grad():
        expected_embedding = model.embed_step({"pixels": pixels}).numpy()
        expected = model.predict_step({"pixels": pixels}, 0)
    np.testing.assert_allclose(np.asarray(out["embedding"]), expected_embedding, rtol=1e-5, atol=1e-6)
    assert np.asarray(out["embedding"]).shape == (70, 16)
    assert out["prediction"] == expected["prediction"].tolist()
    np.testing.assert_allclose(np.asarray(out["probabilities"]), expected["probabilities"].numpy(), rtol=1e-5)


def test_mapping_renames_and_splits_pass_through(project: Path) -> None:
    config = consumer(outputs={"prediction": "clf_prediction"}, splits=["test"])
    nodes = config["data_pipeline"]["transforms"]
    nodes["process:Split"] = {
        "input_node": "input:Digits",
        "transform_name": "SplitHFDataset",
        "setup_kwargs": {"test_size": 0.3, "seed": 0},
    }
    nodes["output:Pred"]["input_node"] = "process:Split"
    out = run_pipeline(project, config)
    assert "clf_prediction" in out["test"].column_names
    assert "clf_prediction" not in out["train"].column_names


def test_cache_key_follows_checkpoint_and_resolved_version(project: Path) -> None:
    config = consumer(outputs=["prediction"])
    pipeline = DataPipeline(config, cache_dir=project / "local_cache")
    pipeline.run(["output:Pred"])
    assert {p.node: p.status for p in DataPipeline(config, cache_dir=project / "local_cache").plan()} == {
        "input:Digits": "cached",
        "output:Pred": "cached",
    }
    # A newer completed version: "clf" now resolves to clf_V1.
    make_version(project, "clf", 1, seed=1)
    plan = {p.node: p for p in DataPipeline(config, cache_dir=project / "local_cache").plan()}
    assert plan["output:Pred"].status == "stale"
    assert "experiment clf now resolves to clf_V1 (was clf_V0)" in plan["output:Pred"].reasons
    assert plan["input:Digits"].status == "cached"
    # Pinned to a version whose checkpoint is then retrained (new content).
    pinned = consumer(outputs=["prediction"], experiment="clf_V1")
    DataPipeline(pinned, cache_dir=project / "local_cache").run(["output:Pred"])
    ckpt = project / "experiments/clf_V1/train/checkpoints/best.ckpt"
    state = torch.load(ckpt, weights_only=False)
    state["state_dict"]["net.0.bias"] += 1.0
    torch.save(state, ckpt)
    plan = {p.node: p for p in DataPipeline(pinned, cache_dir=project / "local_cache").plan()}
    assert plan["output:Pred"].status == "stale"
    assert plan["output:Pred"].reasons == ["checkpoint of clf_V1 changed"]


def test_explain_fingerprint_extra_words() -> None:
    old = {
        "experiment": "clf",
        "version": "clf_V0",
        "checkpoint": "best",
        "checkpoint_sha256": "a",
        "config_sha256": "c",
    }
    explain = PredictWithExperiment.explain_fingerprint_extra
    assert explain(old, {**old, "config_sha256": "d"}) == ["config of clf_V0 changed"]
    assert explain(old, {**old, "checkpoint": "last", "checkpoint_sha256": "b"}) == [
        "checkpoint of clf_V0: best -> last"
    ]
    pinned = {**old, "experiment": "clf_V0"}
    assert explain(pinned, {**pinned, "experiment": "clf_V2", "version": "clf_V2"}) == [
        "consumed experiment version: clf_V0 -> clf_V2"
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"experiment": "clff"}, "unknown experiment 'clff'"),
        ({"experiment": "clf_V7"}, "has no version 7"),
        ({"outputs": ["embeding"]}, "does not produce 'embeding'"),
        ({"outputs": ["logits"]}, "it produces: embedding, prediction, probabilities"),
        ({"checkpoint": "worst"}, "expected 'best' or 'last'"),
        ({"outputs": []}, "name at least one output"),
    ],
)
def test_bad_input_is_a_runway_error(project: Path, kwargs: dict[str, Any], message: str) -> None:
    config = consumer(**({"outputs": ["prediction"]} | kwargs))
    with pytest.raises(RunwayError) as info:
        run_pipeline(project, config)
    assert message in str(info.value)
    if kwargs.get("experiment") == "clff":
        assert "did you mean 'clf'" in str(info.value)


def test_version_without_checkpoint(project: Path) -> None:
    make_version(project, "clf", 1, checkpoint=False)
    with pytest.raises(RunwayError, match="clf_V1 has no best checkpoint"):
        run_pipeline(project, consumer(experiment="clf_V1"))


def test_existing_column_is_refused_with_a_rename_hint(project: Path) -> None:
    config = consumer(outputs=["prediction"])
    config["data_pipeline"]["transforms"]["output:Pred"]["setup_kwargs"]["outputs"] = {"prediction": "label"}
    with pytest.raises(RunwayError) as info:
        run_pipeline(project, config)
    assert "column 'label' already exists" in str(info.value)


def test_an_experiment_that_consumes_itself_is_a_cycle(project: Path) -> None:
    experiments = project / "configs" / "experiments"
    node = "{transform_name: 'PredictWithExperiment', input_node: 'input:X', setup_kwargs: {experiment: '%s'}}"
    (experiments / "selfish.jsonnet").write_text("{data_pipeline: {transforms: {'output:P': %s}}}" % (node % "selfish"))
    with pytest.raises(RunwayError, match=r"'selfish' consumes itself \(selfish -> selfish\)"):
        PredictWithExperiment.fingerprint_extra({"experiment": "selfish"})
    # Through another experiment, and through an imported libsonnet file.
    (project / "configs" / "chain.libsonnet").write_text("{n: %s}" % (node % "a_V0"))
    (experiments / "a.jsonnet").write_text("{data_pipeline: {transforms: {'output:P': %s}}}" % (node % "b"))
    (experiments / "b.jsonnet").write_text(
        "local c = import '../chain.libsonnet';\n{data_pipeline: {transforms: {'output:P': c.n}}}"
    )
    with pytest.raises(RunwayError, match=r"'b' consumes itself \(b -> a -> b\)"):
        PredictWithExperiment.fingerprint_extra({"experiment": "b"})


def test_lineage_of_a_config(project: Path, tmp_path: Path) -> None:
    config = consumer(outputs=["prediction"])
    consumed = consumed_experiments(config)
    ckpt = project / "experiments/clf_V0/train/checkpoints/best.ckpt"
    assert consumed == [
        {
            "node": "output:Pred",
            "experiment": "clf",
            "version": "clf_V0",
            "checkpoint": "best",
            "checkpoint_file": "best.ckpt",
            "checkpoint_sha256": checkpoint_sha256(ckpt),
        }
    ]
    assert consumed_experiments(config, ["input:Digits"]) == []
    run_dir = make_version(project, "stacked", 0)
    record_consumed(run_dir, config, ["input:Digits", "output:Pred"])
    manifest = json.loads((run_dir / "train" / "manifest.json").read_text())
    assert manifest["consumed_experiments"] == consumed


def test_checkpoint_hash_is_remembered_beside_the_file(tmp_path: Path) -> None:
    import hashlib

    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"weights" * 1000)
    assert checkpoint_sha256(ckpt) == hashlib.sha256(b"weights" * 1000).hexdigest()
    assert json.loads((tmp_path / ".model.ckpt.sha256.json").read_text())["sha256"] == checkpoint_sha256(ckpt)
    ckpt.write_bytes(b"other weights")  # new size and mtime: hashed again
    assert checkpoint_sha256(ckpt) == hashlib.sha256(b"other weights").hexdigest()


def test_run_model_checks_embedding_shape() -> None:
    import datasets

    class Flat(torch.nn.Module):
        collate_fn = staticmethod(lambda rows: {"x": torch.tensor([r["x"] for r in rows])})

        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def on_predict_start(self) -> None: ...

        def on_predict_end(self) -> None: ...

        def embed_step(self, batch: dict) -> torch.Tensor:
            return batch["x"].sum(dim=1)  # [B], not [B, D]

    ds = datasets.Dataset.from_dict({"x": [[1.0, 2.0], [3.0, 4.0]]})
    flat = Flat()
    model = LoadedModel(flat, RunwayDataModule({}, collate_fn=flat.collate_fn))
    with pytest.raises(RunwayError, match=r"embed_step must return a \[batch, dim\] tensor"):
        run_model(model, ds, ["embedding"], batch_size=2)


def test_to_arrow_keeps_vectors_as_float32_lists() -> None:
    array = to_arrow(np.arange(6, dtype=np.float32).reshape(3, 2))
    assert array.to_pylist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert str(array.type) == "list<item: float>"
