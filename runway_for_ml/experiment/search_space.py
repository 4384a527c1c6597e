"""The search space of ``runway search`` and Optuna's pieces built from the ``search:`` section.

Checks made before any trial (:func:`check_search_config`: space keys are config keys, every corner of
the space is a valid run config, sampler and pruner build), the trial params <-> config values
(categorical lists and objects travel through Optuna as JSON text), the distributions, samplers and
pruners.

>>> resolve_metric({"val_accuracy": 0.9}, "val/accuracy")
'val_accuracy'
>>> apply_params({"train": {"batch_size": 8}}, {"train.batch_size": 64})
{'train': {'batch_size': 64}}
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runway_for_ml.config.loader import lookup_path
from runway_for_ml.config.overrides import apply_override
from runway_for_ml.config.search_section import check_search_section
from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean
from runway_for_ml.experiment.preflight import check_run_config

__all__ = [
    "apply_params",
    "build_pruner",
    "build_sampler",
    "check_search_config",
    "decode_params",
    "distributions",
    "encode_choices",
    "format_value",
    "grid_size",
    "resolve_metric",
    "sampler_seed",
    "short_params",
]


def check_search_config(data: Mapping[str, Any], project_root: Path, *, where: str = "") -> Any:
    """The checked ``search`` section of ``data``: its shape, every space key a key of the config, every
    space corner a valid run config, the sampler and pruner buildable. Raises ConfigError (exit 2).
    """
    if not isinstance(data.get("search"), dict):
        raise ConfigError(
            f"{where}the config has no 'search' section: nothing to search over",
            hint="add search: {metric: 'val_accuracy', space: {'train.batch_size': {type: 'categorical', "
            "choices: [32, 64]}}} (see docs/search.md)",
        )
    section = check_search_section(data["search"], where)
    known = _config_keys(data)
    for key in section.space:
        if key.startswith("search."):
            raise ConfigError(f"{where}search.space['{key}']: the search section cannot search over itself")
        if lookup_path(data, key, _MISSING) is _MISSING:
            raise ConfigError(
                f"{where}search.space['{key}']: not a key of the config{did_you_mean(key, known)}",
                hint="space keys are dotted config paths as in --opts, e.g. train.optimizer_config.optimizer_params.lr; "
                "see the config with `runway config EXPERIMENT`",
            )
    for corner in _corners(section):
        trial_data = apply_params(data, corner)
        try:
            check_run_config(trial_data, project_root, "run")
        except RunwayError as exc:
            raise type(exc)(f"{where}search.space at {short_params(corner)}: {exc.message}", hint=exc.hint) from exc
    seed = sampler_seed(section, data)
    build_sampler(section, seed)
    build_pruner(section, data)
    return section


_MISSING = object()


def _config_keys(data: Any, prefix: str = "") -> list[str]:
    out = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.append(path)
            out += _config_keys(value, path)
    return out


def _corners(section: Any) -> list[dict[str, Any]]:
    """The low and high ends of every numeric dimension, and every categorical choice (one at a time)."""
    base = {key: _first(entry) for key, entry in section.space.items()}
    points = [base]
    for key, entry in section.space.items():
        values = entry.choices[1:] if entry.type == "categorical" else [entry.high]
        points += [{**base, key: value} for value in values]
    return points


def _first(entry: Any) -> Any:
    return entry.choices[0] if entry.type == "categorical" else entry.low


def apply_params(data: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``data`` with each ``dotted.key: value`` of ``params`` set (as ``--opts`` would)."""
    out = copy.deepcopy(dict(data))
    for key, value in params.items():
        apply_override(out, key.split("."), value, source="search")
    return out


def short_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={format_value(value)}" for key, value in params.items())


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if not isinstance(value, str) else value


def resolve_metric(logged: Mapping[str, Any] | list[str], metric: str) -> str | None:
    """The logged key ``metric`` names: itself, or with ``/`` as ``_`` (``val/accuracy`` -> ``val_accuracy``)."""
    for key in (metric, metric.replace("/", "_")):
        if key in logged:
            return key
    return None


def sampler_seed(section: Any, data: Mapping[str, Any]) -> int | None:
    if section.seed is not None:
        return int(section.seed)
    seed = (data.get("meta") or {}).get("seed")
    return int(seed) if seed is not None else None


def encode_choices(choices: list[Any]) -> tuple[list[Any], bool]:
    """Optuna's categorical values are None/bool/int/float/str: lists and objects travel as JSON text."""
    if all(c is None or isinstance(c, (bool, int, float, str)) for c in choices):
        return list(choices), False
    return [json.dumps(c, sort_keys=True) for c in choices], True


def distributions(section: Any) -> dict[str, Any]:
    """``{space key: optuna distribution}``."""
    import optuna.distributions as d

    out: dict[str, Any] = {}
    for key, entry in section.space.items():
        if entry.type == "categorical":
            out[key] = d.CategoricalDistribution(encode_choices(list(entry.choices))[0])
        elif entry.type == "int":
            out[key] = d.IntDistribution(int(entry.low), int(entry.high), log=entry.log, step=int(entry.step or 1))
        else:
            out[key] = d.FloatDistribution(float(entry.low), float(entry.high), log=entry.log, step=entry.step)
    return out


def decode_params(section: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's Optuna params as config values (JSON-encoded choices decoded), in space order."""
    out = {}
    for key, entry in section.space.items():
        if key not in params:
            continue
        value = params[key]
        if entry.type == "categorical" and encode_choices(list(entry.choices))[1]:
            value = json.loads(value)
        out[key] = value
    return out


def _grid(section: Any) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for key, entry in section.space.items():
        if entry.type == "categorical":
            grid[key] = encode_choices(list(entry.choices))[0]
        elif entry.type == "int":
            grid[key] = list(range(int(entry.low), int(entry.high) + 1, int(entry.step or 1)))
        else:
            count = round((entry.high - entry.low) / entry.step) + 1
            grid[key] = [
                round(entry.low + i * entry.step, 12)
                for i in range(count)
                if entry.low + i * entry.step <= entry.high + 1e-12
            ]
    return grid


def grid_size(section: Any) -> int | None:
    """How many points the grid sampler has (None for the other samplers)."""
    if section.sampler != "grid":
        return None
    size = 1
    for values in _grid(section).values():
        size *= len(values)
    return size


def build_sampler(section: Any, seed: int | None) -> Any:
    """The Optuna sampler of ``search.sampler`` with ``search.sampler_kwargs``."""
    import optuna

    kwargs = dict(section.sampler_kwargs)
    try:
        if section.sampler == "tpe":
            return optuna.samplers.TPESampler(seed=seed, **kwargs)
        if section.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed, **kwargs)
        if section.sampler == "grid":
            return optuna.samplers.GridSampler(_grid(section), seed=seed, **kwargs)
        try:
            import cmaes  # noqa: F401 - CmaEsSampler needs it at the first sample; say so now
        except ImportError as exc:
            raise ConfigError(
                "search.sampler: 'cmaes' needs the cmaes package, which is not installed",
                hint="pip install 'runway_for_ml[search]' (or pip install cmaes), or use sampler: 'tpe'",
            ) from exc
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.samplers.CmaEsSampler(seed=seed, **kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"search.sampler_kwargs: {exc}", hint=f"see the arguments of Optuna's {section.sampler} sampler"
        ) from exc


def build_pruner(section: Any, data: Mapping[str, Any]) -> Any:
    """The Optuna pruner of ``search.pruner`` with ``search.pruner_kwargs`` (hyperband: epochs are its resource)."""
    import optuna

    kwargs = dict(section.pruner_kwargs)
    try:
        if section.pruner == "median":
            return optuna.pruners.MedianPruner(**kwargs)
        if section.pruner == "hyperband":
            epochs = ((data.get("train") or {}).get("trainer_paras") or {}).get("max_epochs")
            kwargs.setdefault("min_resource", 1)
            kwargs.setdefault("max_resource", int(epochs) if isinstance(epochs, int) and epochs > 0 else "auto")
            return optuna.pruners.HyperbandPruner(**kwargs)
        return optuna.pruners.NopPruner(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"search.pruner_kwargs: {exc}", hint=f"see the arguments of Optuna's {section.pruner} pruner"
        ) from exc
