"""``Experiment``: one trained experiment version, opened from Python.

The object ``runway-infer``, serving, chaining and notebooks share: it finds a version folder by
name or path, reads its resolved config and manifest, picks a checkpoint, rebuilds the executor with
the project's code and its data module, and predicts through the same function as ``runway-infer``.

>>> from runway_for_ml import Experiment
>>> exp = Experiment.load("digits_V0")           # doctest: +SKIP
>>> exp.name, exp.version_name                   # doctest: +SKIP
('digits', 'digits_V0')
>>> exp.checkpoint("best").name                  # doctest: +SKIP
'best-epoch=04.ckpt'
>>> rows = exp.predict("test")                   # doctest: +SKIP
>>> rows[0]                                      # doctest: +SKIP
{'index': 0, 'prediction': 3, 'confidence': 0.98, 'target': 3}
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.layout import VersionDir
from runway_for_ml.experiment.names import require_project_root, resolve_experiment, split_version_name
from runway_for_ml.experiment.prediction import LoadedModel, load_for_prediction, predict_rows

if TYPE_CHECKING:
    from runway_for_ml.config import ResolvedConfig

__all__ = ["Experiment"]


class Experiment:
    """A trained (or training) experiment version: its folder, config, manifest, checkpoints and model.

    Open one with :meth:`load`. The executor built by :meth:`load_model` is cached per checkpoint and
    device, so repeated :meth:`predict` calls do not reload the weights.
    """

    def __init__(self, layout: VersionDir, project_root: Path | None = None) -> None:
        self.layout = layout
        self._project_root = project_root
        self._config: ResolvedConfig | None = None
        self._models: dict[tuple[str, str | None], LoadedModel] = {}

    @classmethod
    def load(cls, ref: str | Path, project_root: str | Path | None = None) -> Experiment:
        """Open a version by name (``"digits_V0"``), by folder path, or ``"digits"`` (its latest completed version).

        ``project_root=None`` finds the project from the current directory (not needed for a path).
        An unknown name is a :class:`RunwayError` with did-you-mean.
        """
        path = Path(ref).expanduser()
        looks_like_path = isinstance(ref, Path) or "/" in str(ref) or str(ref) in (".", "..")
        if looks_like_path or (path.is_dir() and VersionDir(path).is_version()):
            layout = VersionDir(path.resolve())
            if not layout.is_version():
                raise RunwayError(
                    f"{path} is not an experiment version folder (no train/config.json)",
                    hint="give a version name such as digits_V0, or the path of experiments/<name>_V<n>",
                )
            return cls(layout, Path(project_root).resolve() if project_root else None)
        root = Path(project_root).resolve() if project_root else require_project_root()
        name, number = split_version_name(str(ref))
        named = resolve_experiment(name, root)
        version_dir = named.version(number) if number is not None else named.latest_completed()
        return cls(VersionDir(version_dir), root)

    # ---------------------------------------------------------------- identity

    @property
    def name(self) -> str:
        """The experiment name, e.g. ``digits``."""
        return self.layout.experiment_name

    @property
    def version_name(self) -> str:
        """The version name, e.g. ``digits_V0``."""
        return self.layout.name

    @property
    def path(self) -> Path:
        """The version folder."""
        return self.layout.path

    @property
    def project_root(self) -> Path | None:
        """The project the version belongs to (``None`` for a folder copied outside any project)."""
        return self._project_root or self.layout.project_root

    def __repr__(self) -> str:
        return f"Experiment({self.version_name!r}, path={str(self.path)!r})"

    # ---------------------------------------------------------------- contents

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config the version was trained with (``train/config.json``)."""
        return self.resolved_config.data

    @property
    def resolved_config(self) -> ResolvedConfig:
        """:attr:`config` as a :class:`ResolvedConfig` (with ``.path``)."""
        if self._config is None:
            self._config = self.layout.read_config()
        return self._config

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest, read fresh on each access (a running version changes it)."""
        return self.layout.manifest()

    def checkpoint(self, which: str | Path = "best") -> Path:
        """The checkpoint file: ``"best"``, ``"last"`` or a path; a RunwayError when there is none."""
        return self.layout.checkpoint(which)

    # ---------------------------------------------------------------- model

    def loaded(self, checkpoint: str | Path = "best", device: str | None = None) -> LoadedModel:
        """The executor with the checkpoint's weights and its data module (``.executor``, ``.datamodule``).

        Cached per checkpoint and device. The data module reads the version's test-stage splits lazily:
        ``exp.loaded().datamodule.get_split("test")`` runs (or reads from the cache) the pipeline on
        first use only.
        """
        path = self.checkpoint(checkpoint)
        key = (str(path), device)
        if key not in self._models:
            root = self._require_project_root()
            self._models[key] = load_for_prediction(self.resolved_config, root, path, device=device)
        return self._models[key]

    def load_model(self, checkpoint: str | Path = "best", device: str | None = None) -> Any:
        """The executor (a LightningModule) with the checkpoint's weights, in eval mode.

        The project's code is imported first. ``device=None`` uses the config's accelerator (the GPU
        when there is one for ``auto``). Its data is :meth:`datamodule`'s.
        """
        return self.loaded(checkpoint, device).executor

    def datamodule(self, checkpoint: str | Path = "best", device: str | None = None) -> Any:
        """The :class:`RunwayDataModule` of :meth:`load_model`'s executor: splits (lazy), loaders, tokenizer."""
        return self.loaded(checkpoint, device).datamodule

    def predict(
        self,
        dataset_or_split: Any = "test",
        checkpoint: str | Path = "best",
        batch_size: int | None = None,
        device: str | None = None,
    ) -> list[dict[str, Any]]:
        """Per-row prediction dicts (``index``, ``prediction``, ``target`` when labelled, ...) for a split or a dataset.

        ``dataset_or_split`` is a split name of the version's data (``"test"``) or a dataset already
        processed like the pipeline's output (a ``datasets.Dataset`` or a list of row dicts). Runs the
        same prediction function as ``runway-infer``; ``device=None`` uses the config's accelerator.
        """
        return predict_rows(self.loaded(checkpoint, device), dataset_or_split, batch_size=batch_size).rows

    def _require_project_root(self) -> Path:
        root = self.project_root
        if root is None:
            raise RunwayError(
                f"no runway project found above {self.path} (no .runway marker), and the project recorded "
                "in its manifest does not exist here",
                hint="pass project_root= to Experiment.load, pointing to the project whose code trained it",
            )
        return root
