"""Validation of the experiment sections, and `runway ls` / `runway diff` over version folders."""

import json
from pathlib import Path

import pytest

from runway_for_ml.errors import ConfigError
from runway_for_ml.experiment.diff import diff_versions
from runway_for_ml.experiment.listing import flatten, list_runs
from runway_for_ml.experiment.manifest import update_manifest
from runway_for_ml.experiment.sections import data_source, validate_sections


def test_unknown_and_mistyped_keys() -> None:
    with pytest.raises(ConfigError, match=r"train.batchsize: unknown key \(did you mean 'batch_size'"):
        validate_sections({"train": {"batchsize": 3, "data_node": "output:X"}})
    with pytest.raises(ConfigError, match="train.batch_size: expected an integer >= 1, found true"):
        validate_sections({"train": {"batch_size": True, "data_node": "output:X"}})
    with pytest.raises(ConfigError, match="eval.key_metirc"):
        validate_sections({"eval": {"key_metirc": "f1"}})
    with pytest.raises(ConfigError, match="dirpath: runway sets it"):
        validate_sections({"train": {"data_node": "o:X", "model_checkpoint_callback_paras": {"dirpath": "/x"}}})
    with pytest.raises(ConfigError, match="say where the training data comes from"):
        validate_sections({"train": {"batch_size": 4}})
    validate_sections({"train": {"data_node": "output:X", "trainer_paras": {"anything": 1}}, "test": {"split": "test"}})


def test_data_source_forms() -> None:
    assert data_source({"train": {"data_node": "output:A"}}) == {"*": {"node": "output:A", "split": None}}
    cfg = {"train": {"splits": {"train": {"node": "output:A", "split": "x"}, "validation": "output:B"}}}
    assert data_source(cfg) == {
        "train": {"node": "output:A", "split": "x"},
        "validation": {"node": "output:B", "split": None},
    }
    # test falls back to train's source
    assert data_source(cfg, "test") == data_source(cfg)


def _fake_version(root: Path, name: str, *, lr: float, acc: float, status: str = "completed") -> Path:
    version = root / "experiments" / name
    (version / "train").mkdir(parents=True)
    (version / "train" / "config.json").write_text(json.dumps({"train": {"lr": lr, "batch_size": 8}}))
    update_manifest(version, status=status, key_metric="accuracy", data_nodes={"output:X": f"key-{lr}"})
    (version / "infer-test").mkdir()
    (version / "infer-test" / "metrics.json").write_text(json.dumps({"accuracy": acc, "confusion_matrix": [[1]]}))
    return version


def test_list_runs_and_diff(tmp_path: Path) -> None:
    (tmp_path / "configs" / "experiments").mkdir(parents=True)
    (tmp_path / "configs" / "experiments" / "untrained.jsonnet").write_text("{}")
    a = _fake_version(tmp_path, "digits_V0", lr=0.001, acc=0.9)
    b = _fake_version(tmp_path, "digits_V1", lr=0.003, acc=0.95, status="failed")
    rows = list_runs(tmp_path)
    assert [(r["experiment"], r["run_name"], r["status"]) for r in rows] == [
        ("digits", "digits_V0", "completed"),
        ("digits", "digits_V1", "failed"),
        ("untrained", None, "not trained"),
    ]
    assert rows[1]["key_metric"] == {"name": "accuracy", "value": 0.95, "source": "infer-test", "split": "test"}
    diff = diff_versions(a, b)
    assert diff["config"] == [{"path": "train.lr", "a": 0.001, "b": 0.003}]
    assert diff["data_nodes"] == [{"path": "output:X", "a": "key-0.001", "b": "key-0.003"}]
    assert {"path": "infer-test/accuracy", "a": 0.9, "b": 0.95} in diff["metrics"]


def test_flatten() -> None:
    assert flatten({"a": {"b": {"c": 1}}, "d": [1, {"e": 2}], "f": {}}) == {"a.b.c": 1, "d": [1, {"e": 2}], "f": {}}
