"""render_jsonnet: formatted jsonnet that evaluates to exactly the data it was made from."""

import json

import _jsonnet

from runway_for_ml.config.migrate_render import render_jsonnet

AWKWARD = {
    "meta": {"seed": 3, "wandb": {}, "logger_enable": []},
    "data_pipeline": {
        "transforms": {
            "input:Load": {"setup_kwargs": {"dataset_path": 'it\'s "quoted"\nand multi-line ü', "n": None}},
            "": {"local": True, "error": 1.5e-06, "import": [1, [2, {"x": -0.0}]]},
        }
    },
    "user": {"long": ["a" * 30, "b" * 30, "c" * 30], "nested": [{"a": 1}, []]},
}


def test_the_text_evaluates_to_the_same_data_and_comments_land_above_their_key():
    text, used = render_jsonnet(AWKWARD, {"meta.seed": ["was 3"], "nowhere.key": ["lost"]})
    assert json.loads(_jsonnet.evaluate_snippet("t.jsonnet", text)) == AWKWARD
    lines = text.splitlines()
    assert lines[lines.index("    seed: 3,") - 1] == "    // was 3"
    assert used == {"meta.seed"}  # a comment whose key is absent is reported back, not written
    assert "'input:Load': {" in text and "local: true" not in text and "'local': true," in text
