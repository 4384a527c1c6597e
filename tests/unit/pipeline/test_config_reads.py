"""Reads of ``global_config`` by a transform are part of its node's key; writes fail (issue 15)."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from runway_for_ml.errors import RunwayError, TransformError
from runway_for_ml.pipeline import BaseTransform, register_transform_functor
from runway_for_ml.pipeline.config_reads import ABSENT, ConfigReads, ConfigWriteError, describe_read_changes, lookup
from runway_for_ml.pipeline.runner import DataPipeline

CONFIG = {"train": {"batch_size": 8, "lr": 0.1, "tags": ["a", "b"]}, "meta": {"seed": 1}, "x.y": {"z": 2}}


def test_view_records_attribute_item_nested_and_absent_reads():
    reads = ConfigReads(copy.deepcopy(CONFIG), "process:T")
    cfg = reads.view()
    assert cfg.train.batch_size == 8
    assert cfg["train"]["lr"] == 0.1
    assert cfg.train.get("epochs", 3) == 3
    assert "seed" in cfg.meta
    assert isinstance(cfg, dict) and isinstance(cfg.train, dict)
    with pytest.raises(AttributeError):
        _ = cfg.nothing
    assert reads.values == {
        "train.batch_size": 8,
        "train.lr": 0.1,
        "train.epochs": ABSENT,
        "meta.seed": 1,
        "nothing": ABSENT,
    }


def test_whole_section_reads_record_the_section():
    reads = ConfigReads(copy.deepcopy(CONFIG), "process:T")
    cfg = reads.view()
    assert dict(cfg.meta) == {"seed": 1}
    assert json.loads(json.dumps(cfg.train))["batch_size"] == 8
    assert list(cfg.train.tags) == ["a", "b"]
    assert reads.values["meta"] == {"seed": 1} and reads.values["train"]["lr"] == 0.1
    assert reads.values["train.tags"] == ["a", "b"]


def test_pickling_or_copying_the_view_is_not_a_read_and_stays_read_only():
    reads = ConfigReads(copy.deepcopy(CONFIG), "process:T")
    cfg = reads.view()
    clone = pickle.loads(pickle.dumps(cfg.train))
    deep = copy.deepcopy(cfg)
    assert reads.values == {}
    assert clone.batch_size == 8 and deep.train.lr == 0.1
    with pytest.raises(ConfigWriteError):
        clone.batch_size = 3


@pytest.mark.parametrize(
    "write, where",
    [
        (lambda c: setattr(c.train, "batch_size", 16), "global_config.train.batch_size"),
        (lambda c: c.train.__setitem__("batch_size", 16), "global_config.train.batch_size"),
        (lambda c: c.__setitem__("new", 1), "global_config.new"),
        (lambda c: c.train.update({"lr": 1}), "global_config.train.lr"),
        (lambda c: c.train.pop("lr"), "global_config.train.lr"),
        (lambda c: c.meta.__delitem__("seed"), "global_config.meta.seed"),
        (lambda c: c.train.tags.append("c"), "global_config.train.tags"),
        (lambda c: c.train.setdefault("k", 1), "global_config.train.k"),
    ],
)
def test_every_kind_of_write_fails_naming_node_and_key(write, where):
    config = copy.deepcopy(CONFIG)
    cfg = ConfigReads(config, "process:Writer").view()
    with pytest.raises(ConfigWriteError) as info:
        write(cfg)
    assert "process:Writer" in info.value.message and where in info.value.message
    assert info.value.exit_code == 2
    assert config == CONFIG  # nothing leaked


def test_lookup_and_change_descriptions():
    assert lookup(CONFIG, "x.y.z") == 2 and lookup(CONFIG, "train.nope") == ABSENT
    old = {"train.batch_size": 8, "train.epochs": ABSENT}
    new = {"train": {"batch_size": 16, "epochs": 2}}
    assert describe_read_changes(old, new) == [
        "global_config.train.batch_size changed: 8 -> 16",
        "global_config.train.epochs changed: (absent) -> 2",
    ]


# ---------------------------------------------------------------- in a pipeline
CALLS: list[str] = []


@register_transform_functor(name="ReadsBatchSize")
class ReadsBatchSize(BaseTransform):
    def setup(self):
        self.scale = self.global_config["meta"].get("scale", 1)  # read in setup

    def _call(self, data):
        CALLS.append("reads")
        return [self.global_config.train.batch_size * self.scale] * 3


@register_transform_functor(name="ReadsNothing")
class ReadsNothing(BaseTransform):
    def _call(self, data):
        CALLS.append("nothing")
        return [1, 2]


@register_transform_functor(name="Doubles")
class Doubles(BaseTransform):
    def _call(self, data):
        CALLS.append("child")
        return [x * 2 for x in data]


@register_transform_functor(name="WritesConfig")
class WritesConfig(BaseTransform):
    def _call(self, data):
        self.global_config.train.batch_size = 99
        return data


def _config(tmp_path, batch_size=8, lr=0.1, scale=None, cache_reader=True):
    meta = {"default_cache_dir": str(tmp_path / "cache")}
    if scale is not None:
        meta["scale"] = scale
    return {
        "meta": meta,
        "train": {"batch_size": batch_size, "lr": lr},
        "data_pipeline": {
            "transforms": {
                "input:Reads": {"transform_name": "ReadsBatchSize", "cache": cache_reader},
                "output:Child": {"transform_name": "Doubles", "input_node": "input:Reads"},
                "output:Other": {"transform_name": "ReadsNothing"},
            }
        },
    }


def _run(config):
    CALLS.clear()
    pipeline = DataPipeline(config)
    out = pipeline.get_data(["output:Child", "output:Other"])
    statuses = {r.node: r.status for r in pipeline.last_report.nodes}
    return out, statuses, sorted(CALLS)


def test_changing_a_read_value_reruns_the_node_and_descendants_only(tmp_path):
    out, statuses, calls = _run(_config(tmp_path))
    assert out["output:Child"] == [16, 16, 16] and calls == ["child", "nothing", "reads"]
    _, statuses, calls = _run(_config(tmp_path))
    assert calls == [] and set(statuses.values()) <= {"hit", "skipped"}

    plan = {p.node: p for p in DataPipeline(_config(tmp_path, batch_size=16)).plan()}
    assert plan["input:Reads"].status == "stale"
    assert plan["input:Reads"].reasons == ["global_config.train.batch_size changed: 8 -> 16"]
    assert plan["output:Child"].status == "stale" and plan["output:Child"].reasons == ["input 'input:Reads' changed"]
    assert plan["output:Other"].status == "cached"

    out, statuses, calls = _run(_config(tmp_path, batch_size=16))
    assert out["output:Child"] == [32, 32, 32] and calls == ["child", "reads"]
    assert statuses["output:Other"] == "hit"
    # A key the node did not read: everything hits. Back to 8: the old entries hit again.
    _, _, calls = _run(_config(tmp_path, batch_size=16, lr=0.5))
    assert calls == []
    out, _, calls = _run(_config(tmp_path, batch_size=8))
    assert calls == [] and out["output:Child"] == [16, 16, 16]
    # A value read in setup() (absent before) counts too.
    plan = {p.node: p for p in DataPipeline(_config(tmp_path, scale=3)).plan()}
    assert plan["input:Reads"].reasons == ["global_config.meta.scale changed: (absent) -> 3"]
    out, _, calls = _run(_config(tmp_path, scale=3))
    assert out["output:Child"] == [48, 48, 48] and calls == ["child", "reads"]


def test_reads_are_kept_in_meta_json(tmp_path):
    pipeline = DataPipeline(_config(tmp_path))
    pipeline.get_data(["input:Reads", "output:Other"])
    key = pipeline._key("input:Reads")
    meta = pipeline.store.read_meta(key)
    assert meta["config_reads"] == {"meta.scale": ABSENT, "train.batch_size": 8}
    assert meta["base_key"] != key
    assert pipeline.store.read_sets(meta["base_key"]) == [["meta.scale", "train.batch_size"]]
    other = pipeline.store.read_meta(pipeline._key("output:Other"))
    assert other["config_reads"] == {} and other["key"] == other["base_key"]  # keys of non-readers unchanged


def test_an_uncached_reader_still_changes_its_descendants_keys(tmp_path):
    out, _, _ = _run(_config(tmp_path, cache_reader=False))
    assert out["output:Child"] == [16, 16, 16]
    _, statuses, calls = _run(_config(tmp_path, cache_reader=False))
    assert statuses["output:Child"] == "hit" and "child" not in calls
    out, statuses, calls = _run(_config(tmp_path, batch_size=4, cache_reader=False))
    assert out["output:Child"] == [8, 8, 8] and statuses["output:Child"] == "ran" and "child" in calls


def test_a_write_into_global_config_fails_with_node_and_key(tmp_path):
    config = _config(tmp_path)
    config["data_pipeline"]["transforms"]["output:Writer"] = {
        "transform_name": "WritesConfig",
        "input_node": "output:Other",
    }
    pipeline = DataPipeline(config)
    with pytest.raises(TransformError) as info:
        pipeline.get_data("output:Writer")
    message = info.value.message
    assert "output:Writer" in message and "global_config.train.batch_size" in message
    assert isinstance(info.value, RunwayError) and info.value.exit_code == 2
    assert config["train"]["batch_size"] == 8
    assert not any(e.node == "output:Writer" for e in pipeline.store.entries())


def test_an_entry_written_before_reads_were_recorded_is_left_behind_once_the_node_reruns(tmp_path):
    pipeline = DataPipeline(_config(tmp_path))
    pipeline.plan()
    base = pipeline._base_keys["input:Reads"]
    pipeline.store.save(base, [0, 0, 0], {"node": "input:Reads"})  # as an older version wrote it: no reads
    out, _, _ = _run(_config(tmp_path))
    assert out["output:Child"] == [0, 0, 0]  # it keeps loading (nothing says what it read)
    again = DataPipeline(_config(tmp_path), regenerate_nodes=["input:Reads"])
    assert again.get_data("output:Child")["output:Child"] == [16, 16, 16]
    out, _, calls = _run(_config(tmp_path, batch_size=2))
    assert out["output:Child"] == [4, 4, 4] and "reads" in calls
    out, _, calls = _run(_config(tmp_path))
    assert out["output:Child"] == [16, 16, 16] and calls == []  # never the old entry again


def test_gc_removes_read_set_files_no_entry_uses(tmp_path):
    import os
    import time

    pipeline = DataPipeline(_config(tmp_path))
    pipeline.get_data("input:Reads")
    store = pipeline.store
    base = store.read_meta(pipeline._key("input:Reads"))["base_key"]
    index = store.dir / ".reads" / f"{base}.json"
    past = time.time() - 3600
    os.utime(index, (past, past))
    store.gc(60)  # the entry was just used: it and its index stay
    assert index.exists()
    for entry in store.entries():  # as if last used an hour ago
        meta_path = entry.path / "meta.json"
        meta_path.write_text(json.dumps({**entry.meta, "created_epoch": past}))
        os.utime(meta_path, (past, past))
    store.gc(60, dry_run=True)
    assert index.exists()
    store.gc(60)
    assert not store.entries() and not index.exists()
