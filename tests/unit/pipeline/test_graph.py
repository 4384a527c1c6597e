"""PipelineGraph: parsing input_node forms, run order, and each kind of bad config."""

import pytest

from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.pipeline.graph import PipelineGraph


def graph(**nodes):
    return PipelineGraph.from_config({"transforms": nodes})


def node(transform="SelectColumns", inputs=None, **kwargs):
    spec = {"transform_name": transform, "setup_kwargs": kwargs or {"columns": ["a"]}}
    if inputs is not None:
        spec["input_node"] = inputs
    return spec


def test_input_node_forms_and_order():
    g = PipelineGraph.from_config(
        {
            "name": "p",
            "transforms": {
                "output:Join": node(inputs=["process:B", "process:A"]),
                "process:A": node(inputs="input:Load"),
                "process:B": node(inputs=["input:Load"]),
                "input:Load": node("LoadSklearnDigits", max_rows=5),
                "output:Other": node(inputs="input:Load"),
            },
        }
    )
    assert g.name == "p"
    assert g.nodes["input:Load"].inputs == () and not g.nodes["input:Load"].input_is_list
    assert g.nodes["process:A"].inputs == ("input:Load",) and not g.nodes["process:A"].input_is_list
    assert g.nodes["process:B"].input_is_list
    assert g.nodes["output:Join"].inputs == ("process:B", "process:A")  # declared order kept
    # Topological, ties by declaration order.
    assert g.order == ["input:Load", "process:A", "process:B", "output:Join", "output:Other"]
    assert g.outputs() == ["output:Join", "output:Other"]
    assert g.needed(["output:Other"]) == ["input:Load", "output:Other"]
    assert g.needed(["process:B"]) == ["input:Load", "process:B"]


def test_dotted_transform_path_is_accepted():
    g = graph(**{"input:X": {"transform_name": "runway_for_ml.pipeline.builtin_transforms.LoadSklearnDigits"}})
    assert g.nodes["input:X"].transform_cls.__name__ == "LoadSklearnDigits"


@pytest.mark.parametrize(
    ("nodes", "needles"),
    [
        (
            {"input:A": node("LoadSklearnDigts", max_rows=3)},
            [
                "data_pipeline.transforms.input:A.transform_name",
                "unknown transform 'LoadSklearnDigts'",
                "did you mean 'LoadSklearnDigits'",
            ],
        ),
        (
            {"input:Load": node("LoadSklearnDigits", max_rows=3), "process:B": node(inputs="input:Lod")},
            ["data_pipeline.transforms.process:B.input_node", "no node 'input:Lod'", "did you mean 'input:Load'"],
        ),
        (
            {
                "input:A": node(inputs="process:B"),
                "process:B": node(inputs="process:C"),
                "process:C": node(inputs="input:A"),
            },
            ["cycle", "input:A -> process:C -> process:B -> input:A"],
        ),
        ({"process:S": node(inputs="process:S")}, ["cycle", "process:S -> process:S"]),
        ({"proces:A": node()}, ["data_pipeline.transforms.proces:A", "bad node key", "did you mean 'process:'"]),
        ({"Load": node()}, ["bad node key 'Load'", "input, process, output"]),
        (
            {"input:A": node(colums=["a"])},
            ["input:A.setup_kwargs", "unknown argument 'colums'", "did you mean 'columns'"],
        ),
        ({"input:A": node(inputs=[1])}, ["input:A.input_node", "expected a node key"]),
        ({"input:A": {"setup_kwargs": {}}}, ["input:A.transform_name", "missing"]),
        ({"input:A": dict(node(), cache="yes")}, ["input:A.cache", "true or false"]),
        ({"input:A": node("no.such.module.Thing")}, ["input:A.transform_name", "cannot import"]),
    ],
)
def test_bad_graphs_fail_with_key_path_and_suggestion(nodes, needles):
    with pytest.raises(ConfigError) as info:
        graph(**nodes)
    for needle in needles:
        assert needle in str(info.value)


def test_missing_section_and_unknown_target():
    with pytest.raises(ConfigError, match="no data_pipeline section"):
        PipelineGraph.from_config(None)
    g = graph(**{"input:Load": node("LoadSklearnDigits", max_rows=3)})
    with pytest.raises(RunwayError, match="did you mean 'input:Load'"):
        g.needed(["input:Lod"])
