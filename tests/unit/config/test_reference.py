"""The typed config's contracts: the reference page matches the schema, every shipped config validates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runway_for_ml.config import SECTION_MODELS, load_config
from runway_for_ml.config.reference import render_reference
from runway_for_ml.config.schema import config_json_schema

REPO = Path(__file__).resolve().parents[3]
TEMPLATE_CONFIGS = sorted(
    path
    for folder in ("project_template", "project_template_text", ".")
    for path in (REPO / folder / "configs" / "experiments").glob("*.jsonnet")
)


def test_reference_page_matches_the_schema() -> None:
    page = (REPO / "docs" / "config-reference.md").read_text(encoding="utf-8")
    assert page == render_reference(), (
        "docs/config-reference.md is out of date: regenerate it with "
        "`runway config --schema --markdown > docs/config-reference.md`"
    )


def test_the_page_names_every_key_of_the_schema() -> None:
    # Independent of the renderer: every section and key of the JSON Schema appears on the page.
    page = (REPO / "docs" / "config-reference.md").read_text(encoding="utf-8")
    schema = config_json_schema()
    for name in SECTION_MODELS:
        assert name in schema["properties"] and f"`{name}`" in page, name
        for key in SECTION_MODELS[name].model_json_schema(by_alias=True).get("properties", {}):
            assert f"| `{key}` |" in page, f"{name}.{key}"


def test_schema_is_json_and_closed_where_promised() -> None:
    schema = json.loads(json.dumps(config_json_schema()))
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(SECTION_MODELS) <= set(schema["properties"])
    assert schema["additionalProperties"] is False  # unknown top-level keys are errors
    train = schema["$defs"]["TrainSection"]
    assert train["properties"]["batch_size"]["minimum"] == 1
    assert "val_batch_size" in train["properties"]


@pytest.mark.parametrize("path", TEMPLATE_CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_template_config_validates(path: Path) -> None:
    config = load_config(path, project_root=path.parents[2])
    typed = config.typed
    assert typed.train.batch_size >= 1
    assert typed.train.val_batch_size is not None and typed.test.batch_size is not None


def test_template_configs_were_found() -> None:
    assert len(TEMPLATE_CONFIGS) >= 7, TEMPLATE_CONFIGS
