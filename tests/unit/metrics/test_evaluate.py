"""compute_metrics over a recorder with eval.metrics specs; metrics.json; the confusion-matrix PNG."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.metrics import EvalRecorder, compute_metrics, evaluate, normalize_metric_specs
from runway_for_ml.metrics.evaluate import save_confusion_matrix_png


def _recorder() -> EvalRecorder:
    rec = EvalRecorder(stats={"class_names": ["a", "b", "c"]})
    rec.add_batch({"prediction": [0, 1, 2, 2, 1], "target": [0, 1, 2, 1, 1], "score": [0.0, 1.0, 2.0, 2.0, 1.0]})
    return rec


def test_specs_keys_and_duplicate_names():
    specs = normalize_metric_specs(
        [
            "accuracy",
            {"name": "f1", "kwargs": {"average": "macro"}},
            {"name": "f1", "kwargs": {"average": "micro"}},
            {"name": "confusion_matrix", "key": "cm"},
        ]
    )
    assert [s["key"] for s in specs] == ["accuracy", "f1_macro", "f1_micro", "cm"]
    with pytest.raises(ConfigError, match=r"eval.metrics\[1\]: unknown metric 'recal'.*did you mean 'recall'"):
        normalize_metric_specs(["accuracy", {"name": "recal"}])
    with pytest.raises(ConfigError, match=r"eval.metrics\[0\].kwarg: unknown key.*did you mean 'kwargs'"):
        normalize_metric_specs([{"name": "f1", "kwarg": {}}])
    with pytest.raises(ConfigError, match="result key 'f1'"):
        normalize_metric_specs(["f1", "f1"])
    with pytest.raises(ConfigError, match="must be a list"):
        normalize_metric_specs("accuracy")


def test_compute_metrics_over_columns():
    results = compute_metrics(
        _recorder(),
        [
            {"name": "accuracy"},
            {"name": "f1", "kwargs": {"average": "macro"}},
            {"name": "mae", "prediction_column": "score", "key": "score_mae"},
        ],
    )
    assert results["accuracy"] == pytest.approx(0.8)
    assert results["score_mae"] == pytest.approx(0.2)
    assert set(results) == {"accuracy", "f1", "score_mae"}


def test_metric_failure_names_the_spec():
    with pytest.raises(RunwayError, match=r"metric 'f1' \(eval.metrics\[0\]\) failed"):
        compute_metrics(_recorder(), [{"name": "f1", "kwargs": {"average": "sometimes"}}])
    with pytest.raises(RunwayError, match="no column 'logits'"):
        compute_metrics(_recorder(), [{"name": "accuracy", "prediction_column": "logits"}])


def test_evaluate_writes_metrics_json_and_confusion_png(tmp_path):
    metrics = evaluate(_recorder(), [{"name": "accuracy"}, {"name": "confusion_matrix"}], tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == metrics
    assert saved["confusion_matrix"] == [[1, 0, 0], [0, 2, 1], [0, 0, 1]]
    png = tmp_path / "confusion_matrix.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as img:
        assert img.format == "PNG" and img.size[0] >= 300
    assert not list(tmp_path.glob(".*tmp*"))


def test_confusion_png_rejects_bad_shapes(tmp_path):
    with pytest.raises(RunwayError, match="must be square"):
        save_confusion_matrix_png(tmp_path / "x.png", [[1, 2, 3], [4, 5, 6]])
    with pytest.raises(RunwayError, match="2 labels for a 3x3"):
        save_confusion_matrix_png(tmp_path / "x.png", [[1, 0, 0]] * 3, ["a", "b"])
    assert not (tmp_path / "x.png").exists()
