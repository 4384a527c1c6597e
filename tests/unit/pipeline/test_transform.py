"""BaseTransform hooks, HFDatasetTransform generic options, registration."""

import subprocess
import sys

import datasets
import pytest

from runway_for_ml.errors import RunwayError, TransformError
from runway_for_ml.pipeline import BaseTransform, HFDatasetTransform, register_transform_functor
from runway_for_ml.pipeline.runner import DataPipeline
from runway_for_ml.pipeline.transform import TRANSFORMS


class Recorder(BaseTransform):
    def setup(self, log=None):
        self.log = log if log is not None else []

    def _preprocess(self, data):
        self.log.append("preprocess")
        return data

    def _check_input(self, data):
        self.log.append("check_input")

    def _call(self, data):
        self.log.append("call")
        return data * 2

    def _check_output(self, data):
        self.log.append("check_output")


def test_call_runs_hooks_in_order():
    t = Recorder()
    log = []
    t.configure(log=log)
    assert t(3) == 6
    assert log == ["preprocess", "check_input", "call", "check_output"]


@register_transform_functor(name="TTRejectNegative")
class RejectNegative(BaseTransform):
    def setup(self, where="input"):
        self.where = where

    def _check_input(self, data):
        if self.where == "input" and min(data) < 0:
            raise ValueError("negative values")

    def _call(self, data):
        return [x - 10 for x in data]

    def _check_output(self, data):
        if self.where == "output" and min(data) < 0:
            raise ValueError("output went negative")


@register_transform_functor
class TTNumbers(BaseTransform):
    def setup(self, values=(1, 2)):
        self.values = list(values)

    def _call(self, data):
        return list(self.values)


def _pipeline(tmp_path, where, values):
    return DataPipeline(
        {
            "meta": {"default_cache_dir": str(tmp_path)},
            "data_pipeline": {
                "transforms": {
                    "input:N": {"transform_name": "TTNumbers", "setup_kwargs": {"values": values}},
                    "output:R": {
                        "transform_name": "TTRejectNegative",
                        "input_node": "input:N",
                        "setup_kwargs": {"where": where},
                    },
                }
            },
        }
    )


@pytest.mark.parametrize(
    ("where", "values", "stage"), [("input", [-1], "_check_input"), ("output", [1], "_check_output")]
)
def test_failing_check_fails_the_node_naming_node_and_transform(tmp_path, where, values, stage):
    with pytest.raises(TransformError) as info:
        _pipeline(tmp_path, where, values).apply_transforms()
    message = str(info.value)
    assert "data_pipeline.transforms.output:R" in message
    assert "TTRejectNegative" in message and stage in message
    assert isinstance(info.value.__cause__, ValueError)


def test_failed_node_leaves_no_cache_entry(tmp_path):
    pipeline = _pipeline(tmp_path, "output", [1])
    with pytest.raises(TransformError):
        pipeline.apply_transforms()
    assert [e.node for e in pipeline.store.entries()] == ["input:N"]


def _dd():
    return datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"a": [1, 2, 3], "b": ["x", "y", "z"]}),
            "test": datasets.Dataset.from_dict({"a": [4], "b": ["w"]}),
        }
    )


class AddOne(HFDatasetTransform):
    def _call(self, ds):
        assert isinstance(ds, datasets.Dataset | datasets.DatasetDict)
        return ds.map(lambda r: {"a": r["a"] + 1})


def test_splits_to_process_applies_per_split_and_passes_others_through():
    t = AddOne()
    t.configure(splits_to_process=["train"])
    out = t(_dd())
    assert out["train"]["a"] == [2, 3, 4]
    assert out["test"]["a"] == [4]


def test_without_splits_to_process_call_gets_the_whole_dict_and_rename_applies_everywhere():
    t = AddOne()
    t.configure(rename_col_dict={"a": "number"})
    out = t(_dd())
    assert out["train"].column_names == ["number", "b"] and out["test"]["number"] == [5]


def test_rename_of_missing_column_and_missing_split_raise():
    t = AddOne()
    t.configure(rename_col_dict={"nope": "x"})
    with pytest.raises(KeyError, match="nope"):
        t(_dd())
    t = AddOne()
    t.configure(splits_to_process=["validation"])
    with pytest.raises(KeyError, match="validation"):
        t(_dd())


def test_apply_mapping_selects_and_renames():
    assert BaseTransform()._apply_mapping([{"a": 1, "b": 2}], {"b": "c"}) == [{"c": 2}]
    out = HFDatasetTransform()._apply_mapping(_dd(), {"b": "text"})
    assert out["train"].column_names == ["text"] and out["test"]["text"] == ["w"]


def test_check_setup_kwargs_reports_unknown_with_did_you_mean():
    assert Recorder.check_setup_kwargs({"log": []}) is None
    problem = Recorder.check_setup_kwargs({"lgo": []})
    assert "unknown argument 'lgo'" in problem and "did you mean 'log'" in problem
    # generic options of HF transforms are accepted without being in setup()'s signature
    assert AddOne.check_setup_kwargs({"splits_to_process": ["train"], "rename_col_dict": {}}) is None


def test_register_refuses_non_transforms_and_duplicates():
    with pytest.raises(RunwayError, match="subclass of BaseTransform"):
        register_transform_functor(object)

    def make():
        class Twin(BaseTransform):
            pass

        return Twin

    register_transform_functor(make(), name="TTTwin")
    register_transform_functor(make(), name="TTTwin")  # same definition re-registered: fine
    other = type("Twin", (BaseTransform,), {"__module__": "elsewhere"})
    with pytest.raises(RunwayError, match="registered twice"):
        register_transform_functor(other, name="TTTwin")
    assert TRANSFORMS.get("TTRejectNegative") is RejectNegative


def test_call_must_be_overridden():
    with pytest.raises(NotImplementedError):
        BaseTransform()(1)


def test_transform_module_does_not_import_datasets():
    code = "import sys, runway_for_ml.pipeline; print('datasets' in sys.modules, 'networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_underscore_keys_are_comments_unless_setup_takes_them():
    # docs/cache.md: `_`-prefixed setup_kwargs are comments or run-only switches, outside the cache key.
    split = TRANSFORMS.get("SplitHFDataset")
    assert split.check_setup_kwargs({"test_size": 0.2, "_note": "why 0.2"}) is None
    assert "unknown argument 'note'" in split.check_setup_kwargs({"note": "x"})
    node = split()
    node.configure(test_size=0.2, _note="why 0.2")  # not passed to setup(), which has no _note

    class TakesSwitch(BaseTransform):
        def setup(self, _num_proc: int = 1) -> None:
            self.num_proc = _num_proc

        def _call(self, data):
            return data

    taker = TakesSwitch()
    taker.configure(_num_proc=4)
    assert taker.num_proc == 4
