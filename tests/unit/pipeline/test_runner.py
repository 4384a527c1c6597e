"""DataPipeline: what runs, what hits, and why (real cache entries on disk)."""

import random
from pathlib import Path

import datasets
import pytest

from runway_for_ml.pipeline import BaseTransform, register_transform_functor
from runway_for_ml.pipeline.runner import DataPipeline


@register_transform_functor
class TRCount(BaseTransform):
    """Appends its node label to a log file each time it runs; returns inputs plus its own label."""

    def setup(self, label, _log, extra=None):
        self.label, self.log, self.extra = label, _log, extra

    def _call(self, data):
        with open(self.log, "a") as fh:
            fh.write(self.label + "\n")
        if data is None:
            return [self.label]
        if isinstance(data, list) and data and isinstance(data[0], list):  # list input: list of upstream outputs
            return [x for part in data for x in part] + [self.label]
        return [*data, self.label]


@register_transform_functor
class TRRandom(BaseTransform):
    def _call(self, data):
        return [random.random() for _ in range(3)]


def make_config(tmp_path, nodes, **pipeline):
    log = tmp_path / "runs.log"
    transforms = {}
    for node_id, inputs in nodes.items():
        spec = {"transform_name": "TRCount", "setup_kwargs": {"label": node_id.split(":")[1], "_log": str(log)}}
        if inputs is not None:
            spec["input_node"] = inputs
        transforms[node_id] = spec
    return {
        "meta": {"default_cache_dir": str(tmp_path / "cache")},
        "data_pipeline": {**pipeline, "transforms": transforms},
    }


def runs(tmp_path) -> list[str]:
    path = Path(tmp_path / "runs.log")
    out = path.read_text().split() if path.exists() else []
    path.unlink(missing_ok=True)
    return out


DIAMOND = {"input:A": None, "process:B": "input:A", "process:C": "input:A", "output:D": ["process:B", "process:C"]}


def test_diamond_runs_shared_ancestor_once_and_passes_list_in_order(tmp_path):
    cfg = make_config(tmp_path, {**DIAMOND, "output:E": "process:C"})
    out = DataPipeline(cfg).apply_transforms()
    assert out == {"D": ["A", "B", "A", "C", "D"], "E": ["A", "C", "E"]}
    assert runs(tmp_path) == ["A", "B", "C", "D", "E"]


def test_only_needed_nodes_run_and_get_data_returns_named_nodes(tmp_path):
    cfg = make_config(tmp_path, {**DIAMOND, "output:Other": None})
    out = DataPipeline(cfg).get_data(["process:C"])
    assert out == {"process:C": ["A", "C"]}
    assert runs(tmp_path) == ["A", "C"]
    assert DataPipeline(cfg).get_data("output:Other") == {"output:Other": ["Other"]}


def test_warm_run_hits_and_skips_ancestors(tmp_path):
    cfg = make_config(tmp_path, DIAMOND)
    DataPipeline(cfg).apply_transforms()
    runs(tmp_path)
    pipeline = DataPipeline(cfg)
    assert [p.status for p in pipeline.plan()] == ["cached"] * 4
    report = pipeline.run()
    assert runs(tmp_path) == []
    assert {r.node: r.status for r in report.nodes} == {
        "input:A": "skipped",
        "process:B": "skipped",
        "process:C": "skipped",
        "output:D": "hit",
    }
    assert report.outputs["output:D"] == ["A", "B", "A", "C", "D"]


def test_changing_upstream_kwarg_reruns_exactly_affected_nodes(tmp_path):
    cfg = make_config(tmp_path, {**DIAMOND, "output:E": "process:C"})
    DataPipeline(cfg).apply_transforms()
    runs(tmp_path)
    cfg["data_pipeline"]["transforms"]["process:B"]["setup_kwargs"]["extra"] = 1
    plan = {p.node: p for p in DataPipeline(cfg).plan()}
    assert {n: p.status for n, p in plan.items()} == {
        "input:A": "cached",
        "process:B": "stale",
        "process:C": "cached",
        "output:D": "stale",
        "output:E": "cached",
    }
    assert plan["process:B"].reasons == ["setup_kwargs.extra: (absent) -> 1"]
    assert plan["output:D"].reasons == ["input 'process:B' changed"]
    report = DataPipeline(cfg).run()
    assert runs(tmp_path) == ["B", "D"]  # A and C load from cache; sibling E hits
    assert {r.node: r.status for r in report.nodes}["output:E"] == "hit"
    # Reverting the kwarg hits the original entries again.
    del cfg["data_pipeline"]["transforms"]["process:B"]["setup_kwargs"]["extra"]
    DataPipeline(cfg).run()
    assert runs(tmp_path) == []


def test_underscore_kwargs_do_not_change_the_key(tmp_path):
    cfg = make_config(tmp_path, {"input:A": None})
    DataPipeline(cfg).run()
    cfg["data_pipeline"]["transforms"]["input:A"]["setup_kwargs"]["_log"] = str(tmp_path / "other.log")
    assert [p.status for p in DataPipeline(cfg).plan()] == ["cached"]


def test_reordering_input_list_reruns_the_node(tmp_path):
    cfg = make_config(tmp_path, DIAMOND)
    DataPipeline(cfg).run()
    runs(tmp_path)
    cfg["data_pipeline"]["transforms"]["output:D"]["input_node"] = ["process:C", "process:B"]
    plan = DataPipeline(cfg).plan()
    assert plan[-1].status == "stale" and plan[-1].reasons == ["inputs reordered"]
    assert DataPipeline(cfg).apply_transforms()["D"] == ["A", "C", "A", "B", "D"]
    assert runs(tmp_path) == ["D"]  # B and C load from their entries


def _versioned(version):
    class TRVersioned(BaseTransform):
        VERSION = version

        def setup(self, _log):
            self.log = _log

        def _call(self, data):
            with open(self.log, "a") as fh:
                fh.write(f"v{version}\n")
            return [*data, version]

    return register_transform_functor(TRVersioned)


def test_bumping_version_reruns_node(tmp_path):
    _versioned("1")
    cfg = make_config(tmp_path, {"input:A": None})
    cfg["data_pipeline"]["transforms"]["output:V"] = {
        "transform_name": "TRVersioned",
        "input_node": "input:A",
        "setup_kwargs": {"_log": str(tmp_path / "runs.log")},
    }
    assert DataPipeline(cfg).apply_transforms()["V"] == ["A", "1"]
    runs(tmp_path)
    _versioned("2")
    plan = DataPipeline(cfg).plan()
    assert plan[-1].status == "stale" and "version of TRVersioned changed '1' -> '2'" in plan[-1].reasons
    assert DataPipeline(cfg).apply_transforms()["V"] == ["A", "2"]
    assert runs(tmp_path) == ["v2"]


def test_regenerate_node_flag_cli_and_pipeline_level(tmp_path):
    cfg = make_config(tmp_path, DIAMOND)
    DataPipeline(cfg).run()
    runs(tmp_path)
    cfg["data_pipeline"]["transforms"]["process:B"]["regenerate"] = True
    plan = {p.node: p for p in DataPipeline(cfg).plan()}
    assert plan["process:B"].reasons == ["regenerate: true"]
    assert plan["output:D"].reasons == ["upstream 'process:B' regenerates"]
    DataPipeline(cfg).run()
    assert sorted(runs(tmp_path)) == ["B", "D"]
    cfg["data_pipeline"]["transforms"]["process:B"]["regenerate"] = False
    DataPipeline(cfg, regenerate_nodes=["process:C"]).run()
    assert sorted(runs(tmp_path)) == ["C", "D"]
    cfg["data_pipeline"]["regenerate"] = True
    DataPipeline(cfg).run()
    assert runs(tmp_path) == ["A", "B", "C", "D"]
    with pytest.raises(Exception, match="did you mean 'process:C'"):
        DataPipeline(cfg, regenerate_nodes=["process:X"])


def test_cache_false_keeps_output_in_memory_only(tmp_path):
    cfg = make_config(tmp_path, {"input:A": None, "output:B": "input:A"})
    cfg["data_pipeline"]["transforms"]["input:A"]["cache"] = False
    pipeline = DataPipeline(cfg)
    assert pipeline.apply_transforms() == {"B": ["A", "B"]}
    assert [e.node for e in pipeline.store.entries()] == ["output:B"]
    assert runs(tmp_path) == ["A", "B"]
    # Downstream of an uncached node still hits when its key is unchanged.
    plan = DataPipeline(cfg).plan()
    assert [(p.status, p.reasons) for p in plan] == [("will run", ["cache: false"]), ("cached", [])]
    DataPipeline(cfg).run()
    assert runs(tmp_path) == []


def test_hf_dataset_round_trip_is_memory_mapped_and_inspected(tmp_path):
    cfg = {
        "meta": {"default_cache_dir": str(tmp_path)},
        "data_pipeline": {
            "transforms": {
                "input:D": {"transform_name": "LoadSklearnDigits", "setup_kwargs": {"max_rows": 50}},
                "output:S": {
                    "transform_name": "SplitHFDataset",
                    "input_node": "input:D",
                    "setup_kwargs": {"test_size": 10, "validation_size": 0},
                    "inspect": True,
                },
            }
        },
    }
    report = DataPipeline(cfg).run()
    data = report.outputs["output:S"]
    assert isinstance(data, datasets.DatasetDict) and data.num_rows == {"train": 40, "test": 10}
    assert data["train"].cache_files  # backed by Arrow files in the cache, not in memory
    assert report.nodes[-1].rows == {"train": 40, "test": 10}
    info = report.inspections["output:S"]
    assert info["type"] == "DatasetDict" and info["splits"]["test"]["rows"] == 10
    assert info["splits"]["train"]["stats"]["label"]["max"] <= 9
    saved = DataPipeline(cfg).store.entry_dir(report.nodes[-1].key) / "inspect.json"
    assert saved.is_file()


def test_dummy_mode_uses_own_namespace_and_takes_rows(tmp_path):
    cfg = {
        "meta": {"default_cache_dir": str(tmp_path), "use_dummy_data": True, "dummy_data_rows": 7},
        "data_pipeline": {
            "transforms": {"input:D": {"transform_name": "LoadSklearnDigits", "setup_kwargs": {"max_rows": 50}}}
        },
    }
    pipeline = DataPipeline(cfg)
    assert pipeline.get_data("input:D")["input:D"].num_rows == 7
    assert pipeline.store.namespace == "dummy"
    normal = DataPipeline(cfg, dummy=False)
    assert normal.store.namespace == "default" and normal.plan()[0].status == "will run"
    cfg["meta"]["dummy_data_rows"] = 9
    plan = DataPipeline(cfg).plan()[0]
    assert plan.status == "stale" and "dummy_data_rows: 7 -> 9" in plan.reasons


def test_meta_seed_makes_random_transforms_reproducible(tmp_path):
    def cfg(seed):
        return {
            "meta": {"seed": seed, "default_cache_dir": str(tmp_path / str(seed))},
            "data_pipeline": {"transforms": {"output:R": {"transform_name": "TRRandom", "cache": False}}},
        }

    first = DataPipeline(cfg(0)).get_data("output:R")
    random.random()
    assert DataPipeline(cfg(0)).get_data("output:R") == first
    assert DataPipeline(cfg(1)).get_data("output:R") != first


def test_relative_cache_dir_resolves_against_cwd_without_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = make_config(tmp_path, {"input:A": None})
    cfg["meta"] = {}
    pipeline = DataPipeline(cfg)
    assert pipeline.cache_dir == tmp_path / "local_cache"


def test_map_on_a_cached_input_writes_nothing_into_its_entry(tmp_path):
    nodes = {
        "input:D": {"transform_name": "LoadSklearnDigits", "setup_kwargs": {"max_rows": 30}},
        "output:N": {
            "transform_name": "NormalizeColumns",
            "input_node": "input:D",
            "setup_kwargs": {"columns": ["pixels"], "divide_by": 16},
        },
    }
    cfg = {"meta": {"default_cache_dir": str(tmp_path)}, "data_pipeline": {"transforms": nodes}}
    DataPipeline(cfg).run(["input:D"])
    pipeline = DataPipeline(cfg, regenerate_nodes=["output:N"])
    assert max(max(r) for r in pipeline.get_data("output:N")["output:N"]["pixels"]) <= 1.0
    entry = pipeline.store.entry_dir(pipeline.plan(["input:D"])[0].key)
    assert not list(entry.rglob("cache-*.arrow"))  # datasets' own cache stays out of our entries
    assert datasets.is_caching_enabled()  # and is restored afterwards
