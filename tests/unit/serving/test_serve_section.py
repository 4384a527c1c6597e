"""The serve: section: validation, inputs -> raw rows, and the committed OpenAPI spec of the template."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runway_for_ml.cli.main import main
from runway_for_ml.config import load_config
from runway_for_ml.config.models import ServeSection
from runway_for_ml.errors import ConfigError
from runway_for_ml.serving.exceptions import InvalidArgumentError, MissingInputError
from runway_for_ml.serving.experiment_model import model_from_spec, parse_serve_section
from runway_for_ml.serving.openapi import build_openapi

REPO = Path(__file__).resolve().parents[3]
TEMPLATE_CONFIG = REPO / "project_template" / "configs" / "experiments" / "digits.jsonnet"
COMMITTED_SPEC = REPO / "docs" / "openapi" / "digits.json"


def _template_spec():
    return parse_serve_section(load_config(TEMPLATE_CONFIG).section("serve"))


def test_template_serves_classify_with_pixels_or_image():
    spec = _template_spec()
    classify = spec.commands["classify"]
    assert set(classify.inputs) == {"pixels", "image"} and set(classify.outputs) == {"label", "probabilities"}
    assert classify.input_columns == {"pixels": "pixels", "image": "pixels"}
    assert classify.output_columns["label"] == "prediction"
    with pytest.raises(MissingInputError, match="image or pixels"):
        classify.check_alternatives({})
    with pytest.raises(InvalidArgumentError, match="not both"):
        classify.check_alternatives({"pixels": 1, "image": 2})
    classify.check_alternatives({"pixels": 1})
    # An 8x8 image becomes the pixels column: 0..255 -> 0..16, flattened row by row.
    img = Image.fromarray(np.array([[0, 255] * 4] * 8, dtype=np.uint8), mode="L")
    row = classify.to_row({"image": img})
    assert list(row) == ["pixels"] and row["pixels"].shape == (64,)
    assert row["pixels"][:2].tolist() == [0.0, 16.0]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"commands": {}}, "serve.commands is missing or empty"),
        ({"comands": {}}, "serve.comands: unknown key (did you mean 'commands'?)"),
        ({"commands": {"meta": {"inputs": {}, "outputs": {}}}}, "'meta' is a reserved route"),
        ({"commands": {"c": {"inputs": {"x": {"type": "number"}}}}}, "serve.commands.c.outputs is missing"),
        (
            {"commands": {"c": {"inputs": {"x": {"type": "numbr"}}, "outputs": {"y": {"type": "number"}}}}},
            "serve.commands.c.inputs.x.type: unknown data type 'numbr' (did you mean 'number'?)",
        ),
        (
            {"commands": {"c": {"inputs": {"x": {"type": "number", "colum": "a"}}, "outputs": {"y": {"type": "any"}}}}},
            "serve.commands.c.inputs.x.colum: unknown key (did you mean 'column'?)",
        ),
        (
            {"commands": {"c": {"inputs": {"x": {"type": "number", "scale": 2}}, "outputs": {"y": {"type": "any"}}}}},
            "allowed on image inputs only",
        ),
        (
            {"commands": {"c": {"inputs": {"x": {"type": "number"}}, "outputs": {"y": {"type": "any", "scale": 1}}}}},
            "serve.commands.c.outputs.y.scale: unknown key",
        ),
    ],
)
def test_bad_serve_sections_name_the_key(section, message):
    with pytest.raises(ConfigError) as info:
        parse_serve_section(section, "cfg.jsonnet: ")
    assert str(info.value).startswith("cfg.jsonnet: ") and message in str(info.value)


def test_preprocess_switch_and_server_settings_come_from_the_typed_section():
    section = {"commands": {"c": {"inputs": {"text": {"type": "text"}}, "outputs": {"label": {"type": "any"}}}}}
    spec = parse_serve_section(section)
    assert spec.preprocess is True
    assert isinstance(spec.section, ServeSection) and spec.section.max_batch_size == 32  # the section's default
    assert parse_serve_section({**section, "preprocess": False, "max_batch_size": 8}).preprocess is False
    assert parse_serve_section({**section, "max_batch_size": 8}).section.max_batch_size == 8
    with pytest.raises(ConfigError, match='serve.preprocess: expected true/false, found "no"'):
        parse_serve_section({**section, "preprocess": "no"})
    with pytest.raises(ConfigError, match=r"cfg.jsonnet: serve.workers: expected an integer >= 1, found 0"):
        parse_serve_section({**section, "workers": 0}, "cfg.jsonnet: ")


def test_server_config_flags_override_the_section_which_overrides_its_defaults():
    import argparse

    from runway_for_ml.cli.serve_cmd import add_server_arguments, server_config

    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    section = ServeSection(max_batch_size=8, workers=2, port=9100)
    config = server_config(parser.parse_args([]), section)
    assert (config.max_batch_size, config.workers, config.port) == (8, 2, 9100)
    assert (config.batch_timeout_ms, config.request_timeout_s) == (2.0, 60.0)  # ServeSection's defaults
    config = server_config(parser.parse_args(["--max-batch-size", "4", "--timeout", "5", "--port", "0"]), section)
    assert (config.max_batch_size, config.workers, config.request_timeout_s, config.port) == (4, 2, 5.0, 0)
    defaults = server_config(parser.parse_args([]))
    assert (defaults.max_batch_size, defaults.port, defaults.workers) == (32, 9000, 1)


def test_committed_openapi_spec_of_the_template_does_not_drift():
    spec = build_openapi(model_from_spec("digits", _template_spec()))
    committed = json.loads(COMMITTED_SPEC.read_text())
    assert spec == committed, (
        "docs/openapi/digits.json is out of date; regenerate it with "
        "`runway serve digits --openapi docs/openapi/digits.json` in a project made by runway init"
    )
    body = spec["paths"]["/classify"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["pixels"]["minItems"] == 64 and "required" not in body
    assert body["allOf"] == [{"oneOf": [{"required": ["image"]}, {"required": ["pixels"]}]}]
    assert set(spec["paths"]["/classify"]["post"]["responses"]) >= {"200", "400", "500", "503"}


def test_cli_writes_the_spec_and_refuses_a_bad_section(tmp_path, monkeypatch, capsys):
    project = tmp_path / "proj"
    assert main(["init", str(project)]) == 0
    monkeypatch.chdir(project)
    out = tmp_path / "spec.json"
    assert main(["serve", "digits", "--openapi", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(COMMITTED_SPEC.read_text())
    model_config = project / "configs" / "model_config.libsonnet"
    model_config.write_text(model_config.read_text().replace("type: 'vector'", "type: 'vektor'"))
    bad = tmp_path / "bad.json"
    assert main(["serve", "digits", "--openapi", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "serve.commands.classify.inputs.pixels.type: unknown data type 'vektor' (did you mean 'vector'?)" in err
    assert "Traceback" not in err and not bad.exists()
    # Serving a version that does not exist: exit 2 with a did-you-mean, nothing listens.
    assert main(["serve", "digitz_V0"]) == 2
    assert "digits" in capsys.readouterr().err
