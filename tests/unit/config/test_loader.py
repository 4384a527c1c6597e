import json
from pathlib import Path

import pytest

from runway_for_ml.config import ResolvedConfig, load_config
from runway_for_ml.errors import ConfigError


@pytest.fixture
def project(bare_project: Path) -> Path:
    (bare_project / "configs" / "meta_config.libsonnet").write_text(
        "{ meta: { seed: 7, default_cache_dir: 'local_cache' } }"
    )
    (bare_project / "configs" / "experiments" / "local.libsonnet").write_text("{ batch: 8 }")
    (bare_project / "configs" / "experiments" / "exp.jsonnet").write_text(
        """
        local meta = import 'meta_config.libsonnet';   // from the project's configs/
        local local_ = import 'local.libsonnet';        // relative to this file
        meta + {
          data_pipeline: { transforms: { 'process:Split': { transform_name: 'SplitHFDataset', setup_kwargs: { test_size: 0.1 } } } },
          train: { batch_size: local_.batch }, user: { tag: std.extVar('RUNWAY_TEST_TAG') },
        }
        """
    )
    return bare_project


def test_imports_ext_vars_and_opts(project, monkeypatch):
    monkeypatch.setenv("RUNWAY_TEST_TAG", "from-env")
    cfg = load_config(
        project / "configs" / "experiments" / "exp.jsonnet",
        opts=["data_pipeline.transforms.process:Split.setup_kwargs.test_size=0.2"],
    )
    assert cfg.data["meta"]["seed"] == 7
    assert cfg.get("train.batch_size") == 8
    assert cfg.get("user.tag") == "from-env"
    assert cfg.get("data_pipeline.transforms.process:Split.setup_kwargs.test_size") == 0.2
    assert [o.path for o in cfg.overrides] == ["data_pipeline.transforms.process:Split.setup_kwargs.test_size"]


def test_precedence_file_then_cli_flags_then_opts(project):
    cfg = load_config(
        project / "configs" / "experiments" / "exp.jsonnet",
        opts=["train.batch_size=64"],
        ext_vars={"RUNWAY_TEST_TAG": "x"},
        cli_overrides={"train.batch_size": 16, "meta.seed": 0},
    )
    assert cfg.get("train.batch_size") == 64
    assert cfg.get("meta.seed") == 0
    assert [(o.path, o.source) for o in cfg.overrides] == [
        ("train.batch_size", "cli"),
        ("meta.seed", "cli"),
        ("train.batch_size", "opts"),
    ]


def test_missing_file_suggests_neighbour(project):
    with pytest.raises(ConfigError, match=r"not found.*did you mean 'exp.jsonnet'"):
        load_config(project / "configs" / "experiments" / "exq.jsonnet")


def test_jsonnet_syntax_error_has_line_and_column(tmp_path):
    bad = tmp_path / "bad.jsonnet"
    bad.write_text("{\n  a: ,\n}\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert f"{bad}:2:" in str(info.value)


def test_undefined_ext_var_hint(tmp_path):
    cfg = tmp_path / "c.jsonnet"
    cfg.write_text("{ user: { x: std.extVar('RUNWAY_SURELY_UNSET_VAR') } }")
    with pytest.raises(ConfigError, match="--ext-var"):
        load_config(cfg)


def test_from_dict_validates_and_copies():
    source = {"meta": {"seed": 1}}
    cfg = ResolvedConfig.from_dict(source, ["meta.seed=2"])
    assert cfg.data["meta"]["seed"] == 2 and source["meta"]["seed"] == 1
    assert json.loads(cfg.to_json()) == cfg.data
    with pytest.raises(ConfigError, match="meta.sede: unknown key.*did you mean 'seed'"):
        ResolvedConfig.from_dict({"meta": {"sede": 1}})
