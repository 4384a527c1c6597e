"""``runway compare --group-by KEY``: versions that differ only by seed (and names, loggers) form one group.

>>> seed_groups(versions, "train.optimizer_config.optimizer_params.lr", differing)  # doctest: +SKIP
[{'label': 'lr=0.001', 'value': 0.001, 'members': ['digits_V0', 'digits_V1']}, ...]
"""

from __future__ import annotations

import json
from typing import Any

from runway_for_ml.experiment.diff import MISSING

__all__ = ["IDENTITY_KEYS", "SEED_KEY", "seed_groups"]

# Keys that name, describe or log an experiment without changing its results: they never split a
# --group-by group (a key equal to one of these or below it).
IDENTITY_KEYS = ("meta.name", "meta.description", "description", "meta.logger_enable", "meta.wandb", "meta.mlflow")
SEED_KEY = "meta.seed"


def seed_groups(versions: list[dict[str, Any]], group_by: str, differing: list[str]) -> list[dict[str, Any]]:
    """Versions with the same config but for ``meta.seed`` (and names, loggers): one group each, labelled by
    ``group_by``'s value and any other key that tells two groups with that value apart."""
    others = [
        k
        for k in differing
        if k not in (group_by, SEED_KEY) and not any(k == i or k.startswith(f"{i}.") for i in IDENTITY_KEYS)
    ]
    groups: dict[str, dict[str, Any]] = {}
    for v in versions:
        value = v["config"].get(group_by, MISSING)
        rest = {k: v["config"].get(k, MISSING) for k in others}
        identity = json.dumps([value, rest], sort_keys=True, default=str)
        group = groups.setdefault(identity, {"value": value, "rest": rest, "members": []})
        group["members"].append(v["name"])
    split = {k for k in others if len({json.dumps(g["rest"][k], default=str) for g in groups.values()}) > 1}
    out = []
    for group in groups.values():
        label = f"{group_by.rsplit('.', 1)[-1]}={_short(group['value'])}"
        extra = [f"{k.rsplit('.', 1)[-1]}={_short(group['rest'][k])}" for k in sorted(split)]
        out.append({"label": ", ".join([label, *extra]), "value": group["value"], "members": group["members"]})
    return sorted(out, key=lambda g: json.dumps(g["value"], sort_keys=True, default=str))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)
