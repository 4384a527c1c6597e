"""Two versions side by side (``runway diff``): changed config keys, data node cache keys, lineage, metrics.

>>> d = diff_versions(a_dir, b_dir)  # doctest: +SKIP
>>> d["config"][0]  # doctest: +SKIP
{'path': 'train.optimizer_config.optimizer_params.lr', 'a': 0.001, 'b': 0.003}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runway_for_ml.experiment.layout import VersionDir
from runway_for_ml.experiment.listing import flatten, load_json, read_metrics
from runway_for_ml.experiment.manifest import read_manifest

__all__ = ["MISSING", "diff_versions"]

# The value shown for a key one side lacks.
MISSING = "<missing>"


def _side_by_side(a: dict[str, Any], b: dict[str, Any], *, only_changed: bool) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, MISSING), b.get(key, MISSING)
        if only_changed and va == vb:
            continue
        rows.append({"path": key, "a": va, "b": vb})
    return rows


def diff_versions(a_dir: Path, b_dir: Path) -> dict[str, Any]:
    """Compare two version folders: changed config keys, data node cache keys, metrics side by side.

    Returns ``{"a": name, "b": name, "config": [...], "data_nodes": [...], "consumed": [...], "metrics": [...],
    "status": {...}}``; every list item is ``{"path", "a", "b"}`` with ``"<missing>"`` for absent values.
    ``consumed`` is the lineage of chained experiments (node -> version, checkpoint and its hash);
    ``metrics`` keys are ``<infer-run>/<metric>``.
    """
    a_dir, b_dir = Path(a_dir), Path(b_dir)
    config_a = flatten(load_json(VersionDir(a_dir).config_path))
    config_b = flatten(load_json(VersionDir(b_dir).config_path))
    man_a, man_b = read_manifest(a_dir), read_manifest(b_dir)
    nodes_a = {k: (v.get("key") if isinstance(v, dict) else v) for k, v in (man_a.get("data_nodes") or {}).items()}
    nodes_b = {k: (v.get("key") if isinstance(v, dict) else v) for k, v in (man_b.get("data_nodes") or {}).items()}

    def all_metrics(version_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        out = {f"train/{k}": v for k, v in (manifest.get("final_metrics") or {}).items()}
        for infer_dir in VersionDir(version_dir).infer_dirs():
            out.update({f"{infer_dir.name}/{k}": v for k, v in read_metrics(infer_dir).items()})
        return out

    return {
        "a": a_dir.name,
        "b": b_dir.name,
        "status": {"a": man_a.get("status"), "b": man_b.get("status")},
        "config": _side_by_side(config_a, config_b, only_changed=True),
        "data_nodes": _side_by_side(nodes_a, nodes_b, only_changed=False),
        "consumed": _side_by_side(_consumed(man_a), _consumed(man_b), only_changed=False),
        "metrics": _side_by_side(all_metrics(a_dir, man_a), all_metrics(b_dir, man_b), only_changed=False),
    }


def _consumed(manifest: dict[str, Any]) -> dict[str, str]:
    """Lineage: ``{node: "digits_V0 best (sha256 3f2a…)"}`` for each experiment a PredictWithExperiment node consumed."""
    out = {}
    for item in manifest.get("consumed_experiments") or []:
        if isinstance(item, dict) and item.get("node"):
            sha = str(item.get("checkpoint_sha256") or "")[:12]
            out[str(item["node"])] = f"{item.get('version')} {item.get('checkpoint')} (sha256 {sha})"
    return out
