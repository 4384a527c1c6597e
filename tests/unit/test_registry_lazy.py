"""Lazy registry entries: a name in a lower layer that resolves to a class defined in a higher one."""

from __future__ import annotations

import sys

import pytest

from runway_for_ml.errors import RunwayError
from runway_for_ml.registry import Registry


def test_lazy_entry_imports_on_first_get_only() -> None:
    registry: Registry[type] = Registry("thing")
    registry.register_lazy("Fraction", "fractions.Fraction")
    assert "Fraction" in registry and registry.names() == ["Fraction"]
    from fractions import Fraction

    assert registry.get("Fraction") is Fraction


def test_lazy_entry_is_not_imported_until_used() -> None:
    registry: Registry[type] = Registry("thing")
    sys.modules.pop("runway_for_ml.experiment.chaining", None)
    registry.register_lazy("PredictWithExperiment", "runway_for_ml.experiment.chaining.PredictWithExperiment")
    assert "runway_for_ml.experiment.chaining" not in sys.modules
    assert registry.get("PredictWithExperiment").__name__ == "PredictWithExperiment"


def test_registering_the_real_class_replaces_the_lazy_entry_and_typos_suggest_lazy_names() -> None:
    registry: Registry[type] = Registry("thing")
    registry.register_lazy("Widget", "no_such_module.Widget")

    class Widget: ...

    registry.register(Widget)
    assert registry.get("Widget") is Widget
    registry.register_lazy("Gadget", "no_such_module.Gadget")
    with pytest.raises(RunwayError, match="did you mean 'Gadget'"):
        registry.get("Gadgte")
    with pytest.raises(RunwayError, match="module 'no_such_module' not found"):
        registry.get("Gadget")
