"""EvalRecorder: batches in, JSONL/CSV/stats out (atomically), images as files, load, merge."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from runway_for_ml.errors import RunwayError
from runway_for_ml.metrics import EvalRecorder


def test_add_batch_converts_tensors_and_counts_index():
    rec = EvalRecorder()
    rec.add_batch({"prediction": torch.tensor([1, 2]), "target": [1, 0], "probs": np.array([[0.5, 0.5], [0.1, 0.9]])})
    rec.add_batch({"prediction": torch.tensor([0]), "target": torch.tensor([0]), "probs": torch.tensor([[1.0, 0.0]])})
    rec.add_row({"prediction": 5, "target": 5, "note": "manual"})
    assert rec.column("index") == [0, 1, 2, 3]
    assert rec.column("prediction") == [1, 2, 0, 5]
    assert rec.column("probs")[1] == pytest.approx([0.1, 0.9])
    assert rec.column("note") == [None, None, None, "manual"]
    assert isinstance(rec.rows[0]["prediction"], int)


def test_bad_batches_are_explained():
    rec = EvalRecorder()
    with pytest.raises(RunwayError, match=r"different lengths: prediction=2, target=3"):
        rec.add_batch({"prediction": [1, 2], "target": [1, 2, 3]})
    with pytest.raises(RunwayError, match="scalar"):
        rec.add_batch({"prediction": torch.tensor(1)})
    with pytest.raises(RunwayError, match=r"no column 'targt'.*did you mean 'target'"):
        EvalRecorder([{"prediction": 1, "target": 1}]).column("targt")


def test_save_and_load_round_trip_with_images(tmp_path):
    rec = EvalRecorder(stats={"class_names": ["zero", "one"]}, image_columns=["image"])
    rec.add_batch(
        {
            "prediction": [0, 1],
            "target": [0, 0],
            "text": ["a, b", 'quote "x"'],
            "image": torch.rand(2, 1, 8, 8),  # CxHxW floats in [0, 1]
        }
    )
    rec.add_row({"prediction": 1, "target": 1, "text": "pil", "image": Image.new("RGB", (4, 3), "red")})
    out = rec.save(tmp_path / "infer-test")

    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["image"] == "images/image/0.png"
    with (out / "predictions.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["text"] for r in rows] == ["a, b", 'quote "x"', "pil"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["num_rows"] == 3 and stats["stats"]["class_names"] == ["zero", "one"]
    assert stats["image_columns"] == ["image"]
    with Image.open(out / "images/image/0.png") as img:
        assert img.size == (8, 8)
    with Image.open(out / "images/image/2.png") as img:
        assert img.size == (4, 3) and img.getpixel((0, 0)) == (255, 0, 0)
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]

    loaded = EvalRecorder.load(out)
    assert loaded.column("prediction") == [0, 1, 1]
    assert loaded.stats == {"class_names": ["zero", "one"]}
    assert loaded.image_path(loaded.rows[2]["image"]).is_file()
    # Saving a loaded recorder elsewhere carries its images along.
    copy = loaded.save(tmp_path / "copy")
    assert (copy / "images/image/2.png").read_bytes() == (out / "images/image/2.png").read_bytes()


def test_load_missing_and_corrupt(tmp_path):
    with pytest.raises(RunwayError, match="predictions.jsonl is missing"):
        EvalRecorder.load(tmp_path)
    (tmp_path / "predictions.jsonl").write_text('{"prediction": 1}\n{broken\n')
    with pytest.raises(RunwayError, match=r"predictions.jsonl:2: not valid JSON"):
        EvalRecorder.load(tmp_path)


def test_merge_by_columns():
    a = EvalRecorder([{"prediction": 1, "target": 1}, {"prediction": 0, "target": 1}], stats={"n": 2})
    b = EvalRecorder([{"score": 0.9, "target": 1}, {"score": 0.2, "target": 1}], stats={"split": "test"})
    merged = a.merge(b)
    assert merged.columns == ["index", "prediction", "target", "score"]
    assert merged.column("score") == [0.9, 0.2]
    assert merged.stats == {"n": 2, "split": "test"}
    assert len(a.columns) == 3  # inputs untouched

    with pytest.raises(RunwayError, match="different lengths: 2 rows and 1 rows"):
        a.merge(EvalRecorder([{"score": 1}]))
    with pytest.raises(RunwayError, match=r"column 'target' differs at row 1"):
        a.merge(EvalRecorder([{"target": 1}, {"target": 0}]))
