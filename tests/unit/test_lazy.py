"""lazy_exports: the one PEP 562 helper of the lazily-resolving packages."""

from __future__ import annotations

import sys
import types

import pytest

from runway_for_ml.lazy import lazy_exports


def test_names_load_on_first_use_and_are_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("lazy_probe")
    monkeypatch.setitem(sys.modules, "lazy_probe", module)
    module.__getattr__, module.__dir__ = lazy_exports("lazy_probe", {"dumps": "json"}, also=["local"])
    assert "dumps" not in vars(module)
    import json

    assert module.dumps is json.dumps
    assert vars(module)["dumps"] is json.dumps  # cached: the next read is a plain attribute
    assert dir(module) == ["dumps", "local"]
    with pytest.raises(AttributeError, match="module 'lazy_probe' has no attribute 'loads'"):
        _ = module.loads


def test_uncached_names_follow_their_module_and_missing_names_go_to_the_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    module = types.ModuleType("lazy_probe2")
    monkeypatch.setitem(sys.modules, "lazy_probe2", module)
    module.__getattr__, _ = lazy_exports(
        "lazy_probe2", {"dumps": "json"}, cache=False, missing=lambda mod, name: f"{mod}:{name}"
    )
    assert module.dumps is json.dumps
    monkeypatch.setattr(json, "dumps", lambda *a: "patched")
    assert module.dumps() == "patched"  # read from json each time
    assert module.other == "lazy_probe2:other"


def test_the_packages_use_it() -> None:
    import runway_for_ml
    import runway_for_ml.experiment
    import runway_for_ml.launcher
    import runway_for_ml.pipeline

    for package in (runway_for_ml, runway_for_ml.experiment, runway_for_ml.launcher, runway_for_ml.pipeline):
        assert package.__getattr__.__module__ == "runway_for_ml.lazy", package.__name__
