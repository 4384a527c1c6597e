"""The ``search:`` section (hyperparameter search, ``runway search``): a typed section of the config.

::

    search: {
      metric: 'val_accuracy',            // a key the executor logs each validation epoch
      direction: 'maximize',             // maximize | minimize
      trials: 20,
      sampler: 'tpe',                    // tpe | random | grid | cmaes
      pruner: 'median',                  // median | hyperband | none
      space: {
        'train.optimizer_config.optimizer_params.lr': { type: 'float', low: 1e-4, high: 1e-1, log: true },
        'train.batch_size': { type: 'categorical', choices: [32, 64, 128] },
      },
    }

:class:`SearchSection` is registered in :data:`runway_for_ml.config.models.SECTION_MODELS`, so the
config loader checks keys and types of every config that has the section (with the key path and a
did-you-mean). :func:`check_search_section` adds what a type cannot say (``low <= high``, ``log``
needs ``low > 0``, the grid sampler needs finite dimensions); ``runway search`` calls it, then checks
that every space key is a key of the config (it needs the whole config for that).

>>> check_search_section({"metric": "val_accuracy", "space": {"train.batch_size": {"type": "int", "low": 8, "high": 64}}}).trials
20
>>> check_search_section({"metric": "m", "space": {"a": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}})
Traceback (most recent call last):
...
runway_for_ml.errors.ConfigError: search.space['a']: log: true needs low > 0, got low=0.0
  hint: ...
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, JsonValue

from runway_for_ml.config.models import SectionModel, register_section
from runway_for_ml.config.schema import check_section
from runway_for_ml.errors import ConfigError

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "SearchSection",
    "SpaceEntry",
    "check_search_section",
]

SAMPLERS = ("tpe", "random", "grid", "cmaes")
PRUNERS = ("median", "hyperband", "none")
SPACE_HINT = (
    "a space entry is {type: 'float', low, high, log?, step?}, {type: 'int', low, high, log?, step?} "
    "or {type: 'categorical', choices: [...]}; see docs/search.md"
)


class SpaceEntry(SectionModel):
    """One dimension of the search space: ``float`` / ``int`` (``low``, ``high``, ``log``, ``step``) or ``categorical`` (``choices``)."""

    type: Literal["float", "int", "categorical"] = Field(description="float, int or categorical")
    low: int | float | None = Field(None, description="float / int: the smallest value")
    high: int | float | None = Field(None, description="float / int: the largest value")
    log: bool = Field(False, description="float / int: sample log-uniformly (needs low > 0)")
    step: int | float | None = Field(None, gt=0, description="float / int: only low, low + step, ...")
    choices: list[JsonValue] | None = Field(None, min_length=1, description="categorical: the values to choose from")


class SearchSection(SectionModel):
    """Hyperparameter search (``runway search``): what to optimise, how, over which config keys."""

    metric: str = Field(min_length=1, description="the key the executor logs each validation epoch (e.g. val_accuracy)")
    direction: Literal["maximize", "minimize"] = Field("maximize", description="whether a higher metric is better")
    trials: int = Field(20, ge=1, description="finished (complete or pruned) trials of a study")
    sampler: Literal["tpe", "random", "grid", "cmaes"] = Field("tpe", description="Optuna's sampler")
    pruner: Literal["median", "hyperband", "none"] = Field("median", description="Optuna's pruner")
    space: dict[str, SpaceEntry] = Field(
        min_length=1, description="config key (dotted, as in --opts) -> its distribution"
    )
    seed: int | None = Field(None, description="the sampler's seed (default: meta.seed)")
    sampler_kwargs: dict[str, JsonValue] = Field({}, description="more arguments of the Optuna sampler")
    pruner_kwargs: dict[str, JsonValue] = Field({}, description="more arguments of the Optuna pruner")


register_section("search", SearchSection)


def check_search_section(section: Any, where: str = "") -> SearchSection:
    """The typed section, with the checks a type cannot make; ConfigError naming the key path.

    ``where`` prefixes messages (the config file).
    """

    model = check_section(section, "search", where=where)
    assert isinstance(model, SearchSection)
    for key, entry in model.space.items():
        _check_entry(entry, f"{where}search.space['{key}']", grid=model.sampler == "grid")
    return model


def _check_entry(entry: SpaceEntry, path: str, *, grid: bool) -> None:
    if entry.type == "categorical":
        extra = [k for k in ("low", "high", "step") if getattr(entry, k) is not None] + (["log"] if entry.log else [])
        if entry.choices is None:
            raise ConfigError(f"{path}: a categorical entry needs 'choices'", hint=SPACE_HINT)
        if extra:
            raise ConfigError(
                f"{path}: a categorical entry takes only 'choices', not {', '.join(extra)}", hint=SPACE_HINT
            )
        seen = [json.dumps(c, sort_keys=True) for c in entry.choices]
        if len(set(seen)) != len(seen):
            raise ConfigError(f"{path}.choices: the choices must be distinct, got {entry.choices}", hint=SPACE_HINT)
        return
    if entry.choices is not None:
        raise ConfigError(f"{path}: a {entry.type} entry takes low/high, not 'choices'", hint=SPACE_HINT)
    for bound in ("low", "high"):
        value = getattr(entry, bound)
        if value is None:
            raise ConfigError(f"{path}: a {entry.type} entry needs '{bound}'", hint=SPACE_HINT)
        if entry.type == "int" and not isinstance(value, int):
            raise ConfigError(f"{path}.{bound}: an int entry needs a whole number, got {value}", hint=SPACE_HINT)
    if entry.type == "int" and entry.step is not None and not isinstance(entry.step, int):
        raise ConfigError(f"{path}.step: an int entry needs a whole step, got {entry.step}", hint=SPACE_HINT)
    assert entry.low is not None and entry.high is not None
    if entry.low > entry.high:
        raise ConfigError(f"{path}: low must be <= high, got low={entry.low}, high={entry.high}", hint=SPACE_HINT)
    if entry.log and entry.low <= 0:
        raise ConfigError(f"{path}: log: true needs low > 0, got low={entry.low}", hint=SPACE_HINT)
    if entry.log and entry.step is not None and not (entry.type == "int" and entry.step == 1):
        raise ConfigError(f"{path}: log and step cannot be used together", hint=SPACE_HINT)
    if grid and entry.type == "float" and entry.step is None:
        raise ConfigError(
            f"{path}: the grid sampler needs a finite set of values",
            hint="give this float a step, or make it {type: 'categorical', choices: [...]}",
        )
