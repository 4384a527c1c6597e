"""Text metrics: ``bleu`` and ``chrf`` (sacreBLEU, corpus level) and ``rouge`` (ROUGE-1/2/L F1).

Predictions are strings; a target is a string or a list of reference strings (several references
per sample). ``exact_match`` lives with the other built-ins in ``registry.py``.

::

    eval: { metrics: [
      { name: 'exact_match' },
      { name: 'bleu' },                                   // 0-100, sacreBLEU's scale
      { name: 'chrf', kwargs: { word_order: 2 } },        // chrF++
      { name: 'rouge' },                                  // {rouge1, rouge2, rougeL}
    ] }

>>> from runway_for_ml.metrics import compute_metric
>>> round(compute_metric("bleu", ["the cat sat on the mat"], ["the cat sat on the mat"]), 6)
100.0
>>> round(compute_metric("rouge", ["the cat sat"], ["the cat ran"])["rouge1"], 4)
0.6667
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.metrics.registry import register_metric

__all__ = ["rouge_scores"]

_WORD = re.compile(r"\w+", re.UNICODE)


def _references(targets: Sequence[Any]) -> list[list[str]]:
    """Per-sample reference lists -> sacreBLEU's reference streams (one list per reference position)."""
    per_sample = [
        [str(t)] if isinstance(t, str) or not isinstance(t, Sequence) else [str(r) for r in t] for t in targets
    ]
    count = max((len(refs) for refs in per_sample), default=1)
    if any(len(refs) != count for refs in per_sample):
        raise RunwayError(
            "every sample needs the same number of references for sacreBLEU",
            hint="give each target as one string, or lists of equal length",
        )
    return [[refs[i] for refs in per_sample] for i in range(count)]


def _sacrebleu() -> Any:
    try:
        import sacrebleu.metrics
    except ImportError as exc:
        raise RunwayError(
            "the bleu and chrf metrics need the 'sacrebleu' package",
            hint="pip install 'runway_for_ml[text]' (or pip install sacrebleu)",
        ) from exc
    return sacrebleu.metrics


@register_metric(name="bleu")
def _bleu(predictions: list, targets: list, **kwargs: Any) -> float:
    """Corpus BLEU from sacreBLEU (0-100), ``kwargs`` go to ``sacrebleu.metrics.BLEU``.

    ``effective_order`` defaults to true: n-gram orders longer than every prediction are left out
    instead of zeroing the score, which matters for short outputs (labels, single words).
    """
    kwargs.setdefault("effective_order", True)
    metric = _sacrebleu().BLEU(**kwargs)
    return float(metric.corpus_score([str(p) for p in predictions], _references(targets)).score)


@register_metric(name="chrf")
def _chrf(predictions: list, targets: list, **kwargs: Any) -> float:
    """Corpus chrF from sacreBLEU (0-100); ``word_order: 2`` gives chrF++."""
    metric = _sacrebleu().CHRF(**kwargs)
    return float(metric.corpus_score([str(p) for p in predictions], _references(targets)).score)


def _tokens(text: str, lowercase: bool) -> list[str]:
    return _WORD.findall(text.lower() if lowercase else text)


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _f1(overlap: int, predicted: int, reference: int) -> float:
    if overlap == 0 or predicted == 0 or reference == 0:
        return 0.0
    precision, recall = overlap / predicted, overlap / reference
    return 2 * precision * recall / (precision + recall)


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_scores(prediction: str, reference: str, lowercase: bool = True) -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F1 of one prediction against one reference (word tokens).

    >>> rouge_scores("the cat sat on the mat", "the cat on the mat")["rougeL"]
    0.9090909090909091
    """
    pred, ref = _tokens(prediction, lowercase), _tokens(reference, lowercase)
    out = {}
    for n in (1, 2):
        p, r = _ngrams(pred, n), _ngrams(ref, n)
        out[f"rouge{n}"] = _f1(sum((p & r).values()), sum(p.values()), sum(r.values()))
    out["rougeL"] = _f1(_lcs(pred, ref), len(pred), len(ref))
    return out


@register_metric(name="rouge")
def _rouge(predictions: list, targets: list, lowercase: bool = True) -> dict[str, float]:
    """Mean ROUGE-1/2/L F1 over the samples (the best reference of each); keys rouge1, rouge2, rougeL."""
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    if not targets:
        return totals
    for prediction, target in zip(predictions, targets, strict=True):
        references = [target] if isinstance(target, str) or not isinstance(target, Sequence) else list(target)
        scores = [rouge_scores(str(prediction), str(ref), lowercase) for ref in references]
        for key in totals:
            totals[key] += max(s[key] for s in scores)
    return {key: value / len(targets) for key, value in totals.items()}
