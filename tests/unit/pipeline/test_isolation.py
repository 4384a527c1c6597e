"""Every node receives its inputs exactly as the cache holds them, whatever its siblings do in memory (issue 15)."""

from __future__ import annotations

import copy

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from runway_for_ml.pipeline import BaseTransform, HFDatasetTransform, register_transform_functor
from runway_for_ml.pipeline.node_run import isolated
from runway_for_ml.pipeline.runner import DataPipeline


# ---------------------------------------------------------------- the example
@register_transform_functor(name="IsoMakeServices")
class MakeServices(HFDatasetTransform):
    def _call(self, data):
        services = ["taxi", "hotel", "train", "bus"]
        ds = datasets.Dataset.from_dict({"service": [services[i % 4] for i in range(40)], "i": list(range(40))})
        return ds


@register_transform_functor(name="IsoSplit")
class SplitServices(HFDatasetTransform):
    def _call(self, ds):
        return datasets.DatasetDict(
            {"train": ds.select(range(27)), "test": ds.select(range(27, 35)), "validation": ds.select(range(35, 40))}
        )


@register_transform_functor(name="IsoFilterServices")
class FilterServicesTransform(HFDatasetTransform):
    """Written as the original framework's users write it: assigns into the DatasetDict it receives."""

    def setup(self, services=("taxi", "hotel"), **kwargs):
        self.services = list(services)

    def _call(self, dataset):
        for split in list(dataset):
            dataset[split] = dataset[split].filter(lambda r: r["service"] in self.services)
        return dataset


@register_transform_functor(name="IsoCopy")
class CopyTransform(HFDatasetTransform):
    def _call(self, data):
        return data


def _services_config(tmp_path):
    return {
        "meta": {"default_cache_dir": str(tmp_path / "cache")},
        "data_pipeline": {
            "transforms": {
                "input:Make": {"transform_name": "IsoMakeServices"},
                "process:Split": {"input_node": "input:Make", "transform_name": "IsoSplit"},
                "output:A_Filter": {"input_node": "process:Split", "transform_name": "IsoFilterServices"},
                "output:B_Copy": {"input_node": "process:Split", "transform_name": "IsoCopy"},
            }
        },
    }


def test_filter_services_example_sibling_sees_all_40_rows(tmp_path):
    nodes = ["output:A_Filter", "output:B_Copy", "process:Split"]
    cold = DataPipeline(_services_config(tmp_path)).get_data(nodes)
    warm_pipeline = DataPipeline(_services_config(tmp_path))
    warm = warm_pipeline.get_data(nodes)
    assert {r.status for r in warm_pipeline.last_report.nodes if r.node in nodes} == {"hit"}
    for out in (cold, warm):
        assert out["process:Split"].num_rows == {"train": 27, "test": 8, "validation": 5}
        assert out["output:B_Copy"].num_rows == {"train": 27, "test": 8, "validation": 5}
        assert out["output:A_Filter"].num_rows == {"train": 14, "test": 4, "validation": 2}


# ---------------------------------------------------------------- every in-place change of the issue
def _dataset():
    return datasets.Dataset.from_dict({"x": list(range(10)), "t": [f"r{i}" for i in range(10)]})


MAKERS = {
    "dd_assign": lambda: datasets.DatasetDict({"train": _dataset(), "test": _dataset().select(range(4))}),
    "dd_delete": lambda: datasets.DatasetDict({"train": _dataset(), "test": _dataset().select(range(4))}),
    "set_format": _dataset,
    "set_transform": _dataset,
    "reset_format": lambda: _dataset().with_format("numpy"),
    "list_append": lambda: [1, 2, 3],
    "dict_item": lambda: {"k": "v", "n": [1, 2]},
    "pandas_column": lambda: pd.DataFrame({"x": [1, 2, 3]}),
    "numpy_inplace": lambda: np.arange(5, dtype=np.int64),
}


def _mutate(kind, data):
    if kind == "dd_assign":
        data["train"] = data["train"].filter(lambda r: r["x"] < 3)
        data["extra"] = data["test"]
    elif kind == "dd_delete":
        del data["test"]
    elif kind == "set_format":
        data.set_format("numpy", columns=["x"])
    elif kind == "set_transform":
        data.set_transform(lambda batch: {"x": [v * 100 for v in batch["x"]]})
    elif kind == "reset_format":
        data.reset_format()
    elif kind == "list_append":
        data.append(99)
    elif kind == "dict_item":
        data["k"] = "changed"
        data["n"].append(3)
    elif kind == "pandas_column":
        data["x"] = 0
        data["new"] = 1
    elif kind == "numpy_inplace":
        data += 100
        data *= 2


def _seen(data):
    """What a node saw: rows, splits, format and first values (or the plain value)."""
    if isinstance(data, datasets.DatasetDict):
        return {s: _seen(ds) for s, ds in data.items()}
    if isinstance(data, datasets.Dataset):
        return {"rows": data.num_rows, "format": data.format["type"], "x0": repr(data[0]["x"])}
    if isinstance(data, pd.DataFrame):
        return {"columns": list(data.columns), "x": data["x"].tolist()}
    if isinstance(data, np.ndarray):
        return data.tolist()
    return copy.deepcopy(data)


@register_transform_functor(name="IsoMake")
class Make(BaseTransform):
    def setup(self, kind):
        self.kind = kind

    def _call(self, data):
        return MAKERS[self.kind]()


@register_transform_functor(name="IsoMutate")
class Mutate(BaseTransform):
    """Records what it received, then changes it in place; returns what it saw."""

    def setup(self, kind, who):
        self.kind = kind

    def _call(self, data):
        seen = _seen(data)
        _mutate(self.kind, data)
        return {"seen": seen, "after": _seen(data)}


def _mutation_config(tmp_path, kind, cache_parent=True):
    return {
        "meta": {"default_cache_dir": str(tmp_path / "cache")},
        "data_pipeline": {
            "transforms": {
                "input:Make": {"transform_name": "IsoMake", "setup_kwargs": {"kind": kind}, "cache": cache_parent},
                "output:A": {
                    "input_node": "input:Make",
                    "transform_name": "IsoMutate",
                    "setup_kwargs": {"kind": kind, "who": "a"},
                },
                "output:B": {
                    "input_node": "input:Make",
                    "transform_name": "IsoMutate",
                    "setup_kwargs": {"kind": kind, "who": "b"},
                },
            }
        },
    }


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize("cache_parent", [True, False], ids=["parent-cached", "parent-in-memory"])
def test_siblings_that_change_their_input_in_place_each_see_the_original(tmp_path, kind, cache_parent):
    original = _seen(MAKERS[kind]())
    nodes = ["output:A", "output:B", "input:Make"]
    cold_pipeline = DataPipeline(_mutation_config(tmp_path, kind, cache_parent))
    cold = cold_pipeline.get_data(nodes)
    assert cold["output:A"]["seen"] == original and cold["output:B"]["seen"] == original
    assert cold["output:A"]["after"] != original  # the mutation really happened (in the node's own copy)
    # The parent's own output, as returned to the caller, is unchanged too.
    assert _seen(cold["input:Make"]) == original
    # A second run in the same process (warm, from the cache) sees the same.
    warm = DataPipeline(_mutation_config(tmp_path, kind, cache_parent)).get_data(nodes)
    assert warm["output:A"]["seen"] == original and warm["output:B"]["seen"] == original
    assert _seen(warm["input:Make"]) == original
    # Regenerating one sibling on a cached parent: it gets the parent exactly as the cache holds it.
    again = DataPipeline(_mutation_config(tmp_path, kind, cache_parent), regenerate_nodes=["output:B"])
    assert again.get_data(["output:B"])["output:B"]["seen"] == original


def test_a_computed_pickled_output_is_returned_as_the_cache_holds_it(tmp_path):
    """A node keeping a reference to what it returned cannot change what its consumers get."""
    kept = []

    @register_transform_functor(name="IsoKeeps")
    class Keeps(BaseTransform):
        def _call(self, data):
            out = [1, 2]
            kept.append(out)
            return out

    config = {
        "meta": {"default_cache_dir": str(tmp_path / "cache")},
        "data_pipeline": {"transforms": {"output:K": {"transform_name": "IsoKeeps"}}},
    }
    out = DataPipeline(config).get_data("output:K")["output:K"]
    kept[0].append(3)
    assert out == [1, 2]


def test_isolation_copies_no_arrow_data():
    ds = datasets.Dataset.from_dict({"x": list(range(200_000)), "t": ["abc"] * 200_000})
    dd = datasets.DatasetDict({"train": ds, "test": ds.select(range(10))})
    before = pa.total_allocated_bytes()
    copied = isolated(dd)
    assert pa.total_allocated_bytes() - before < 1_000_000
    assert copied["train"].data.table is dd["train"].data.table  # the same Arrow table, shared
    copied["train"].set_format("numpy")
    del copied["test"]
    assert dd["train"].format["type"] is None and "test" in dd
