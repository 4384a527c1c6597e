"""A hand-written model file in the Runway Model SDK's style (only the imports differ).

Run by the serving tests as ``python sdk_model.py`` with ``RW_PORT=0``: it prints the URL it serves.
"""

import json
import os
import time

import numpy as np
from PIL import Image

import runway_for_ml.serving as runway
from runway_for_ml.serving.data_types import any, array, boolean, category, file, image, number, text, vector


@runway.setup(
    options={"scale": number(default=1.0, min=0.0, max=10.0), "mode": category(choices=["sum", "mean"], default="sum")}
)
def setup(opts):
    return {"scale": opts["scale"], "mode": opts["mode"], "calls": 0}


@runway.command(
    "reduce",
    inputs={"values": vector(length=4), "offset": number(default=0, min=-100, max=100)},
    outputs={"result": number(), "mode": text()},
    description="Sum or mean of four numbers, times the scale option, plus offset.",
)
def reduce(model, inputs):
    values = inputs["values"]
    result = values.sum() if model["mode"] == "sum" else values.mean()
    return {"result": float(result) * model["scale"] + inputs["offset"], "mode": model["mode"]}


@runway.command(
    "invert",
    inputs={"image": image(channels=1, min_width=2, max_width=64, min_height=2, max_height=64)},
    outputs={"image": image(channels=1), "width": number()},
)
def invert(model, inputs):
    img = inputs["image"]
    return {"image": Image.fromarray(255 - np.asarray(img)), "width": img.size[0]}


@runway.command(
    "echo",
    inputs={
        "word": text(min_length=1, max_length=20),
        "flag": boolean(default=False),
        "tags": array(item_type=category(choices=["a", "b"]), max_length=3, default=[]),
        "blob": file(optional=True),
        "extra": any(default={}),
    },
    outputs={"word": text(), "flag": boolean(), "tags": array(item_type=text()), "size": number(), "extra": any()},
)
def echo(model, inputs):
    blob = inputs.get("blob") or b""
    return {
        "word": inputs["word"],
        "flag": inputs["flag"],
        "tags": inputs["tags"],
        "size": len(blob),
        "extra": inputs["extra"],
    }


@runway.command("sleep", inputs={"seconds": number(min=0, max=5)}, outputs={"slept": number()})
def sleep(model, inputs):
    time.sleep(inputs["seconds"])
    return {"slept": inputs["seconds"]}


@runway.command("fail", inputs={"message": text(default="boom")}, outputs={"never": text()})
def fail(model, inputs):
    raise RuntimeError(inputs["message"])


@runway.command("double", inputs={"x": number()}, outputs={"y": number()}, batched=True)
def double(model, batch):
    # Batched: a list of inputs in, a list of outputs out; the batch size is recorded for the test.
    return [{"y": item["x"] * 2} for item in batch]


@runway.command(
    "probs",
    inputs={"x": vector(length=3, min=0, max=1)},
    outputs={
        "label": category(choices=["cat", "dog", "cow"]),
        "probabilities": vector(length=3, labels=["cat", "dog", "cow"]),
    },
    description="Normalise three scores in 0..1 into probabilities; the label is the largest.",
    examples=[{"inputs": {"x": [0.1, 0.7, 0.2]}, "label": "dog"}, {"x": [0.9, 0.05, 0.05]}],
)
def probs(model, inputs):
    x = inputs["x"] + 1e-9
    return {"label": int(np.argmax(x)), "probabilities": x / x.sum()}


if __name__ == "__main__":
    # The tests pass server settings (API key, timeouts, body limit) through this variable.
    options = json.loads(os.environ.get("SDK_TEST_SERVER_OPTIONS", "{}"))
    runway.run(host="127.0.0.1", port=9000, name="sdk-test-model", **options)
