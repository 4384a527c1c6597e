"""serve.examples: the forms of the key, written examples checked as requests, rows picked, class names."""

from __future__ import annotations

import pytest

from runway_for_ml.errors import ConfigError
from runway_for_ml.serving.data_types import category, vector
from runway_for_ml.serving.examples import ExampleSource, _pick_rows, label_vector_outputs
from runway_for_ml.serving.exceptions import UnknownInputError
from runway_for_ml.serving.experiment_model import model_from_spec, parse_serve_section
from runway_for_ml.serving.model import RunwayModel

SECTION = {
    "commands": {
        "classify": {
            "inputs": {
                "pixels": {"type": "vector", "length": 2, "min": 0, "max": 16, "optional": True},
                "image": {"type": "image", "channels": 1, "column": "pixels", "optional": True},
            },
            "outputs": {
                "label": {"type": "category", "oneOf": ["other", "great"], "column": "prediction"},
                "probabilities": {"type": "vector", "length": 2},
            },
        },
        "embed": {
            "inputs": {"texts": {"type": "array", "itemType": {"type": "text"}, "maxLength": 4}},
            "outputs": {"vectors": {"type": "any"}},
        },
    }
}


def test_the_forms_of_the_key():
    assert parse_serve_section(SECTION).example_source == ExampleSource(count=3)  # the default
    assert parse_serve_section({**SECTION, "examples": False}).example_source is None
    assert parse_serve_section({**SECTION, "examples": 0}).example_source is None
    assert parse_serve_section({**SECTION, "examples": 5}).example_source == ExampleSource(count=5, explicit=True)
    source = parse_serve_section({**SECTION, "examples": {"split": "validation", "inputs": {"texts": "review"}}})
    assert source.example_source == ExampleSource(3, "validation", {"texts": "review"}, explicit=True)


def test_written_examples_go_to_the_commands_they_fit_and_reach_meta():
    written = [
        {"inputs": {"pixels": [1, 2]}, "label": "great"},
        {"command": "embed", "inputs": {"texts": ["a", "b"]}},
    ]
    spec = parse_serve_section({**SECTION, "examples": written})
    assert spec.example_source is None
    assert spec.examples == {
        "classify": [{"inputs": {"pixels": [1, 2]}, "label": "great"}],
        "embed": [{"inputs": {"texts": ["a", "b"]}}],
    }
    meta = model_from_spec("m", spec).manifest()
    classify = meta["commands"][0]
    assert classify["examples"] == [{"inputs": {"pixels": [1, 2]}, "label": "great"}]
    assert classify["alternatives"] == [["image", "pixels"]]


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        (-1, "serve.examples must be a whole number from 0 to 50, got -1"),
        ({"cuont": 2}, "serve.examples.cuont: unknown key (did you mean 'count'?)"),
        ({"inputs": {"txt": "review"}}, "serve.examples.inputs.txt: unknown input 'txt'"),
        ([{"inputs": {"pixels": [1, 99]}}], "serve.examples[0] (command classify): Invalid argument: pixels: item 1"),
        ([{"inputs": {"pixel": [1, 2]}}], "serve.examples[0]: no command takes the inputs pixel"),
        ([{"command": "clasify", "inputs": {}}], "serve.examples[0].command: unknown command 'clasify'"),
        ([{"inputs": {"pixels": [1, 2], "image": "x"}, "command": "classify"}], "image: the image is not valid base64"),
        ("three", "serve.examples: expected an integer or true/false or an object or a list"),
    ],
)
def test_bad_examples_are_config_errors_naming_the_key(examples, message):
    with pytest.raises(ConfigError) as info:
        parse_serve_section({**SECTION, "examples": examples}, "cfg.jsonnet: ")
    assert message in str(info.value)


def test_rows_of_different_labels_come_first():
    import datasets

    rows = datasets.Dataset.from_dict({"label": [3, 3, 3, 1, 1, 7, 3]})
    assert _pick_rows(rows, "label", 3) == [0, 3, 5]
    assert _pick_rows(rows, "label", 4) == [0, 1, 3, 5]
    assert _pick_rows(datasets.Dataset.from_dict({"x": [0, 0]}), None, 5) == [0, 1]


def test_probability_vectors_of_a_classifier_get_class_names():
    model = model_from_spec("m", parse_serve_section(SECTION))
    label_vector_outputs(model.commands["classify"], None)  # nothing else known: the category's oneOf
    assert model.commands["classify"].outputs["probabilities"].to_dict()["labels"] == ["other", "great"]
    model = model_from_spec("m", parse_serve_section(SECTION))
    label_vector_outputs(model.commands["classify"], ["neg", "pos"])  # the executor's or the data's names
    assert model.commands["classify"].outputs["probabilities"].labels == ["neg", "pos"]
    label_vector_outputs(model.commands["embed"], ["neg", "pos"])  # not a classifier: nothing to name
    assert "labels" not in str(model.commands["embed"].to_dict())


def test_an_unknown_input_or_option_is_refused_with_a_did_you_mean():
    m = RunwayModel("m")
    m.setup(options={"scale": vector(length=1)})(lambda opts: None)
    command = m.command("c", inputs={"pixels": vector(length=1)}, outputs={"y": category(choices=[0])})(lambda *_: 0)
    assert command is not None
    with pytest.raises(UnknownInputError) as info:
        m.commands["c"].decode({"pixel": [1]})
    assert info.value.code == 400
    assert info.value.message == "unknown input 'pixel' (did you mean 'pixels'?); inputs: pixels"
    with pytest.raises(UnknownInputError, match=r"unknown option 'scal' \(did you mean 'scale'\?\); options: scale"):
        m.decode_options({"scal": [1]})
    with pytest.raises(ValueError, match="example 0 of command 'd': unknown input 'zz'; inputs: x"):
        m.command("d", inputs={"x": vector(length=1)}, outputs={"y": vector(length=1)}, examples=[{"zz": 1}])(print)
