import pytest

from runway_for_ml.config.overrides import apply_overrides, parse_override, parse_value
from runway_for_ml.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64", 64),
        ("3e-3", 3e-3),
        ("true", True),
        ("True", True),
        ("False", False),
        ("None", None),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ('{"name": "f1"}', {"name": "f1"}),
        ("gpu", "gpu"),
        ("max", "max"),
        ("3/4", "3/4"),
        ("__import__('os').system('echo hi')", "__import__('os').system('echo hi')"),
        ("", ""),
    ],
)
def test_parse_value_never_evaluates_code(text, expected):
    assert parse_value(text) == expected


def test_split_at_first_equals_and_node_names_with_colons():
    assert parse_override("test_suffix=ep=4;beam=4") == (["test_suffix"], "ep=4;beam=4")
    assert parse_override("data_pipeline.transforms.process:Split.setup_kwargs.k=1") == (
        ["data_pipeline", "transforms", "process:Split", "setup_kwargs", "k"],
        1,
    )


def test_apply_creates_intermediate_dicts_and_records_previous():
    data = {"train": {"batch_size": 32}}
    applied = apply_overrides(data, ["train.batch_size=64", "train.trainer_paras.max_epochs=3", "accelerator=gpu"])
    assert data == {"train": {"batch_size": 64, "trainer_paras": {"max_epochs": 3}}, "accelerator": "gpu"}
    assert applied[0].previous == 32 and applied[0].existed
    assert not applied[1].existed
    assert "32 -> 64" in applied[0].describe()


def test_list_indexes():
    data = {"eval": {"metrics": [{"name": "accuracy"}, {"name": "f1"}]}}
    apply_overrides(data, ["eval.metrics.1.name=recall", 'eval.metrics.2={"name":"mse"}', "eval.metrics.-1.kw=1"])
    assert data["eval"]["metrics"] == [{"name": "accuracy"}, {"name": "recall"}, {"name": "mse", "kw": 1}]


def test_index_one_past_the_end_inside_a_path_creates_the_item():
    # docs/config.md: "one past the end appends", also when more path follows (a new metric step).
    data = {"eval": {"metrics": [{"name": "accuracy"}, {"name": "f1"}, {"name": "confusion_matrix"}]}}
    applied = apply_overrides(data, ["eval.metrics.3.name=recall", "eval.metrics.3.kwargs.average=macro"])
    assert data["eval"]["metrics"][3] == {"name": "recall", "kwargs": {"average": "macro"}}
    assert not applied[0].existed and len(data["eval"]["metrics"]) == 4
    with pytest.raises(ConfigError, match="index 5 is out of range for a list of 4 items"):
        apply_overrides(data, ["eval.metrics.5.name=x"])


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("train.batch_size", "expected KEY.PATH=VALUE"),
        ("=3", "expected KEY.PATH=VALUE"),
        ("a..b=1", "empty part"),
        ("x.y.z=1", "which is a int"),
        ("lst.9=1", "out of range"),
        ("lst.a=1", "must be an integer"),
    ],
)
def test_malformed_items(item, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides({"x": {"y": 5}, "lst": [1]}, [item])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{name: "f1"}]', [{"name": "f1"}]),
        ("[{name: 'f1', kwargs: {average: 'macro'}},]", [{"name": "f1", "kwargs": {"average": "macro"}}]),
        ("{lr: 1e-3}", {"lr": 1e-3}),
    ],
)
def test_lists_and_objects_may_be_written_as_in_the_config_files(text, expected):
    assert parse_value(text) == expected


@pytest.mark.parametrize(
    "text", ['{a: import "/etc/hostname"}', '{a: importstr "/etc/hostname"}', '{h: std.extVar("HOME")}', "[1, 2"]
)
def test_jsonnet_values_read_no_files_or_environment(text):
    # Imports and external variables are refused: the text stays a string (and fails validation later).
    assert parse_value(text) == text
