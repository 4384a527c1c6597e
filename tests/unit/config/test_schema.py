import pytest

from runway_for_ml.config.schema import validate_config
from runway_for_ml.errors import ConfigError


def node(**kw):
    return {"meta": {}, "data_pipeline": {"transforms": {"process:A": {"transform_name": "T", **kw}}}}


def test_valid_config_passes():
    validate_config(
        {
            "meta": {"seed": 0, "logger_enable": ["csv"], "launcher": "slurm"},
            "data_pipeline": {
                "name": "p",
                "regenerate": False,
                "transforms": {
                    "input:L": {"transform_name": "LoadSklearnDigits"},
                    "process:A": {
                        "transform_name": "T",
                        "input_node": ["input:L"],
                        "setup_kwargs": {"anything": {"goes": 1}},
                    },
                },
            },
            "user": {"free": "form"},
        }
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"meta": {"seeed": 1}}, r"meta.seeed: unknown key \(did you mean 'seed'\?\)"),
        ({"meta": {"seed": "1"}}, r"meta.seed: expected an integer or null, found \"1\""),
        ({"meta": {"use_dummy_data": 1}}, r"meta.use_dummy_data: expected true/false"),
        ({"meta": {"launcher": "slurn"}}, r"did you mean 'slurm'"),
        ({"data_pipline": {}}, r"data_pipline: unknown key \(did you mean 'data_pipeline'\?\)"),
        ({"data_pipeline": {"transfroms": {}}}, r"data_pipeline.transfroms: unknown key.*'transforms'"),
        (node(inputs="x"), r"data_pipeline.transforms.process:A.inputs: unknown key"),
        (node(cache="yes"), r"process:A.cache: expected true/false"),
        (node(input_node=[1]), r"process:A.input_node\[0\]: expected a string, found 1"),
        ({"data_pipeline": {"transforms": {"process:A": {}}}}, r"process:A: missing 'transform_name'"),
        ([], r"must evaluate to an object"),
    ],
)
def test_errors_name_the_key_path(config, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(config, "x.jsonnet")
