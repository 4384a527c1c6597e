"""Import the project code a data pipeline needs, and no more.

The data commands (``runway prepare``, ``dag``, ``cache``) import the project's ``data_processing/``
package and ``meta.user_modules`` first. Only when a node names a transform that is still unknown
are the other user packages (``executors/``, ``modeling/``, ``metrics/``) imported too, so a pipeline
of data transforms never loads torch or Lightning through the project's model code.

>>> import_pipeline_code(Path("my_project"), config.data)  # doctest: +SKIP
['data_processing', 'data_processing.data_transforms']
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runway_for_ml.pipeline.transform import TRANSFORMS
from runway_for_ml.project import DATA_PACKAGES, USER_PACKAGES, import_user_modules

__all__ = ["import_pipeline_code", "unknown_transform_names"]


def unknown_transform_names(config: Mapping[str, Any]) -> list[str]:
    """``transform_name`` s of the config's nodes that are neither registered nor dotted paths."""
    nodes = ((config.get("data_pipeline") or {}).get("transforms") or {}).values()
    names = [spec.get("transform_name") for spec in nodes if isinstance(spec, Mapping)]
    return [n for n in names if isinstance(n, str) and n not in TRANSFORMS and "." not in n]


def import_pipeline_code(root: Path | None, config: Mapping[str, Any]) -> list[str]:
    """Import what the pipeline of ``config`` needs from the project at ``root``; return the modules.

    An unknown name left after importing every user package is reported later, by the graph, with
    did-you-mean and the node's key path.
    """
    extra = (config.get("meta") or {}).get("user_modules") or ()
    names = import_user_modules(root, extra, packages=DATA_PACKAGES)
    if unknown_transform_names(config):
        names = import_user_modules(root, extra, packages=USER_PACKAGES)
    return names
