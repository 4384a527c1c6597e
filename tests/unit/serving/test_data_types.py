"""Data types: descriptors as the SDK writes them, exact decoding of inputs, encoding of outputs."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from runway_for_ml.errors import ConfigError
from runway_for_ml.serving.data_types import (
    any as any_type,
)
from runway_for_ml.serving.data_types import (
    array,
    boolean,
    category,
    descriptor_type,
    file,
    image,
    number,
    text,
    vector,
)
from runway_for_ml.serving.exceptions import InvalidArgumentError, MissingInputError


def _png(size=(4, 3), mode="L", value=200) -> str:
    buffer = io.BytesIO()
    Image.new(mode, size, color=value).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_descriptors_use_the_sdk_field_names():
    assert number(default=0.5, min=0, max=1, step=0.1).named("t").to_dict() == {
        "type": "number",
        "name": "t",
        "description": None,
        "default": 0.5,
        "min": 0,
        "max": 1,
        "step": 0.1,
    }
    assert category(choices=["a", "b"], default="b").named("c").to_dict()["oneOf"] == ["a", "b"]
    v = vector(length=3, sampling_mean=1, sampling_std=2).named("z").to_dict()
    assert (v["length"], v["samplingMean"], v["samplingStd"]) == (3, 1, 2)
    assert text(min_length=1, max_length=5).to_dict()["maxLength"] == 5
    img = image(channels=1, width=8, height=8).to_dict()
    assert (img["channels"], img["width"], img["height"], img["defaultOutputFormat"]) == (1, 8, 8, "PNG")
    arr = array(item_type=number(), max_length=3).to_dict()
    assert arr["itemType"]["type"] == "number" and arr["maxLength"] == 3
    assert vector(length=2, optional=True).to_dict()["optional"] is True


@pytest.mark.parametrize(
    ("data_type", "value", "reason"),
    [
        (number(min=0, max=1), 2, "above the maximum"),
        (number(min=0, max=1), -1, "below the minimum"),
        (number(), "3", "expected a finite number"),
        (number(), True, "expected a finite number"),
        (text(max_length=3), "long", "longer than maxLength"),
        (text(), 5, "expected a string"),
        (category(choices=["a", "b"]), "c", "is not one of"),
        (boolean(), 1, "expected true or false"),
        (vector(length=3), [1, 2], "expected 3 numbers, got 2"),
        (vector(length=2), [1, "x"], "item 1 is not a finite number"),
        (vector(length=2), "1,2", "expected a list"),
        (vector(length=2), [1, 1e300], "outside the float32 range"),
        (array(item_type=number(max=1), max_length=2), [0, 1, 1], "more than maxLength"),
        (image(), "data:image/png;base64,AAAA", "cannot decode the image"),
        (image(), "not base64!!", "not valid base64"),
        (image(max_width=2), _png((4, 3)), "width 4 is above the max 2"),
        (file(), 12, "expected a base64 data URI"),
        (vector(length=3, min=0, max=16), [0, 1000, 3], "item 1 (1000) is above the maximum 16"),
        (vector(length=2, min=0, max=16), [-1, 3], "item 0 (-1) is below the minimum 0"),
        (array(item_type=vector(length=1, max=1)), [[0], [2]], "field[1]: item 0 (2) is above the maximum 1"),
    ],
)
def test_bad_values_are_invalid_arguments_naming_the_input(data_type, value, reason):
    with pytest.raises(InvalidArgumentError) as info:
        data_type.named("field").deserialize(value)
    assert info.value.code == 400
    assert info.value.message.startswith("Invalid argument: field")
    assert reason in info.value.message


def test_array_items_are_checked_with_their_index():
    with pytest.raises(InvalidArgumentError, match=r"tags\[1\]"):
        array(item_type=category(choices=["a"])).named("tags").deserialize(["a", "b"])


def test_values_decode_exactly():
    assert vector(length=3).deserialize([1, 2.5, 0]).tolist() == [1.0, 2.5, 0.0]
    assert vector(length=3).deserialize([1, 2, 3]).dtype == np.float32
    assert number().deserialize(3) == 3
    assert category(choices=[64, 128]).deserialize(128) == 128
    assert any_type().deserialize({"x": [1]}) == {"x": [1]}
    assert file().deserialize("data:application/octet-stream;base64," + base64.b64encode(b"abc").decode()) == b"abc"
    assert file().deserialize(base64.b64encode(b"xyz").decode()) == b"xyz"


def test_images_decode_to_the_declared_mode_and_size():
    img = image(channels=1, width=8, height=8).named("image").deserialize(_png((16, 16), "RGB", (10, 20, 30)))
    assert img.mode == "L" and img.size == (8, 8)
    kept = image(channels=3).deserialize(_png((5, 7), "L"))
    assert kept.mode == "RGB" and kept.size == (5, 7)


def test_outputs_encode_to_json_values():
    assert number().serialize(np.float32(0.5)) == 0.5
    assert vector(length=2).serialize(np.array([1, 2], dtype=np.float32)) == [1.0, 2.0]
    assert category(choices=["cat", "dog"]).named("label").serialize(1) == "dog"  # a class index
    assert category(choices=[0, 1, 2]).serialize(np.int64(2)) == 2
    with pytest.raises(ValueError, match="neither one of"):
        category(choices=["a"]).named("label").serialize(5)
    uri = image(channels=1).serialize(np.full((2, 3), 0.5, dtype=np.float32))
    decoded = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert uri.startswith("data:image/png;base64,") and decoded.size == (3, 2) and decoded.getpixel((0, 0)) == 128
    jpeg = image(default_output_format="JPEG").serialize(Image.new("RGBA", (2, 2)))
    assert jpeg.startswith("data:image/jpeg;base64,")
    assert file().serialize(b"hi") == "data:application/octet-stream;base64,aGk="


def test_required_inputs_and_missing_input_error():
    assert number().required and not number(default=1).required and not number(optional=True).required
    assert MissingInputError("x").to_response() == {"error": "Missing input: x"}
    try:
        raise RuntimeError("inner")
    except RuntimeError as exc:
        error = InvalidArgumentError("x", "bad")
        error.__cause__ = exc
        body = error.to_response(debug=True)
    assert body["error"] == "Invalid argument: x: bad" and any(
        "RuntimeError: inner" in line for line in body["traceback"]
    )


def test_descriptor_type_builds_from_config_and_rejects_unknown_types_and_fields():
    built = descriptor_type({"type": "vector", "length": 64, "samplingMean": 4}, "serve.commands.c.inputs.pixels")
    assert built.name == "pixels" and built.length == 64 and built.sampling_mean == 4
    nested = descriptor_type({"type": "array", "itemType": {"type": "text", "maxLength": 3}}, "x.tags")
    assert nested.item_type.max_length == 3
    with pytest.raises(
        ConfigError, match=r"inputs\.pixels\.type: unknown data type 'vectr' \(did you mean 'vector'\?\)"
    ):
        descriptor_type({"type": "vectr", "length": 64}, "serve.commands.c.inputs.pixels")
    with pytest.raises(ConfigError, match=r"pixels\.lenght: unknown key \(did you mean 'length'\?\)"):
        descriptor_type({"type": "vector", "lenght": 64}, "serve.commands.c.inputs.pixels")
    with pytest.raises(ConfigError, match="needs a positive length"):
        descriptor_type({"type": "vector"}, "p")
    with pytest.raises(ConfigError, match=r"p\.default: Invalid argument"):
        descriptor_type({"type": "number", "max": 1, "default": 5}, "p")
    with pytest.raises(ConfigError, match="type is missing"):
        descriptor_type({"length": 3}, "p")


def test_vector_bounds_and_labels_are_declared_and_checked():
    v = descriptor_type({"type": "vector", "length": 2, "min": 0, "max": 16, "labels": ["cat", "dog"]}, "x")
    assert (v.to_dict()["min"], v.to_dict()["max"], v.to_dict()["labels"]) == (0, 16, ["cat", "dog"])
    assert v.deserialize([0, 16]).tolist() == [0.0, 16.0]  # the bounds are inclusive
    with pytest.raises(ConfigError, match="min 5 is above max 1"):
        descriptor_type({"type": "vector", "length": 2, "min": 5, "max": 1}, "x")
    with pytest.raises(ConfigError, match="labels must be a list of 2 names"):
        descriptor_type({"type": "vector", "length": 2, "labels": ["a"]}, "x")
    with pytest.raises(ConfigError, match="x.default: Invalid argument: x: item 0 .-1. is below the minimum 0"):
        descriptor_type({"type": "vector", "length": 1, "min": 0, "default": [-1]}, "x")


def _truncated_png() -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8)).save(buffer, format="PNG")
    data = buffer.getvalue()
    return "data:image/png;base64," + base64.b64encode(data[: len(data) // 2]).decode()


@pytest.mark.parametrize(
    ("data_type", "value", "shown"),
    [
        (category(choices=["cat", "dog"]), "cow", '"cow" is not one of ["cat", "dog"]'),
        (category(choices=[1, 2]), None, "null is not one of [1, 2]"),
        (vector(length=2), [1, None], "item 1 is not a finite number (null)"),
        (vector(length=2), [1, {"a": True}], 'item 1 is not a finite number ({"a": true})'),
        (number(), [1], "expected a finite number, got a list"),
        (text(), {"a": 1}, "expected a string, got an object"),
        (image(), "data:image/png;base64," + base64.b64encode(b"hello, not a png").decode(), "not a PNG or JPEG"),
        (image(), _truncated_png(), "the data is truncated or corrupt"),
    ],
)
def test_error_messages_show_json_values_never_python_reprs(data_type, value, shown):
    with pytest.raises(InvalidArgumentError) as info:
        data_type.named("field").deserialize(value)
    message = info.value.message
    assert shown in message
    for python in ("None", "True", "'", "object at 0x", "<", "BytesIO"):
        assert python not in message, message


def test_a_python_repr_in_any_serving_error_is_scrubbed():
    from runway_for_ml.serving.exceptions import ServingError

    error = ServingError(f"cannot identify image file {io.BytesIO()!r}")
    assert "object at 0x" not in error.to_response()["error"]
    assert error.to_response()["error"] == "cannot identify image file the data"
