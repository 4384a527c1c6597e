"""Transforms written in the original framework's style keep working."""

import datasets
import pytest

from runway_for_ml.errors import ConfigError
from runway_for_ml.pipeline import HFDatasetTransform, register_transform_functor
from runway_for_ml.pipeline.runner import DataPipeline
from runway_for_ml.pipeline.transform import AttrDict


@register_transform_functor(name="CompatOriginalStyle")
class OriginalStyle(HFDatasetTransform):
    """Declares rename_col_dict and splits_to_process itself, applies them itself (as the original did)."""

    def setup(self, rename_col_dict, fields_list, splits_to_process=["train", "test", "validation"]):  # noqa: B006
        super().setup(rename_col_dict)
        self.fields_list = fields_list
        self.splits_to_process = splits_to_process
        self.seen = {"rename_col_dict": rename_col_dict, "name": self.name, "dummy": self.use_dummy_data}

    def _call(self, dataset):
        results = {}
        for split in self.splits_to_process:
            if split not in dataset:
                continue
            ds = dataset[split].map(
                lambda b: {f"{f}_len": [len(x) for x in b[f]] for f in self.fields_list}, batched=True
            )
            results[split] = ds.rename_columns(self.rename_col_dict)
        return datasets.DatasetDict(results)


@register_transform_functor(name="CompatPlain")
class Plain(HFDatasetTransform):
    """Declares neither option but calls a bare super().setup(): the framework still applies them."""

    def setup(self, suffix="!"):
        super().setup()
        self.suffix = suffix

    def _call(self, ds):
        return ds.map(lambda r: {"text": r["text"] + self.suffix})


@register_transform_functor(name="CompatMakeData")
class MakeData(HFDatasetTransform):
    def setup(self):
        super().setup(rename_col_dict=None, splits_to_process=None)  # the original's base signature

    def _call(self, data):
        ds = datasets.Dataset.from_dict({"text": ["ab", "cde"]})
        return datasets.DatasetDict({"train": ds, "test": ds, "validation": ds})


def _data():
    ds = datasets.Dataset.from_dict({"text": ["ab", "cde"]})
    return datasets.DatasetDict({"train": ds, "test": ds})


def test_declared_options_validate_without_missing_argument_and_list_each_name_once():
    assert OriginalStyle.check_setup_kwargs({"rename_col_dict": {"text_len": "n"}, "fields_list": ["text"]}) is None
    problem = OriginalStyle.check_setup_kwargs({"rename_col_dict": {}, "fields_list": [], "fieldz": 1})
    assert "accepts: rename_col_dict, fields_list, splits_to_process" in problem
    problem = OriginalStyle.check_setup_kwargs({"fields_list": ["text"]})
    assert "missing a required argument: 'rename_col_dict'" in problem  # really missing: still reported


def test_a_subclass_that_declares_rename_col_dict_receives_it_and_it_is_applied_once():
    t = OriginalStyle()
    t.configure(rename_col_dict={"text_len": "n"}, fields_list=["text"], splits_to_process=["train"])
    assert t.seen["rename_col_dict"] == {"text_len": "n"}
    out = t(_data())
    assert list(out) == ["train"]  # the subclass's own split handling
    assert out["train"]["n"] == [2, 3]


def test_undeclared_options_stay_generic_even_after_a_bare_super_setup():
    t = Plain()
    t.configure(rename_col_dict={"text": "t"}, splits_to_process=["train"], suffix="?")
    out = t(_data())
    assert out["train"]["t"] == ["ab?", "cde?"]
    assert out["test"]["text"] == ["ab", "cde"]
    assert Plain.check_setup_kwargs({"suffix": "x", "rename_col_dict": {}, "splits_to_process": ["train"]}) is None


def test_base_setup_is_callable_with_the_original_arguments():
    t = HFDatasetTransform()
    t.setup(rename_col_dict={"a": "b"}, splits_to_process="train")
    assert t.rename_col_dict == {"a": "b"} and t.splits_to_process == ["train"]


def test_pipeline_sets_name_dummy_flag_and_global_config(tmp_path):
    config = {
        "meta": {"default_cache_dir": str(tmp_path), "seed": 1},
        "data_pipeline": {
            "transforms": {
                "input:Make": {"transform_name": "CompatMakeData"},
                "output:Lens": {
                    "input_node": "input:Make",
                    "transform_name": "CompatOriginalStyle",
                    "setup_kwargs": {"rename_col_dict": {"text_len": "length"}, "fields_list": ["text"]},
                    "cache": False,
                },
            }
        },
    }
    seen = {}
    original_call = OriginalStyle._call

    def spy(self, dataset):
        seen.update(name=self.name, dummy=self.use_dummy_data, config=self.global_config, kwargs=self.seen)
        return original_call(self, dataset)

    OriginalStyle._call = spy
    try:
        out = DataPipeline(config, dummy=True).get_data("output:Lens")["output:Lens"]
    finally:
        OriginalStyle._call = original_call
    assert sorted(out) == ["test", "train", "validation"] and out["train"]["length"] == [2, 3]
    assert seen["name"] == "output:Lens" and seen["dummy"] is True
    assert seen["config"]["meta"]["seed"] == 1
    assert seen["kwargs"]["rename_col_dict"] == {"text_len": "length"}


def test_graph_validation_reports_a_declared_option_that_is_really_missing(tmp_path):
    bad = {
        "data_pipeline": {
            "transforms": {
                "input:Make": {"transform_name": "CompatMakeData"},
                "output:Lens": {
                    "input_node": "input:Make",
                    "transform_name": "CompatOriginalStyle",
                    "setup_kwargs": {"fields_list": ["text"]},
                },
            }
        }
    }
    with pytest.raises(ConfigError, match="missing a required argument: 'rename_col_dict'"):
        DataPipeline(bad)


def test_original_import_path_kwargs_setup_and_attribute_config(tmp_path):
    from runway_for_ml.data_module.data_transforms import HFDatasetTransform as OldHF
    from runway_for_ml.data_module.data_transforms import register_transform_functor as old_register

    assert OldHF is HFDatasetTransform

    @old_register(name="CompatCarveSplit")
    class CarveSplit(OldHF):
        def setup(self, src_split, tgt_split, split_size, **kwargs):
            self.src_split, self.tgt_split, self.split_size = src_split, tgt_split, split_size
            super().setup(**kwargs)

        def _call(self, data, *args, **kwargs):
            parts = data[self.src_split].train_test_split(self.split_size, seed=self.global_config.meta.seed)
            data[self.src_split], data[self.tgt_split] = parts["train"], parts["test"]
            self.seen_batch_size = self.global_config.train.get("batch_size", 1)
            return data

    config = {
        "meta": {"default_cache_dir": str(tmp_path), "seed": 5},
        "train": {"batch_size": 7},
        "data_pipeline": {
            "transforms": {
                "input:Make": {"transform_name": "CompatMakeData"},
                "output:Carve": {
                    "input_node": "input:Make",
                    "transform_name": "CompatCarveSplit",
                    "setup_kwargs": {
                        "src_split": "train",
                        "tgt_split": "valid",
                        "split_size": 1,
                        "rename_col_dict": {"text": "t"},
                    },
                },
            }
        },
    }
    out = DataPipeline(config).get_data("output:Carve")["output:Carve"]
    assert out.num_rows["train"] == 1 and out.num_rows["valid"] == 1
    assert out["valid"].column_names == ["t"]  # not declared by setup: applied by the framework
    t = CarveSplit()
    t.global_config = AttrDict(config)
    t.configure(src_split="train", tgt_split="valid", split_size=1)
    t(_data())
    assert t.seen_batch_size == 7
    t.global_config.meta.seed = 9
    assert config["meta"]["seed"] == 5  # a copy: the transform cannot change the run's config


@register_transform_functor(name="CompatKwargsSetup")
class KwargsSetup(HFDatasetTransform):
    """The original framework's shape: setup(rename_col_dict=None, **kwargs); _call loops over the splits."""

    def setup(self, rename_col_dict=None, **kwargs):
        super().setup(rename_col_dict, **kwargs)

    def _call(self, dataset):
        for split in self.splits_to_process:
            dataset[split] = dataset[split].map(lambda r: {"n": len(r["text"])}).rename_columns(self.rename_col_dict)
        return dataset


@register_transform_functor(name="CompatKwargsNoForward")
class KwargsNoForward(HFDatasetTransform):
    """setup(**kwargs) that does not pass them on: self.splits_to_process is still set."""

    def setup(self, **kwargs):
        pass

    def _call(self, dataset):
        return datasets.DatasetDict({s: dataset[s].select(range(1)) for s in self.splits_to_process})


def test_kwargs_setup_with_splits_to_process_gets_the_whole_dataset_dict(tmp_path):
    config = {
        "meta": {"default_cache_dir": str(tmp_path)},
        "data_pipeline": {
            "transforms": {
                "input:Make": {"transform_name": "CompatMakeData"},
                "output:Len": {
                    "input_node": "input:Make",
                    "transform_name": "CompatKwargsSetup",
                    "setup_kwargs": {"splits_to_process": ["train"], "rename_col_dict": {"n": "length"}},
                },
                "output:First": {
                    "input_node": "input:Make",
                    "transform_name": "CompatKwargsNoForward",
                    "setup_kwargs": {"splits_to_process": ["test"]},
                },
            }
        },
    }
    out = DataPipeline(config).get_data(["output:Len", "output:First"])
    lengths = out["output:Len"]
    assert lengths["train"]["length"] == [2, 3]
    assert lengths["test"].column_names == ["text"] and lengths["validation"].column_names == ["text"]
    assert list(out["output:First"]) == ["test"] and out["output:First"]["test"].num_rows == 1
