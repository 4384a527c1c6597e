"""Per-example preprocessing at serving time equals what the pipeline did to the same rows."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from runway_for_ml import HFDatasetTransform, register_transform_functor
from runway_for_ml.errors import ConfigError
from runway_for_ml.executors import ClassificationExecutor
from runway_for_ml.pipeline.runner import DataPipeline
from runway_for_ml.serving.preprocess import ExamplePreprocessor


@register_transform_functor
class ServeTestRows(HFDatasetTransform):
    """input: 60 rows of a 4-value vector ``x`` (0..16) and a label."""

    def _call(self, data):
        rng = np.random.default_rng(0)
        x = rng.integers(0, 17, size=(60, 4)).astype("float32")
        return datasets.Dataset.from_dict({"x": x.tolist(), "label": (x.sum(1) > 32).astype(int).tolist()})


@register_transform_functor
class ServeTestCenterHooks(HFDatasetTransform):
    """Subtract the train split's mean, through the serving hooks."""

    def fit_examples(self, data):
        self.mean = np.asarray(data["train"]["x"], dtype=np.float32).mean(0)

    def transform_examples(self, batch):
        return {"x": np.asarray(batch["x"], dtype=np.float32) - self.mean}

    def _call(self, data):
        self.fit_examples(data)
        return data.map(self.transform_examples, batched=True)


@register_transform_functor
class ServeTestScaleNoHooks(HFDatasetTransform):
    """Divide by the train split's max: no hooks, so serving replays it."""

    def _call(self, data):
        top = float(np.asarray(data["train"]["x"]).max())
        return data.map(lambda b: {"x": (np.asarray(b["x"], dtype=np.float32) / top)}, batched=True)


def _config(tmp_path, last: str = "ServeTestScaleNoHooks"):
    return {
        "meta": {"seed": 0, "default_cache_dir": str(tmp_path / "cache")},
        "data_pipeline": {
            "name": "serve-test",
            "transforms": {
                "input:Rows": {"transform_name": "ServeTestRows"},
                "process:Split": {
                    "input_node": "input:Rows",
                    "transform_name": "SplitHFDataset",
                    "setup_kwargs": {"test_size": 0.25, "validation_size": 0},
                },
                "process:Norm": {
                    "input_node": "process:Split",
                    "transform_name": "NormalizeColumns",
                    "setup_kwargs": {"columns": ["x"], "divide_by": 2.0, "subtract": 1.0},
                },
                "process:Center": {"input_node": "process:Norm", "transform_name": "ServeTestCenterHooks"},
                "output:Scale": {"input_node": "process:Center", "transform_name": last},
            },
        },
        "train": {"data_node": "output:Scale"},
    }


def test_served_rows_equal_the_pipeline_output_through_hooks_row_lists_and_replay(tmp_path):
    config = _config(tmp_path)
    outputs = DataPipeline(config).get_data(["process:Split", "output:Scale"])
    raw, processed = outputs["process:Split"]["test"], outputs["output:Scale"]["test"]
    pre = ExamplePreprocessor(config, None)
    assert [(kind, node) for kind, node, _ in pre.steps] == [
        ("rows", "process:Norm"),
        ("hook", "process:Center"),
        ("replay", "output:Scale"),
    ]
    served = pre([{"x": row["x"]} for row in raw])
    assert np.allclose(np.asarray([r["x"] for r in served], dtype=np.float32), np.asarray(processed["x"]), atol=1e-6)
    # Without the replay step the export has all it needs; with it, export refuses and says why.
    with pytest.raises(ConfigError, match=r"output:Scale.*replayed"):
        pre.fitted()


def test_a_preprocessor_of_hooks_only_exports_and_pickles(tmp_path):
    import pickle

    config = _config(tmp_path, last="ServeTestCenterHooks")
    raw = DataPipeline(config).get_data(["process:Split"])["process:Split"]["test"]
    pre = ExamplePreprocessor(config, None)
    fitted = pickle.loads(pickle.dumps(pre.fitted()))
    rows = [{"x": row["x"]} for row in raw]
    assert np.allclose([r["x"] for r in fitted(rows)], [r["x"] for r in pre(rows)])


def test_base_executor_serve_step_takes_columns_and_answers_like_predict_step():
    torch.manual_seed(0)
    executor = ClassificationExecutor({"meta": {"seed": 0}}, model_config={"input_dim": 4, "num_classes": 3}).eval()
    rows = [[0.1, 0.2, 0.3, 0.4], [1.0, 0.0, -1.0, 2.0]]
    served = executor.serve_step({"pixels": [np.asarray(r, dtype=np.float32) for r in rows]})
    predicted = executor.predict_step({"pixels": torch.tensor(rows)}, 0)
    assert served["prediction"].tolist() == predicted["prediction"].tolist()
    assert torch.allclose(served["probabilities"], predicted["probabilities"])
