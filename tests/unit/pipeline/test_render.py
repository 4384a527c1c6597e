"""render_dag in every format, from a real plan."""

import pytest

from runway_for_ml.errors import RunwayError
from runway_for_ml.pipeline.render import render_dag
from runway_for_ml.pipeline.runner import DataPipeline, NodePlan


@pytest.fixture
def plan(tmp_path):
    cfg = {
        "meta": {"default_cache_dir": str(tmp_path / "cache")},
        "data_pipeline": {
            "transforms": {
                "input:D": {"transform_name": "LoadSklearnDigits", "setup_kwargs": {"max_rows": 20}},
                "process:N": {
                    "transform_name": "NormalizeColumns",
                    "input_node": "input:D",
                    "setup_kwargs": {"columns": ["pixels"], "divide_by": 16},
                },
                "output:S": {
                    "transform_name": "SelectColumns",
                    "input_node": "process:N",
                    "setup_kwargs": {"columns": ["label"]},
                },
            }
        },
    }
    DataPipeline(cfg).run(["process:N"])
    cfg["data_pipeline"]["transforms"]["process:N"]["setup_kwargs"]["divide_by"] = 8
    return DataPipeline(cfg).plan()


def test_plan_has_each_status(plan):
    assert [p.status for p in plan] == ["cached", "stale", "will run"]


def test_text(plan, tmp_path):
    text = render_dag(plan, "text")
    assert "input:D" in text and "cached" in text and "stale" in text and "will run" in text
    assert "divide_by: 16 -> 8" in text
    render_dag(plan, "text", tmp_path / "d.txt")
    assert (tmp_path / "d.txt").read_text() == text


def test_mermaid(plan):
    text = render_dag(plan, "mermaid")
    assert text.startswith("flowchart TD")
    assert "n0 --> n1" in text and "n1 --> n2" in text
    assert ":::stale" in text and "classDef will_run" in text


def test_dot(plan):
    text = render_dag(plan, "dot")
    assert text.startswith("digraph data_pipeline {") and text.rstrip().endswith("}")
    assert "n0 -> n1;" in text and 'fillcolor="#e53935"' in text


@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG\r\n\x1a\n"), ("svg", b"<?xml")])
def test_images(plan, tmp_path, fmt, magic):
    out = tmp_path / f"dag.{fmt}"
    assert render_dag(plan, fmt, out) is None
    assert out.read_bytes().startswith(magic) and out.stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dag-")]  # no temp files left


def test_errors():
    with pytest.raises(RunwayError, match="needs an output file"):
        render_dag([], "png")
    with pytest.raises(RunwayError, match="did you mean 'mermaid'"):
        render_dag([NodePlan("input:A", "X", "k", "cached")], "mermiad")
