"""Content digests and ``verify_nodes`` (``runway cache verify``): recompute in a scratch area, compare (issue 15)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from runway_for_ml.errors import RunwayError
from runway_for_ml.pipeline import BaseTransform, HFDatasetTransform, register_transform_functor
from runway_for_ml.pipeline.digest import content_digest, first_difference
from runway_for_ml.pipeline.runner import DataPipeline
from runway_for_ml.pipeline.verify import verify_nodes


# ---------------------------------------------------------------- digests
def test_arrow_digest_is_about_the_data_not_its_layout():
    ds = datasets.Dataset.from_dict({"a": list(range(100)), "t": [str(i) for i in range(100)]})
    rechunked = datasets.Dataset(
        datasets.table.InMemoryTable(pa.concat_tables([ds.data.table.slice(0, 37), ds.data.table.slice(37)]))
    )
    assert rechunked.data.table.column("a").num_chunks == 2
    assert content_digest(rechunked) == content_digest(ds)
    assert content_digest(ds.with_format("numpy")) == content_digest(ds)
    # An indices mapping (select) digests like the same rows written out.
    picked = ds.select([5, 1, 7])
    flat = datasets.Dataset.from_dict({"a": [5, 1, 7], "t": ["5", "1", "7"]}, features=ds.features)
    assert content_digest(picked) == content_digest(flat)
    changed = datasets.Dataset.from_dict({"a": list(range(100)), "t": [str(i) for i in range(99)] + ["x"]})
    d1, d2 = content_digest(ds)["splits"][""]["columns"], content_digest(changed)["splits"][""]["columns"]
    assert d1["a"] == d2["a"] and d1["t"] != d2["t"]


def test_pickle_digest_is_stable_for_equal_values():
    assert content_digest({"a": {1, 2, 3}, "b": np.arange(4)}) == content_digest({"b": np.arange(4), "a": {3, 2, 1}})
    assert content_digest(pd.DataFrame({"x": [1, 2]})) != content_digest(pd.DataFrame({"x": [1, 3]}))
    assert content_digest([1, 2]) != content_digest([1, 2.0])


def test_first_difference_names_split_column_and_row():
    old = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"a": [1, 2, 3], "b": [0, 0, 0]})})
    new = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"a": [1, 2, 3], "b": [0, 0, 9]})})
    assert first_difference(old, new) == {"split": "train", "column": "b", "row": 2, "detail": "value 0 -> 9"}
    assert first_difference([1, 2], [1, 2, 3])["row"] == 2
    assert first_difference(pd.DataFrame({"x": [1, 2]}), pd.DataFrame({"x": [1, 5]}))["column"] == "x"


# ---------------------------------------------------------------- verify
@register_transform_functor(name="VerifyMake")
class VerifyMake(HFDatasetTransform):
    def _call(self, data):
        ds = datasets.Dataset.from_dict({"a": list(range(30)), "b": [i * 2 for i in range(30)]})
        return datasets.DatasetDict({"train": ds.select(range(20)), "test": ds.select(range(20, 30))})


@register_transform_functor(name="VerifyNoisy")
class VerifyNoisy(HFDatasetTransform):
    """Not a function of its key: row 4 of train's column 'noise' comes from os.urandom."""

    def _call(self, data):
        noise = int.from_bytes(os.urandom(4), "little")

        def add(batch, indices):
            return {"noise": [noise if i == 4 else 0 for i in indices]}

        return datasets.DatasetDict(
            {s: ds.map(add, batched=True, with_indices=True) if s == "train" else ds for s, ds in data.items()}
        )


@register_transform_functor(name="VerifySum")
class VerifySum(BaseTransform):
    def _call(self, data):
        return {"sum": sum(data["train"]["a"]), "splits": sorted(data)}


def _config(tmp_path):
    return {
        "meta": {"default_cache_dir": str(tmp_path / "cache"), "seed": 3},
        "data_pipeline": {
            "transforms": {
                "input:Make": {"transform_name": "VerifyMake"},
                "output:Noisy": {"transform_name": "VerifyNoisy", "input_node": "input:Make"},
                "output:Sum": {"transform_name": "VerifySum", "input_node": "input:Make"},
            }
        },
    }


def _snapshot(root: Path) -> dict:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".locks" not in p.parts
    }


def test_verify_reproducible_and_differs_without_touching_the_cache(tmp_path):
    DataPipeline(_config(tmp_path)).get_data(["output:Noisy", "output:Sum"])
    before = _snapshot(tmp_path / "cache")
    seen = []
    results = verify_nodes(DataPipeline(_config(tmp_path)), progress=lambda node, i, n: seen.append((node, i, n)))
    by_node = {r.node: r for r in results}
    assert by_node["input:Make"].status == "reproducible"
    assert by_node["output:Sum"].status == "reproducible"
    noisy = by_node["output:Noisy"]
    assert noisy.status == "differs"
    assert (noisy.where["split"], noisy.where["column"], noisy.where["row"]) == ("train", "noise", 4)
    assert [s[0] for s in seen] == ["input:Make", "output:Noisy", "output:Sum"] and seen[0][2] == 3
    assert _snapshot(tmp_path / "cache") == before  # nothing written, nothing touched


def test_verify_named_nodes_only(tmp_path):
    DataPipeline(_config(tmp_path)).get_data(["output:Noisy", "output:Sum"])
    results = verify_nodes(DataPipeline(_config(tmp_path)), ["output:Sum"])
    assert [(r.node, r.status) for r in results] == [("output:Sum", "reproducible")]


def test_an_entry_without_digest_gets_one_on_first_verify(tmp_path):
    pipeline = DataPipeline(_config(tmp_path))
    pipeline.get_data(["output:Sum"])
    for node in ("input:Make", "output:Sum"):
        meta_path = pipeline.store.entry_dir(pipeline._key(node)) / "meta.json"
        meta = json.loads(meta_path.read_text())
        recorded = meta.pop("digest")
        meta_path.write_text(json.dumps(meta))  # as written before digests existed
    results = verify_nodes(DataPipeline(_config(tmp_path)), ["input:Make", "output:Sum"])
    assert all(r.status == "reproducible" and r.digest_recorded_now for r in results)
    assert json.loads(meta_path.read_text())["digest"] == recorded
    again = verify_nodes(DataPipeline(_config(tmp_path)), ["output:Sum"])
    assert not again[0].digest_recorded_now


def test_bad_input_unknown_or_uncached_node(tmp_path):
    with pytest.raises(RunwayError, match="unknown node to verify 'output:Sun'.*did you mean"):
        verify_nodes(DataPipeline(_config(tmp_path)), ["output:Sun"])
    with pytest.raises(RunwayError, match="output:Sum has no cache entry") as info:
        verify_nodes(DataPipeline(_config(tmp_path)), ["output:Sum"])
    assert "runway prepare" in info.value.hint
    assert not (tmp_path / "cache" / "default").exists() or not list((tmp_path / "cache" / "default").iterdir())
