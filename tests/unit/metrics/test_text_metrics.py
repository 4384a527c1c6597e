"""bleu / chrf against sacreBLEU's own API, rouge against hand-computed values."""

import pytest

from runway_for_ml.errors import RunwayError
from runway_for_ml.metrics import EvalRecorder, compute_metric, compute_metrics, rouge_scores

sacrebleu = pytest.importorskip("sacrebleu")

PREDICTIONS = ["the cat sat on the mat", "a dog barked loudly", "great"]
TARGETS = ["the cat is on the mat", "the dog barked", "great"]


def test_bleu_and_chrf_are_sacrebleu_corpus_scores():
    refs = [TARGETS]
    expected_bleu = sacrebleu.metrics.BLEU(effective_order=True).corpus_score(PREDICTIONS, refs).score
    assert compute_metric("bleu", PREDICTIONS, TARGETS) == pytest.approx(expected_bleu)
    assert compute_metric("chrf", PREDICTIONS, TARGETS) == pytest.approx(sacrebleu.corpus_chrf(PREDICTIONS, refs).score)
    chrf_pp = sacrebleu.metrics.CHRF(word_order=2).corpus_score(PREDICTIONS, refs).score
    assert compute_metric("chrf", PREDICTIONS, TARGETS, word_order=2) == pytest.approx(chrf_pp)
    # One-word outputs (labels as text) are not zeroed by the missing 2/3/4-grams.
    assert compute_metric("bleu", ["great", "other"], ["great", "great"]) == pytest.approx(50.0)


def test_bleu_with_several_references_per_sample():
    score = compute_metric("bleu", ["the dog barked"], [["a dog barked", "the dog barked"]])
    assert score == pytest.approx(100.0)
    with pytest.raises(RunwayError, match="same number of references"):
        compute_metric("bleu", ["a", "b"], [["a"], ["b", "c"]])


def test_rouge_by_hand():
    # pred: the cat sat on the mat (6), ref: the cat is on the mat (6)
    # unigram overlap: the x2, cat, on, mat = 5 -> P = R = 5/6
    # bigrams pred: the-cat cat-sat sat-on on-the the-mat; ref: the-cat cat-is is-on on-the the-mat -> 3/5
    # LCS: the cat on the mat = 5 -> 5/6
    scores = rouge_scores(PREDICTIONS[0], TARGETS[0])
    assert scores == pytest.approx({"rouge1": 5 / 6, "rouge2": 3 / 5, "rougeL": 5 / 6})
    assert rouge_scores("Great!", "great") == {"rouge1": 1.0, "rouge2": 0.0, "rougeL": 1.0}
    assert rouge_scores("", "great")["rouge1"] == 0.0
    mean = compute_metric("rouge", [PREDICTIONS[0], "x"], [TARGETS[0], ["y", "x"]])
    assert mean["rouge1"] == pytest.approx((5 / 6 + 1.0) / 2)


def test_text_metrics_from_eval_specs():
    rec = EvalRecorder([{"prediction": p, "target": t} for p, t in zip(PREDICTIONS, TARGETS, strict=True)])
    metrics = compute_metrics(rec, ["exact_match", "bleu", "chrf", "rouge"])
    assert metrics["exact_match"] == pytest.approx(1 / 3)
    assert set(metrics["rouge"]) == {"rouge1", "rouge2", "rougeL"}
    assert 0 < metrics["bleu"] < 100 and 0 < metrics["chrf"] < 100
