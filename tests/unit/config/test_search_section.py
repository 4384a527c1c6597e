"""The ``search:`` section: registered with the config's typed sections, errors with the key path."""

from __future__ import annotations

import pytest

from runway_for_ml.config import SECTION_MODELS, validate_config
from runway_for_ml.config.search_section import SearchSection, check_search_section
from runway_for_ml.errors import ConfigError

SPACE = {"train.batch_size": {"type": "categorical", "choices": [32, 64]}}


def test_registered_and_checked_by_the_loader():
    assert SECTION_MODELS["search"] is SearchSection
    typed = validate_config({"search": {"metric": "val_accuracy", "space": SPACE}})
    assert typed.search.trials == 20 and typed.search.sampler == "tpe" and typed.search.pruner == "median"
    with pytest.raises(ConfigError, match=r"search\.trails: unknown key \(did you mean 'trials'"):
        validate_config({"search": {"metric": "m", "trails": 3, "space": SPACE}})
    with pytest.raises(ConfigError, match=r"search\.pruner: unknown value 'hyperbnd' \(did you mean 'hyperband'"):
        validate_config({"search": {"metric": "m", "pruner": "hyperbnd", "space": SPACE}})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "float", "low": 1.0, "high": 0.5}, r"search\.space\['k'\]: low must be <= high"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, r"log: true needs low > 0"),
        ({"type": "float", "low": 0.1, "high": 1.0, "log": True, "step": 0.1}, r"log and step cannot be used together"),
        ({"type": "int", "low": 1.5, "high": 4}, r"search\.space\['k'\]\.low: an int entry needs a whole number"),
        ({"type": "float", "high": 4.0}, r"a float entry needs 'low'"),
        ({"type": "categorical", "choices": [1, 1]}, r"the choices must be distinct"),
        ({"type": "categorical", "choices": [1, 2], "low": 0}, r"takes only 'choices'"),
        ({"type": "int", "low": 1, "high": 4, "choices": [1]}, r"not 'choices'"),
        (
            {"type": "flaot", "low": 1, "high": 4},
            r"search\.space\.k\.type: unknown value 'flaot' \(did you mean 'float'",
        ),
    ],
)
def test_bad_distributions(entry, message):
    with pytest.raises(ConfigError, match=message):
        check_search_section({"metric": "m", "space": {"k": entry}})


def test_grid_needs_finite_dimensions():
    with pytest.raises(ConfigError, match=r"grid sampler needs a finite set"):
        check_search_section({"metric": "m", "sampler": "grid", "space": {"k": {"type": "float", "low": 0, "high": 1}}})
    ok = check_search_section(
        {"metric": "m", "sampler": "grid", "space": {"k": {"type": "float", "low": 0, "high": 1, "step": 0.5}}}
    )
    assert ok.space["k"].step == 0.5
