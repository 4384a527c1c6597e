"""Built-in metrics agree with scikit-learn on small fixed inputs; custom metrics register and run."""

from __future__ import annotations

import math

import pytest
import torchmetrics
from sklearn import metrics as sk

from runway_for_ml.errors import RunwayError
from runway_for_ml.metrics import METRICS, compute_metric, register_metric

PRED = [0, 2, 1, 1, 0, 2, 2, 1, 0, 0]
TRUE = [0, 1, 1, 1, 2, 2, 2, 0, 0, 1]


@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_classification_metrics_match_sklearn(average):
    assert compute_metric("precision", PRED, TRUE, average=average) == pytest.approx(
        sk.precision_score(TRUE, PRED, average=average), abs=1e-6
    )
    assert compute_metric("recall", PRED, TRUE, average=average) == pytest.approx(
        sk.recall_score(TRUE, PRED, average=average), abs=1e-6
    )
    assert compute_metric("f1", PRED, TRUE, average=average) == pytest.approx(
        sk.f1_score(TRUE, PRED, average=average), abs=1e-6
    )


def test_accuracy_confusion_matrix_and_per_class():
    assert compute_metric("accuracy", PRED, TRUE) == pytest.approx(sk.accuracy_score(TRUE, PRED))
    assert compute_metric("confusion_matrix", PRED, TRUE) == sk.confusion_matrix(TRUE, PRED).tolist()
    assert compute_metric("f1", PRED, TRUE, average=None) == pytest.approx(
        sk.f1_score(TRUE, PRED, average=None).tolist(), abs=1e-6
    )
    # Macro averages over all num_classes when given explicitly (class 3 never occurs).
    assert len(compute_metric("confusion_matrix", PRED, TRUE, num_classes=4)) == 4


def test_scores_and_string_labels():
    scores = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]
    assert compute_metric("accuracy", scores, [0, 1, 1, 1]) == pytest.approx(0.75)
    words = ["cat", "dog", "dog", "bird"]
    assert compute_metric("accuracy", words, ["cat", "dog", "cat", "bird"]) == pytest.approx(0.75)
    assert compute_metric("f1", words, ["cat", "dog", "cat", "bird"]) == pytest.approx(
        sk.f1_score(["cat", "dog", "cat", "bird"], words, average="macro"), abs=1e-6
    )


def test_regression_metrics_match_sklearn():
    y_pred, y_true = [2.5, 0.0, 2.1, 7.8], [3.0, -0.5, 2.0, 7.0]
    assert compute_metric("mse", y_pred, y_true) == pytest.approx(sk.mean_squared_error(y_true, y_pred))
    assert compute_metric("mae", y_pred, y_true) == pytest.approx(sk.mean_absolute_error(y_true, y_pred))
    assert compute_metric("rmse", y_pred, y_true) == pytest.approx(math.sqrt(sk.mean_squared_error(y_true, y_pred)))
    assert compute_metric("r2", y_pred, y_true) == pytest.approx(sk.r2_score(y_true, y_pred))


def test_text_metrics():
    assert compute_metric("exact_match", ["a ", "b", "C"], ["a", "b", "c"]) == pytest.approx(2 / 3)
    assert compute_metric("exact_match", ["C"], ["c"], lowercase=True) == 1.0
    # sacreBLEU's corpus BLEU, on its 0-100 scale.
    assert compute_metric("bleu", ["the cat is on the mat"], ["the cat is on the mat"]) == pytest.approx(100.0)
    assert compute_metric("bleu", ["a dog ran far away"], ["the cat is on the mat"]) == 0.0
    assert compute_metric("wer", ["hello world"], ["hello there world"]) == pytest.approx(1 / 3)


def test_custom_function_and_torchmetrics_class():
    @register_metric(name="within_one_test")
    def within_one(predictions, targets, tolerance=1):
        return sum(abs(p - t) <= tolerance for p, t in zip(predictions, targets, strict=True)) / len(targets)

    assert compute_metric("within_one_test", [1, 5, 3], [2, 2, 3]) == pytest.approx(2 / 3)
    assert compute_metric("within_one_test", [1, 5, 3], [2, 2, 3], tolerance=3) == 1.0

    @register_metric
    class SpearmanTest(torchmetrics.SpearmanCorrCoef):
        pass

    assert compute_metric("SpearmanTest", [1.0, 2.0, 3.0], [10.0, 20.0, 30.0]) == pytest.approx(1.0, abs=1e-5)
    assert "SpearmanTest" in METRICS


def test_unknown_metric_and_length_mismatch():
    with pytest.raises(RunwayError, match=r"unknown metric 'acuracy'.*did you mean 'accuracy'"):
        compute_metric("acuracy", [1], [1])
    with pytest.raises(RunwayError, match="2 predictions but 1 targets"):
        compute_metric("accuracy", [1, 0], [1])
