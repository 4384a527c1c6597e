"""The built-in transforms on tiny local data."""

import json
import time

import datasets
import pytest

from runway_for_ml.pipeline.builtin_transforms import (
    FilterRows,
    LoadHFDataset,
    LoadSklearnDigits,
    NormalizeColumns,
    RenameColumns,
    SelectColumns,
    ShuffleAndTake,
    SplitHFDataset,
)

ROWS = [{"id": i, "text": f"t{i}", "score": i / 10} for i in range(20)]


def run(cls, data=None, **kwargs):
    t = cls()
    t.configure(**kwargs)
    return t(data)


@pytest.fixture
def files(tmp_path):
    ds = datasets.Dataset.from_list(ROWS)
    ds.to_csv(str(tmp_path / "d.csv"), index=False)
    ds.to_json(str(tmp_path / "d.jsonl"))
    ds.to_parquet(str(tmp_path / "d.parquet"))
    (tmp_path / "d.json").write_text(json.dumps(ROWS))
    (tmp_path / "d.txt").write_text("\n".join(r["text"] for r in ROWS) + "\n")
    datasets.DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "saved"))
    return tmp_path


@pytest.mark.parametrize("name", ["d.csv", "d.jsonl", "d.parquet", "d.json"])
def test_load_files(files, name):
    out = run(LoadHFDataset, dataset_path=str(files / name), split="train")
    assert out.num_rows == 20 and out[3]["id"] == 3 and out[3]["text"] == "t3"


def test_load_text_and_saved_folder(files):
    text = run(LoadHFDataset, dataset_path=str(files / "d.txt"))
    assert isinstance(text, datasets.DatasetDict) and text["train"][0] == {"text": "t0"}
    saved = run(LoadHFDataset, dataset_path=str(files / "saved"))
    assert saved["train"].num_rows == 20
    assert run(LoadHFDataset, dataset_path=str(files / "saved"), split="train").num_rows == 20


def test_load_missing_file_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run(LoadHFDataset, dataset_path=str(tmp_path / "nope.csv"))


def test_load_fingerprint_follows_file_content(files):
    before = LoadHFDataset.fingerprint_extra({"dataset_path": str(files / "d.csv")})
    (files / "d.csv").write_text("id\n1\n")
    assert LoadHFDataset.fingerprint_extra({"dataset_path": str(files / "d.csv")}) != before
    assert LoadHFDataset.fingerprint_extra({"dataset_path": "some/hub-name"}) is None


def test_digits():
    ds = LoadSklearnDigits()
    ds.configure()
    full = ds(None)
    assert full.num_rows == 1797 and len(full[0]["pixels"]) == 64 and 0 <= full[0]["label"] <= 9
    small = run(LoadSklearnDigits, as_dataset_dict=True, max_rows=10)
    assert small["train"].num_rows == 10
    scaled = run(NormalizeColumns, small, columns=["pixels"], divide_by=16)
    assert max(max(r) for r in scaled["train"]["pixels"]) <= 1.0
    assert scaled["train"].features["pixels"].feature.dtype == "float32"


def test_split_sizes_seed_and_stratify():
    ds = datasets.Dataset.from_list(ROWS)
    out = run(SplitHFDataset, ds, test_size=0.2, validation_size=4, seed=3)
    assert list(out) == ["train", "validation", "test"]
    assert out.num_rows == {"train": 12, "validation": 4, "test": 4}
    again = run(SplitHFDataset, ds, test_size=0.2, validation_size=4, seed=3)
    assert again["test"]["id"] == out["test"]["id"]
    assert run(SplitHFDataset, ds, test_size=0.2, validation_size=4, seed=4)["test"]["id"] != out["test"]["id"]
    ids = sorted([*out["train"]["id"], *out["validation"]["id"], *out["test"]["id"]])
    assert ids == list(range(20))
    no_val = run(SplitHFDataset, datasets.DatasetDict({"train": ds}), test_size=5, validation_size=None)
    assert no_val.num_rows == {"train": 15, "test": 5}
    digits = run(LoadSklearnDigits, max_rows=200)
    strat = run(SplitHFDataset, digits, test_size=0.5, validation_size=0, stratify_by_column="label")
    assert len(set(strat["test"]["label"])) == 10
    with pytest.raises(ValueError, match="no training rows"):
        run(SplitHFDataset, ds, test_size=0.5, validation_size=0.5)


@pytest.mark.parametrize(
    ("op", "value", "ids"),
    [
        ("==", 3, [3]),
        ("!=", 3, [i for i in range(20) if i != 3]),
        ("<", 2, [0, 1]),
        ("<=", 2, [0, 1, 2]),
        (">", 17, [18, 19]),
        (">=", 18, [18, 19]),
        ("in", [1, 5], [1, 5]),
        ("not_in", list(range(2, 20)), [0, 1]),
    ],
)
def test_filter_ops(op, value, ids):
    ds = datasets.Dataset.from_list(ROWS)
    assert run(FilterRows, ds, column="id", op=op, value=value)["id"] == ids
    assert [r["id"] for r in run(FilterRows, ROWS, column="id", op=op, value=value)] == ids


def test_filter_conditions_on_dataset_dict_and_bad_op():
    dd = datasets.DatasetDict({"a": datasets.Dataset.from_list(ROWS), "b": datasets.Dataset.from_list(ROWS[:5])})
    out = run(
        FilterRows,
        dd,
        conditions=[{"column": "id", "op": ">=", "value": 3}, {"column": "score", "op": "<", "value": 0.5}],
    )
    assert out["a"]["id"] == [3, 4] and out["b"]["id"] == [3, 4]
    with pytest.raises(ValueError, match="unknown op"):
        run(FilterRows, ROWS, column="id", op="__import__('os')", value=1)


def test_select_rename_shuffle():
    ds = datasets.Dataset.from_list(ROWS)
    assert run(SelectColumns, ds, columns=["text"]).column_names == ["text"]
    assert run(RenameColumns, ds, mapping={"text": "sentence"}).column_names == ["id", "sentence", "score"]
    assert run(RenameColumns, ROWS[:1], mapping={"id": "k"}) == [{"k": 0, "text": "t0", "score": 0.0}]
    taken = run(ShuffleAndTake, ds, n=5, seed=1)
    assert taken.num_rows == 5 and taken["id"] == run(ShuffleAndTake, ds, n=5, seed=1)["id"]
    assert taken["id"] != list(range(5))
    assert run(ShuffleAndTake, datasets.DatasetDict({"x": ds}), n=50)["x"].num_rows == 20
    assert len(run(ShuffleAndTake, list(range(10)), n=3, seed=0)) == 3


@pytest.mark.parametrize(
    "env, needle",
    [
        ({"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE is set"),
        ({"HF_HUB_OFFLINE": "", "HF_DATASETS_OFFLINE": "", "HF_ENDPOINT": "http://127.0.0.1:9"}, "cannot be reached"),
    ],
)
def test_hub_dataset_without_network_fails_within_5_seconds(monkeypatch, env, needle):
    from runway_for_ml.errors import RunwayError

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    started = time.monotonic()
    with pytest.raises(RunwayError) as info:
        run(LoadHFDataset, dataset_path="someone/dialogues")
    assert time.monotonic() - started < 5
    assert "someone/dialogues" in info.value.message and needle in info.value.message
    assert "dataset_path" in info.value.hint and "save_to_disk" in info.value.hint
