"""What a command hands the launcher: a :class:`JobSpec`.

A command that can run on SLURM builds its own spec: the command line the job replays (written by
the command, which alone knows its flags), the folder the job writes into, and the resolved config
whose ``slurm`` section and ``train.trainer_paras`` give the resources. The launcher never parses a
command line: it appends ``--launcher local`` (its own flag) and submits.

A spec's ``argv`` names the job's folder with the placeholder :data:`VERSION_DIR`; the launcher puts
the real folder there, which is how one spec serves every point of a sweep (:meth:`JobSpec.for_version`).

>>> from pathlib import Path
>>> spec = JobSpec("train", ["train", "digits", "--in-version", VERSION_DIR], {}, version_dir=Path("/p/experiments/digits_V0"))
>>> spec.job_argv()
['train', 'digits', '--in-version', '/p/experiments/digits_V0', '--launcher', 'local']
>>> spec.for_version(Path("/p/experiments/digits_V1")).job_argv()[3]
'/p/experiments/digits_V1'
>>> spec.job_name
'runway-train-digits_V0'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.launcher.slurm import max_requeues, sbatch_parameters

__all__ = ["VERSION_DIR", "JobSpec"]

#: Placeholder in :attr:`JobSpec.argv` for the folder the job writes into (absolute in the job).
VERSION_DIR = "{version_dir}"
#: Commands whose job trains: they take ``train.trainer_paras``' geometry (one SLURM task per DDP process).
TRAINING_COMMANDS = ("train", "run", "search")


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """One job a command asks the launcher to run.

    Args:
        command: the runway command (``train``, ``run``, ``infer``, ``eval``, ``prepare``).
        argv: the command line the job replays after ``runway``, built by the command from its parsed
            arguments; :data:`VERSION_DIR` stands for ``version_dir``. ``--launcher local`` is added
            by the launcher.
        config: the resolved config (a dict or a ``ResolvedConfig``): the ``slurm`` section and
            ``train.trainer_paras`` give the job's resources.
        version_dir: the folder the job writes into (a version folder, or an ``infer-<suffix>``
            folder); its manifest records the job. None for commands without one (``prepare``).
        experiment: the experiment name, recorded in the jobs registry.
        command_line: what the user typed (recorded in the manifests of a sweep's versions).
        cwd: where the job runs (the directory it was submitted from).
    """

    command: str
    argv: Sequence[str]
    config: Any
    version_dir: Path | None = None
    experiment: str | None = None
    command_line: Sequence[str] = ()
    cwd: Path = dataclasses.field(default_factory=Path.cwd)

    @property
    def data(self) -> Mapping[str, Any]:
        """The config as a plain mapping."""
        return getattr(self.config, "data", self.config) or {}

    @property
    def slurm_section(self) -> dict[str, Any]:
        """The config's ``slurm`` section (``{}`` when absent)."""
        section = self.data.get("slurm")
        return section if isinstance(section, dict) else {}

    @property
    def job_name(self) -> str:
        """SLURM's job name: ``runway-<command>-<folder or experiment>``."""
        target = self.version_dir.name if self.version_dir is not None else (self.experiment or "job")
        return f"runway-{self.command}-{target}"

    def job_argv(self) -> list[str]:
        """The command line the job runs (after ``runway``), ending with ``--launcher local``."""
        folder = str(Path(self.version_dir).resolve()) if self.version_dir is not None else None
        out = []
        for item in self.argv:
            if item == VERSION_DIR:
                if folder is None:
                    raise ValueError(f"the job of `runway {self.command}` names VERSION_DIR but has no version_dir")
                item = folder
            out.append(str(item))
        return [*out, "--launcher", "local"]

    def for_version(self, version_dir: Path, config: Any = None) -> JobSpec:
        """The same job writing into ``version_dir`` (with ``config`` when given): a sweep's point."""
        return dataclasses.replace(
            self, version_dir=Path(version_dir), config=self.config if config is None else config
        )

    def sbatch_parameters(self) -> dict[str, Any]:
        """submitit's SLURM parameters for this job (validated; see :mod:`runway_for_ml.launcher.slurm`)."""

        if self.command not in TRAINING_COMMANDS:
            # One process predicts / evaluates / prepares: the training's DDP geometry does not apply.
            section = {k: v for k, v in self.slurm_section.items() if k not in ("nodes", "tasks_per_node")}
            params = sbatch_parameters(section, trainer_paras={}, job_name=self.job_name)
            params.update(nodes=1, ntasks_per_node=1)
            return params
        trainer_paras = (self.data.get("train") or {}).get("trainer_paras")
        return sbatch_parameters(self.data.get("slurm"), trainer_paras=trainer_paras, job_name=self.job_name)

    def max_requeues(self) -> int:
        """``slurm.max_requeues`` (validated)."""

        return max_requeues(self.slurm_section)
