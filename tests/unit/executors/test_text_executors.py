"""Text executors on tiny models built from configs (< 1M parameters) and a toy sentiment task."""

from __future__ import annotations

import json
import random

import pytest

pytest.importorskip("transformers")

import datasets
import pytorch_lightning as pl
import torch

from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.executors.text_base import pad_collate
from runway_for_ml.experiment.datamodule import RunwayDataModule

GOOD = ["great", "tasty", "lovely", "excellent", "perfect", "delicious"]
BAD = ["awful", "stale", "bland", "broken", "soggy", "terrible"]
FILL = ["the", "coffee", "was", "really", "and", "box", "very", "this", "tea", "snack"]


def make_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        [" ".join(GOOD + BAD + FILL + ["other"])] * 3, trainers.WordPieceTrainer(vocab_size=200, special_tokens=special)
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def reviews(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        good = rng.random() < 0.5
        words = [*rng.sample(FILL, 4), rng.choice(GOOD if good else BAD)]
        rng.shuffle(words)
        rows.append({"review": " ".join(words), "score": "great" if good else "other"})
    return rows


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


@pytest.fixture(scope="module")
def splits(tokenizer):
    out = {}
    for split, (n, seed) in {"train": (160, 0), "validation": (40, 1), "test": (40, 2)}.items():
        rows = reviews(n, seed)
        enc = tokenizer([r["review"] for r in rows], truncation=True, max_length=16)
        target = tokenizer([r["score"] for r in rows])
        out[split] = datasets.Dataset.from_dict(
            {
                "review": [r["review"] for r in rows],
                "score": [r["score"] for r in rows],
                "input_ids": enc["input_ids"],
                "attention_mask": enc["attention_mask"],
                "labels": target["input_ids"],
            }
        )
    return out


BERT = {
    "ConfigClass": "BertConfig",
    "train_from_scratch": True,
    "config_kwargs": {
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 32,
    },
}
T5 = {
    "ModelClass": "T5ForConditionalGeneration",
    "ConfigClass": "T5Config",
    "train_from_scratch": True,
    "config_kwargs": {"d_model": 32, "d_ff": 64, "d_kv": 16, "num_layers": 1, "num_heads": 2},
}


def config(executor: str, model_config: dict, **sections) -> dict:
    train = {
        "batch_size": 16,
        "optimizer_config": {"optimizer_name": "AdamW", "optimizer_params": {"lr": 3e-3}},
        **sections.pop("train", {}),
    }
    return {
        "meta": {"seed": 0},
        "executor": {"ExecutorClass": executor, "model_config": model_config},
        "train": train,
        "test": sections.pop("test", {"batch_size": 40}),
    }


def fit(executor, epochs: int, tmp_path) -> pl.Trainer:
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        callbacks=[pl.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), monitor="val_loss")],
    )
    trainer.fit(executor, datamodule=RunwayDataModule(executor.config, executor.data, collate_fn=executor.collate_fn))
    return trainer


def classifier(tokenizer, splits, **model_config):
    cfg = config(
        "SequenceClassificationExecutor",
        {
            "ModelClass": "BertForSequenceClassification",
            **BERT,
            "label_column": "score",
            "text_column": "review",
            **model_config,
        },
    )
    return _build(cfg, splits, tokenizer)


def _build(cfg, splits, tokenizer):
    from runway_for_ml.executors import get_executor_class

    cls = get_executor_class(cfg["executor"]["ExecutorClass"])
    return cls(cfg, data=splits, model_config=cfg["executor"]["model_config"], tokenizer=tokenizer)


def test_pad_collate_pads_ids_masks_and_labels():
    batch = pad_collate(
        [
            {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [1], "text": "a"},
            {"input_ids": [5], "attention_mask": [1], "labels": [2, 3], "text": "b"},
        ],
        pad_token_id=9,
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 9, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[1, -100], [2, 3]]
    assert batch["text"] == ["a", "b"]


def test_classifier_learns_string_labels_and_records_text(tokenizer, splits, tmp_path):
    torch.manual_seed(0)
    ex = classifier(tokenizer, splits)
    assert ex.label_names == ["great", "other"]
    assert sum(p.numel() for p in ex.parameters()) < 1_000_000
    assert ex.model.config.vocab_size == len(tokenizer)
    fit(ex, 8, tmp_path)
    ex.eval()
    batch = ex.collate_fn([splits["test"][i] for i in range(40)])
    with torch.no_grad():
        out = ex.predict_step(batch, 0)
    accuracy = (out["prediction"] == out["target"]).float().mean().item()
    assert accuracy >= 0.9, out
    assert out["target_label"] == splits["test"]["score"]
    assert out["predicted_label"][0] == ["great", "other"][out["prediction"][0]]
    assert out["text"][0] == splits["test"][0]["review"]
    assert out["probabilities"].shape == (40, 2)
    served = ex.serve_step({"text": splits["test"][0]["review"]})
    assert served["label"] == out["predicted_label"][0]
    assert served["probabilities"] == pytest.approx(out["probabilities"][0].tolist(), abs=1e-5)
    embedded = ex.embed_step(batch)
    assert embedded.shape == (40, 32)
    # hf_model/ is written after fit with the best weights, loadable by plain transformers.
    hf_dir = tmp_path / "hf_model"
    assert (hf_dir / "config.json").is_file() and (hf_dir / "tokenizer.json").is_file()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(hf_dir)
    assert model.config.id2label == {0: "great", 1: "other"}
    tok = AutoTokenizer.from_pretrained(hf_dir)
    assert tok("great coffee")["input_ids"] == tokenizer("great coffee")["input_ids"]


def test_seq2seq_generates_text_with_generation_kwargs(tokenizer, splits, tmp_path):
    torch.manual_seed(0)
    cfg = config(
        "Seq2SeqExecutor",
        {**T5, "text_column": "review", "target_text_column": "score", "max_new_tokens": 4},
        test={"batch_size": 40, "generation_kwargs": {"num_beams": 2}},
    )
    ex = _build(cfg, splits, tokenizer)
    assert ex.model.config.decoder_start_token_id == tokenizer.pad_token_id
    fit(ex, 20, tmp_path)
    ex.eval()
    assert ex.generation_kwargs()["num_beams"] == 2
    batch = ex.collate_fn([splits["test"][i] for i in range(40)])
    with torch.no_grad():
        out = ex.predict_step(batch, 0)
    assert out["input_text"][0] == splits["test"][0]["review"]
    assert out["target"][:3] == splits["test"]["score"][:3]
    exact = sum(p == t for p, t in zip(out["prediction"], out["target"], strict=True)) / 40
    # A keyword task: chance is 0.5; a few CPU-thread-order differences move it between ~0.85 and 1.0.
    assert exact >= 0.75, list(zip(out["prediction"], out["target"], strict=True))[:5]
    assert ex.embed_step(batch).shape == (40, 32)
    from transformers import T5ForConditionalGeneration

    assert T5ForConditionalGeneration.from_pretrained(tmp_path / "hf_model").config.d_model == 32


def test_causal_lm_trains_and_continues_prompts(tokenizer, splits, tmp_path):
    torch.manual_seed(0)
    gpt = {
        "ModelClass": "GPT2LMHeadModel",
        "ConfigClass": "GPT2Config",
        "train_from_scratch": True,
        "config_kwargs": {"n_embd": 32, "n_layer": 1, "n_head": 2, "n_positions": 32},
        "max_new_tokens": 3,
    }
    ex = _build(config("CausalLMExecutor", gpt), splits, tokenizer)
    fit(ex, 1, tmp_path)
    ex.eval()
    rows = [splits["test"][i] for i in range(4)]
    rows[0] = {**rows[0], "input_ids": rows[0]["input_ids"][:3], "attention_mask": [1, 1, 1]}
    batch = ex.collate_fn(rows)
    with torch.no_grad():
        out = ex.predict_step(batch, 0)
    assert len(out["prediction"]) == 4 and all(isinstance(p, str) for p in out["prediction"])
    assert out["input_text"][0] == tokenizer.decode(rows[0]["input_ids"], skip_special_tokens=True)
    assert ex.embed_step(batch).shape == (4, 32)


def test_lora_trains_only_adapters_and_saves_them(tokenizer, splits, tmp_path):
    pytest.importorskip("peft")
    torch.manual_seed(0)
    cfg = config(
        "SequenceClassificationExecutor",
        {"ModelClass": "BertForSequenceClassification", **BERT, "label_column": "score"},
        train={"lora": {"r": 4, "alpha": 8, "target_modules": ["query", "value"]}},
    )
    ex = _build(cfg, splits, tokenizer)
    trainable = {n for n, p in ex.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "classifier" in n for n in trainable)
    fit(ex, 1, tmp_path)
    assert (tmp_path / "hf_model" / "adapter" / "adapter_config.json").is_file()
    adapter = json.loads((tmp_path / "hf_model" / "adapter" / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == ["query", "value"]
    # The saved model has the adapters merged: plain transformers, same predictions as unmerged.
    from transformers import AutoModelForSequenceClassification

    merged = AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf_model").eval()
    ckpt = next((tmp_path / "ckpt").glob("*.ckpt"))
    ex.load_state_dict(torch.load(ckpt, weights_only=False)["state_dict"])
    ex.eval()
    batch = ex.collate_fn([splits["test"][i] for i in range(8)])
    inputs = ex.model_inputs(batch)
    with torch.no_grad():
        unmerged = ex.model(**inputs).logits
        assert torch.allclose(merged(**inputs).logits, unmerged, atol=1e-4)
        ex.inference_model()
        assert ex._merged_for_inference
        assert torch.allclose(ex.model(**inputs).logits, unmerged, atol=1e-4)


def test_original_use_lora_form_is_accepted():
    from runway_for_ml.executors.lora import lora_settings

    settings = lora_settings(
        {
            "train": {
                "use_lora": True,
                "lora_config": {"r": 2, "lora_alpha": 4, "target_modules": ["query"], "task_type": "SEQ_CLS"},
            }
        }
    )
    assert settings["r"] == 2 and settings["lora_alpha"] == 4 and "task_type" not in settings


# ---------------------------------------------------------------- bad input


def validate(executor: str, model_config: dict, **sections):
    from runway_for_ml.executors import get_executor_class

    cfg = {"executor": {"ExecutorClass": executor, "model_config": model_config}, **sections}
    get_executor_class(executor).validate_config(cfg)


def test_unknown_model_class_suggests_transformers_classes():
    with pytest.raises(ConfigError) as err:
        validate("SequenceClassificationExecutor", {**BERT, "ModelClass": "BertForSequenceClasification"})
    assert "ModelClass" in str(err.value) and "BertForSequenceClassification" in str(err.value)


def test_lora_target_modules_matching_nothing_lists_candidates():
    with pytest.raises(ConfigError) as err:
        validate(
            "SequenceClassificationExecutor",
            {"ModelClass": "BertForSequenceClassification", **BERT},
            train={"lora": {"target_modules": ["q_proj"]}},
        )
    message = str(err.value)
    assert "train.lora.target_modules" in message and "'q_proj'" in message
    assert "query" in message and "value" in message


def test_generation_kwargs_on_a_classifier_is_refused():
    with pytest.raises(ConfigError, match="test.generation_kwargs"):
        validate(
            "SequenceClassificationExecutor",
            {"ModelClass": "BertForSequenceClassification", **BERT},
            test={"generation_kwargs": {"num_beams": 4}},
        )


def test_misspelt_generation_kwarg_and_model_config_key():
    with pytest.raises(ConfigError, match="num_beams"):
        validate("Seq2SeqExecutor", T5, test={"generation_kwargs": {"num_beam": 4}})
    with pytest.raises(ConfigError, match="label_column"):
        validate(
            "SequenceClassificationExecutor",
            {"ModelClass": "BertForSequenceClassification", **BERT, "label_colum": "x"},
        )


def test_missing_pretrained_folder_and_offline_hub_id():
    with pytest.raises(RunwayError, match="does not exist"):
        validate("Seq2SeqExecutor", {"ModelClass": "T5ForConditionalGeneration", "model_version": "./no/such/model"})
    with pytest.raises(RunwayError, match="offline"):
        validate(
            "Seq2SeqExecutor",
            {"ModelClass": "T5ForConditionalGeneration", "model_version": "nobody-has/this-model-xyz"},
        )


def test_pad_collate_cuts_fixed_padding_to_the_longest_row():
    rows = [
        {
            "input_ids": [2, 7, 3, 0, 0, 0],
            "attention_mask": [1, 1, 1, 0, 0, 0],
            "labels": [5, 1, 0],
            "labels_attention_mask": [1, 1, 0],
        },
        {
            "input_ids": [2, 3, 0, 0, 0, 0],
            "attention_mask": [1, 1, 0, 0, 0, 0],
            "labels": [5, 0, 0],
            "labels_attention_mask": [1, 0, 0],
        },
    ]
    batch = pad_collate(rows)
    assert batch["input_ids"].tolist() == [[2, 7, 3], [2, 3, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[5, 1], [5, 0]]


def test_model_lib_can_be_a_project_module(tmp_path, monkeypatch):
    from runway_for_ml.executors.hf_models import build_hf_model

    (tmp_path / "my_text_models.py").write_text(
        "from transformers import BertForSequenceClassification\n\n"
        "class TinyBert(BertForSequenceClassification):\n"
        "    tag = 'project model'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_hf_model({**BERT, "ModelLib": "my_text_models", "ModelClass": "TinyBert"}, {"vocab_size": 50})
    assert type(model).tag == "project model" and model.config.hidden_size == 32
    with pytest.raises(ConfigError, match="TinyBert"):
        build_hf_model({**BERT, "ModelLib": "my_text_models", "ModelClass": "TinyBrt"})
    with pytest.raises(ConfigError, match="ModelLib"):
        build_hf_model({**BERT, "ModelLib": "no_such_models_module", "ModelClass": "TinyBert"})
