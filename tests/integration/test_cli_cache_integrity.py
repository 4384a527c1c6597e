"""Issue 15 end to end, across processes: isolated inputs, recorded config reads, ``runway cache verify``,
a hub dataset without network, an original-style ``setup(**kwargs)`` with ``splits_to_process``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUNWAY = str(Path(sys.executable).with_name("runway"))

TRANSFORMS_PY = '''
import copy
import os

import datasets
import numpy as np
import pandas as pd

from runway_for_ml import BaseTransform, HFDatasetTransform, register_transform_functor


@register_transform_functor
class MakeServices(HFDatasetTransform):
    def _call(self, data):
        services = ["taxi", "hotel", "train", "bus"]
        ds = datasets.Dataset.from_dict({"service": [services[i % 4] for i in range(40)], "i": list(range(40))})
        return datasets.DatasetDict(
            {"train": ds.select(range(27)), "test": ds.select(range(27, 35)), "validation": ds.select(range(35, 40))}
        )


@register_transform_functor
class FilterServicesTransform(HFDatasetTransform):
    def setup(self, rename_col_dict=None, **kwargs):
        super().setup(rename_col_dict, **kwargs)

    def _call(self, dataset):
        for split in list(dataset):
            dataset[split] = dataset[split].filter(lambda r: r["service"] in ("taxi", "hotel"))
        return dataset


@register_transform_functor
class Identity(HFDatasetTransform):
    def _call(self, data):
        return data


@register_transform_functor
class Noisy(HFDatasetTransform):
    def _call(self, data):
        noise = int.from_bytes(os.urandom(4), "little")
        return datasets.DatasetDict(
            {s: ds.map(lambda b, idx: {"noise": [noise if i == 2 else 0 for i in idx]}, batched=True, with_indices=True)
             for s, ds in data.items()}
        )


@register_transform_functor
class TimesBatchSize(HFDatasetTransform):
    def _call(self, data):
        size = self.global_config.train.batch_size
        return data.map(lambda r: {"scaled": r["i"] * size})


@register_transform_functor
class WritesConfig(BaseTransform):
    def _call(self, data):
        self.global_config["train"]["batch_size"] = 99
        return data


@register_transform_functor
class LengthOfTrainText(HFDatasetTransform):
    """Original style: setup(rename_col_dict=None, **kwargs), loops over self.splits_to_process itself."""

    def setup(self, rename_col_dict=None, **kwargs):
        super().setup(rename_col_dict, **kwargs)

    def _call(self, dataset):
        for split in self.splits_to_process:
            dataset[split] = dataset[split].map(lambda r: {"n": len(r["service"])}).rename_columns(self.rename_col_dict)
        return dataset


MAKERS = {
    "dd_assign": lambda: datasets.DatasetDict({"train": _dataset(), "test": _dataset().select(range(4))}),
    "dd_delete": lambda: datasets.DatasetDict({"train": _dataset(), "test": _dataset().select(range(4))}),
    "set_format": lambda: _dataset(),
    "set_transform": lambda: _dataset(),
    "reset_format": lambda: _dataset().with_format("numpy"),
    "list_append": lambda: [1, 2, 3],
    "dict_item": lambda: {"k": "v", "n": [1, 2]},
    "pandas_column": lambda: pd.DataFrame({"x": [1, 2, 3]}),
    "numpy_inplace": lambda: np.arange(5, dtype=np.int64),
}


def _dataset():
    return datasets.Dataset.from_dict({"x": list(range(10))})


def mutate(kind, data):
    if kind == "dd_assign":
        data["train"] = data["train"].filter(lambda r: r["x"] < 3)
    elif kind == "dd_delete":
        del data["test"]
    elif kind == "set_format":
        data.set_format("numpy")
    elif kind == "set_transform":
        data.set_transform(lambda b: {"x": [v * 100 for v in b["x"]]})
    elif kind == "reset_format":
        data.reset_format()
    elif kind == "list_append":
        data.append(99)
    elif kind == "dict_item":
        data["k"] = "changed"
    elif kind == "pandas_column":
        data["x"] = 0
    elif kind == "numpy_inplace":
        data += 100


def seen(data):
    if isinstance(data, datasets.DatasetDict):
        return {s: seen(ds) for s, ds in data.items()}
    if isinstance(data, datasets.Dataset):
        return {"rows": data.num_rows, "format": data.format["type"], "x0": repr(data[0]["x"])}
    if isinstance(data, pd.DataFrame):
        return {"x": data["x"].tolist()}
    if isinstance(data, np.ndarray):
        return data.tolist()
    return copy.deepcopy(data)


@register_transform_functor
class Make(BaseTransform):
    def setup(self, kind):
        self.kind = kind

    def _call(self, data):
        return MAKERS[self.kind]()


@register_transform_functor
class Mutate(BaseTransform):
    def setup(self, kind, who):
        self.kind = kind

    def _call(self, data):
        before = seen(data)
        mutate(self.kind, data)
        return {"seen": before}
'''

KINDS = [
    "dd_assign",
    "dd_delete",
    "set_format",
    "set_transform",
    "reset_format",
    "list_append",
    "dict_item",
    "pandas_column",
    "numpy_inplace",
]

SERVICES = """
{
  train: { batch_size: 8, val_batch_size: 4 },
  data_pipeline: {
    transforms: {
      "process:Split": { transform_name: "MakeServices" },
      "output:A_Filter": { transform_name: "FilterServicesTransform", input_node: "process:Split" },
      "output:B_Copy": { transform_name: "Identity", input_node: "process:Split" },
      "output:Noisy": { transform_name: "Noisy", input_node: "process:Split" },
      "output:Scaled": { transform_name: "TimesBatchSize", input_node: "process:Split" },
      "output:Scaled2": { transform_name: "Identity", input_node: "output:Scaled" },
      "output:Lengths": { transform_name: "LengthOfTrainText", input_node: "process:Split",
                          setup_kwargs: { splits_to_process: ["train"], rename_col_dict: { n: "length" } } },
    },
  },
}
"""


def _mutations_config() -> str:
    nodes = {}
    for kind in KINDS:
        nodes[f"input:Make_{kind}"] = {"transform_name": "Make", "setup_kwargs": {"kind": kind}}
        for who in ("A", "B"):
            nodes[f"output:{who}_{kind}"] = {
                "transform_name": "Mutate",
                "input_node": f"input:Make_{kind}",
                "setup_kwargs": {"kind": kind, "who": who},
            }
    return json.dumps({"data_pipeline": {"transforms": nodes}}, indent=1)


@pytest.fixture
def project(bare_project):
    (bare_project / "configs" / "experiments" / "svc.jsonnet").write_text(SERVICES)
    (bare_project / "configs" / "experiments" / "mut.jsonnet").write_text(_mutations_config())
    writes = {
        "train": {"batch_size": 8},
        "data_pipeline": {"transforms": {"output:W": {"transform_name": "WritesConfig"}}},
    }
    (bare_project / "configs" / "experiments" / "writes.jsonnet").write_text(json.dumps(writes))
    hub = {
        "data_pipeline": {
            "transforms": {
                "input:Hub": {"transform_name": "LoadHFDataset", "setup_kwargs": {"dataset_path": "someone/dialogues"}}
            }
        }
    }
    (bare_project / "configs" / "experiments" / "hub.jsonnet").write_text(json.dumps(hub))
    (bare_project / "data_processing").mkdir()
    (bare_project / "data_processing" / "__init__.py").write_text("")
    (bare_project / "data_processing" / "transforms.py").write_text(TRANSFORMS_PY)
    return bare_project


def runway(*args, cwd, env=None):
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([RUNWAY, *args], cwd=cwd, capture_output=True, text=True, env=full_env, timeout=300)


def statuses(stdout: str) -> dict[str, str]:
    """node -> hit / ran / skipped from the closing table of ``runway prepare``."""
    out = {}
    for line in stdout.split("prepared")[-1].splitlines():
        cells = [c.strip() for c in line.split("\u2502")]
        if len(cells) > 3 and ":" in cells[1]:
            out[cells[1]] = cells[2].split()[0]
    return out


_LOADER = """
import json, sys
import datasets
from runway_for_ml.pipeline.runner import DataPipeline

config, nodes = sys.argv[1], sys.argv[2:]
pipeline = DataPipeline.from_config(config)
out = pipeline.get_data(nodes)
statuses = {r.node: r.status for r in pipeline.last_report.nodes if r.node in nodes}


def summary(data):
    if isinstance(data, datasets.DatasetDict):
        return {s: {"rows": ds.num_rows, "columns": ds.column_names, "first": ds[0], "last": ds[ds.num_rows - 1]}
                for s, ds in data.items()}
    return data


result = {"statuses": statuses, "data": {n: summary(d) for n, d in out.items()}}
if "mut" in config:
    from data_processing.transforms import MAKERS, seen

    result["original"] = {kind: seen(make()) for kind, make in MAKERS.items()}
print(json.dumps(result))
"""


def _load(root: Path, config: str, nodes: list[str]) -> dict:
    """Read nodes' entries in another process: only hits are allowed."""
    path = root / "configs" / "experiments" / config
    proc = subprocess.run(
        [sys.executable, "-c", _LOADER, str(path), *nodes], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result["statuses"].values()) == {"hit"}, result["statuses"]
    return result


def test_filter_services_sibling_keeps_40_rows_across_processes(project):
    proc = runway("prepare", "svc", "--targets", "output:A_Filter", "output:B_Copy", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "output:B_Copy" in proc.stdout and "40 (train=27, test=8, validation=5)" in proc.stdout
    warm = runway("prepare", "svc", "--targets", "output:A_Filter", "output:B_Copy", cwd=project)
    assert warm.returncode == 0 and statuses(warm.stdout) == {
        "process:Split": "skipped",
        "output:A_Filter": "hit",
        "output:B_Copy": "hit",
    }
    out = _load(project, "svc.jsonnet", ["output:A_Filter", "output:B_Copy"])["data"]
    assert {s: v["rows"] for s, v in out["output:B_Copy"].items()} == {"train": 27, "test": 8, "validation": 5}
    assert {s: v["rows"] for s, v in out["output:A_Filter"].items()} == {"train": 14, "test": 4, "validation": 2}


def test_every_in_place_change_stays_with_its_node_across_processes(project):
    # Process 1 computes the parents and the A siblings, which change their inputs in place.
    a_nodes = [f"output:A_{k}" for k in KINDS]
    proc = runway("prepare", "mut", "--targets", *a_nodes, cwd=project)
    assert proc.returncode == 0, proc.stderr
    # Process 2 computes the B siblings from the parents' cache entries.
    b_nodes = [f"output:B_{k}" for k in KINDS]
    proc = runway("prepare", "mut", "--targets", *b_nodes, cwd=project)
    assert proc.returncode == 0, proc.stderr
    # Process 3 reads everything from the cache and compares with a fresh parent.
    result = _load(project, "mut.jsonnet", a_nodes + b_nodes)
    for kind in KINDS:
        original = result["original"][kind]
        assert result["data"][f"output:A_{kind}"]["seen"] == original, kind
        assert result["data"][f"output:B_{kind}"]["seen"] == original, kind


def test_config_reads_rerun_explain_and_writes_fail(project):
    proc = runway("prepare", "svc", "--targets", "output:Scaled2", cwd=project)
    assert proc.returncode == 0, proc.stderr
    dag = runway("dag", "svc", "--targets", "output:Scaled2", "--opts", "train.batch_size=16", cwd=project)
    assert dag.returncode == 0, dag.stderr
    assert "global_config.train.batch_size changed: 8 -> 16" in dag.stdout
    meta = [json.loads(p.read_text()) for p in (project / "local_cache" / "default").glob("*/meta.json")]
    assert [m["config_reads"] for m in meta if m["node"] == "output:Scaled"] == [{"train.batch_size": 8}]
    unread = runway("prepare", "svc", "--targets", "output:Scaled2", "--opts", "train.val_batch_size=5", cwd=project)
    assert unread.returncode == 0 and statuses(unread.stdout)["output:Scaled2"] == "hit"
    changed = runway("prepare", "svc", "--targets", "output:Scaled2", "--opts", "train.batch_size=16", cwd=project)
    assert statuses(changed.stdout) == {"process:Split": "hit", "output:Scaled": "ran", "output:Scaled2": "ran"}
    back = runway("prepare", "svc", "--targets", "output:Scaled2", cwd=project)
    assert statuses(back.stdout)["output:Scaled2"] == "hit"
    scaled = _load(project, "svc.jsonnet", ["output:Scaled"])["data"]["output:Scaled"]
    assert (
        scaled["train"]["first"] == {"service": "taxi", "i": 0, "scaled": 0} and "scaled" in scaled["test"]["columns"]
    )
    bad = runway("prepare", "writes", cwd=project)
    assert bad.returncode == 2
    assert "output:W" in bad.stderr and "global_config.train.batch_size" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not list((project / "local_cache" / "default").glob("*/meta.json")) or all(
        json.loads(p.read_text())["node"] != "output:W"
        for p in (project / "local_cache" / "default").glob("*/meta.json")
    )


def test_cache_verify_reproducible_differs_json_and_bad_input(project):
    assert runway("prepare", "svc", cwd=project).returncode == 0
    cache = project / "local_cache"
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file() and ".locks" not in p.parts}
    good = runway("cache", "verify", "svc", "output:B_Copy", "process:Split", cwd=project)
    assert good.returncode == 0, good.stderr
    lines = good.stdout.splitlines()
    assert lines == [
        "process:Split  reproducible",
        "output:B_Copy  reproducible",
    ]
    bad = runway("cache", "verify", "svc", cwd=project)
    assert bad.returncode == 1, bad.stderr
    noisy = next(line for line in bad.stdout.splitlines() if line.startswith("output:Noisy"))
    assert "differs" in noisy and "split 'train'" in noisy and "column 'noise'" in noisy and "row 2" in noisy
    assert "output:Lengths" in bad.stdout and "\u2501" not in bad.stdout  # the progress bar is on stderr only
    as_json = runway("cache", "verify", "svc", "output:Noisy", "output:Scaled", "--json", cwd=project)
    assert as_json.returncode == 1
    payload = json.loads(as_json.stdout)
    assert payload["reproducible"] is False
    statuses = {n["node"]: (n["status"], n["split"], n["column"], n["row"]) for n in payload["nodes"]}
    assert statuses == {
        "output:Noisy": ("differs", "train", "noise", 2),
        "output:Scaled": ("reproducible", None, None, None),
    }
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file() and ".locks" not in p.parts}
    assert after == before  # verify never touched the cache
    unknown = runway("cache", "verify", "svc", "output:Nosy", cwd=project)
    assert unknown.returncode == 2 and "did you mean" in unknown.stderr and "output:Noisy" in unknown.stderr
    uncached = runway("cache", "verify", "svc", "output:Scaled", "--opts", "train.batch_size=3", cwd=project)
    assert uncached.returncode == 2 and "no cache entry" in uncached.stderr and "runway prepare" in uncached.stderr


def test_original_style_kwargs_setup_with_splits_to_process(project):
    proc = runway("prepare", "svc", "--targets", "output:Lengths", cwd=project)
    assert proc.returncode == 0, proc.stderr
    out = _load(project, "svc.jsonnet", ["output:Lengths"])["data"]["output:Lengths"]
    assert out["train"]["first"]["length"] == len("taxi")
    assert out["test"]["columns"] == ["service", "i"] and out["test"]["rows"] == 8  # passed through


@pytest.mark.parametrize(
    "env, needle",
    [
        ({"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE is set"),
        ({"HF_HUB_OFFLINE": "", "HF_DATASETS_OFFLINE": "", "HF_ENDPOINT": "http://127.0.0.1:9"}, "cannot be reached"),
    ],
    ids=["offline-variable", "no-network"],
)
def test_hub_dataset_without_network_fails_fast_with_exit_2(project, env, needle):
    started = time.monotonic()
    proc = runway("prepare", "hub", cwd=project, env=env)
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr
    for text in ("input:Hub", "someone/dialogues", needle, "dataset_path", "local files"):
        assert text in proc.stderr, (text, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert elapsed < 30  # the whole command, interpreter start included; the load itself is timed in unit tests
