"""The ``slurm`` config section and its translation to submitit's SLURM executor.

The section uses submitit's own parameter names (the keyword arguments of
``submitit.slurm.slurm._make_sbatch_string``) with three friendlier spellings taken from submitit's
``AutoExecutor``: ``time_min`` (minutes), ``mem_gb`` and ``tasks_per_node``. Two keys are runway's own:
``max_requeues`` (how often a preempted / timed-out job is requeued, default 3) and ``python`` (the
interpreter the job runs, default: the one submitting). The valid keys are derived from submitit's
function signature, so a new submitit parameter is accepted without a change here; an unknown key is
a :class:`~runway_for_ml.errors.ConfigError` with did-you-mean and the list of valid keys, raised
before anything is submitted.

>>> params = sbatch_parameters({"partition": "gpu", "time_min": 60, "mem_gb": 8})
>>> params["time"], params["mem"], params["partition"]
(60, '8GB', 'gpu')
"""

from __future__ import annotations

import inspect
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

from runway_for_ml.errors import ConfigError, RunwayError, check_keys

__all__ = [
    "DEFAULT_MAX_REQUEUES",
    "RUNWAY_KEYS",
    "check_slurm_available",
    "make_executor",
    "max_requeues",
    "render_sbatch",
    "sbatch_parameters",
    "valid_slurm_keys",
]

DEFAULT_MAX_REQUEUES = 3
# Friendlier names (those of submitit's AutoExecutor) -> submitit's SLURM parameter.
_RENAMES = {"time_min": "time", "mem_gb": "mem", "tasks_per_node": "ntasks_per_node"}
# Keys handled by runway itself, not passed to sbatch.
RUNWAY_KEYS = ("max_requeues", "python")
# submitit parameters we do not expose: set internally, legacy, or replaced by a friendlier name.
_HIDDEN = {"command", "folder", "map_count", "num_gpus", *_RENAMES.values()}
# What every runway job asks for unless the section says otherwise.
_DEFAULTS: dict[str, Any] = {"time": 60, "nodes": 1}
# Preempted or timed-out jobs are requeued by submitit with `scontrol requeue`, which needs --requeue
# on clusters whose slurm.conf has JobRequeue=0.
_DEFAULT_ADDITIONAL = {"requeue": True}


@lru_cache(maxsize=1)
def _submitit_parameters() -> dict[str, Any]:
    """Keyword parameters of submitit's sbatch writer and their defaults (its own source of truth)."""
    from submitit.slurm import slurm as submitit_slurm

    signature = inspect.signature(submitit_slurm._make_sbatch_string)
    return {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty and name not in _HIDDEN
    }


def valid_slurm_keys() -> list[str]:
    """Every key the ``slurm`` section accepts, sorted.

    >>> "partition" in valid_slurm_keys() and "time_min" in valid_slurm_keys()
    True
    """
    return sorted({*_submitit_parameters(), *_RENAMES, *RUNWAY_KEYS})


def max_requeues(section: dict[str, Any] | None) -> int:
    """``slurm.max_requeues`` (default 3): how many times a preempted / timed-out job is requeued."""
    value = (section or {}).get("max_requeues", DEFAULT_MAX_REQUEUES)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"slurm.max_requeues: expected a non-negative integer, found {value!r}")
    return value


def sbatch_parameters(
    section: dict[str, Any] | None,
    *,
    trainer_paras: dict[str, Any] | None = None,
    job_name: str | None = None,
) -> dict[str, Any]:
    """Translate a ``slurm`` section into submitit ``SlurmExecutor.update_parameters`` keywords.

    ``trainer_paras`` (the ``train.trainer_paras`` section) keeps SLURM and Lightning in agreement:
    ``tasks_per_node`` defaults to ``devices`` and ``nodes`` to ``num_nodes``; a conflict is an error.

    >>> sbatch_parameters({"tasks_per_node": 2}, trainer_paras={"devices": 2})["ntasks_per_node"]
    2
    """
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f"slurm: expected an object, found {type(section).__name__}")
    section = dict(section or {})
    check_keys(section, valid_slurm_keys(), "slurm", hint="the slurm section takes submitit's SLURM parameters")
    max_requeues(section)
    params: dict[str, Any] = dict(_DEFAULTS)
    if job_name:
        params["job_name"] = job_name
    for key, value in section.items():
        if key in RUNWAY_KEYS or value is None:
            continue
        params[_RENAMES.get(key, key)] = value
    if "mem" in params:
        params["mem"] = _convert_mem(params["mem"])
    _agree_with_lightning(section, params, trainer_paras or {})
    additional = dict(_DEFAULT_ADDITIONAL)
    additional.update(params.get("additional_parameters") or {})
    params["additional_parameters"] = additional
    for key in ("setup", "teardown", "srun_args"):
        if key in params and isinstance(params[key], str):
            params[key] = [params[key]]
    return params


def _convert_mem(mem_gb: Any) -> str:
    if isinstance(mem_gb, str):
        return mem_gb  # already "16GB" / "500MB"
    if not isinstance(mem_gb, (int, float)) or mem_gb <= 0:
        raise ConfigError(f"slurm.mem_gb: expected a positive number of GB, found {mem_gb!r}")
    return f"{int(mem_gb)}GB" if mem_gb == int(mem_gb) else f"{int(mem_gb * 1024)}MB"


def _device_count(devices: Any) -> int | None:
    """Processes Lightning starts per node for ``devices`` (None when it decides at run time)."""
    if isinstance(devices, bool):
        return None
    if isinstance(devices, int):
        return devices if devices > 0 else None
    if isinstance(devices, (list, tuple)):
        return len(devices)
    if isinstance(devices, str):
        parts = [p for p in devices.split(",") if p.strip()]
        if len(parts) > 1:
            return len(parts)
        return int(devices) if devices.strip().isdigit() and int(devices) > 0 else None
    return None


def _agree_with_lightning(section: dict[str, Any], params: dict[str, Any], trainer_paras: dict[str, Any]) -> None:
    # Lightning's SLURMEnvironment takes world size and ranks from SLURM_NTASKS / SLURM_PROCID, so SLURM
    # must start exactly devices x num_nodes tasks, one per device.
    devices = _device_count(trainer_paras.get("devices"))
    if devices is not None:
        given = section.get("tasks_per_node")
        if given is None:
            params["ntasks_per_node"] = devices
        elif given != devices:
            raise ConfigError(
                f"slurm.tasks_per_node={given} disagrees with train.trainer_paras.devices={trainer_paras['devices']!r}: "
                "Lightning expects one SLURM task per device",
                hint=f"set slurm.tasks_per_node={devices} or remove it (it defaults to the number of devices)",
            )
    num_nodes = trainer_paras.get("num_nodes")
    if isinstance(num_nodes, int) and num_nodes > 0:
        given = section.get("nodes")
        if given is None:
            params["nodes"] = num_nodes
        elif given != num_nodes:
            raise ConfigError(
                f"slurm.nodes={given} disagrees with train.trainer_paras.num_nodes={num_nodes}",
                hint=f"set slurm.nodes={num_nodes} or remove it (it defaults to num_nodes)",
            )


def check_slurm_available() -> None:
    """Raise a RunwayError suggesting ``--launcher local`` when ``sbatch`` is not on PATH."""
    if shutil.which("sbatch") is None:
        raise RunwayError(
            "cannot submit to SLURM: the `sbatch` command was not found on PATH",
            hint="run on a SLURM login node, or run here with `--launcher local` "
            "(a one-machine test cluster: scripts/local-slurm.sh in the runway_for_ml repository, see its docs/hpc.md)",
        )


def make_executor(folder: Path, params: dict[str, Any], *, section: dict[str, Any] | None = None):
    """A submitit ``SlurmExecutor`` writing into ``folder`` with ``params`` (from :func:`sbatch_parameters`)."""
    check_slurm_available()
    import submitit

    section = section or {}
    try:
        executor = submitit.SlurmExecutor(
            folder=folder, max_num_timeout=max_requeues(section), python=section.get("python")
        )
        executor.update_parameters(**params)
    except ValueError as exc:  # submitit's own validation of values
        raise ConfigError(f"slurm: submitit refused the parameters: {exc}") from exc
    return executor


def render_sbatch(params: dict[str, Any], folder: Path | str, command: str) -> str:
    """The sbatch script submitit would write for ``params`` (used by the golden-file test and --debug).

    >>> "#SBATCH --partition=gpu" in render_sbatch(sbatch_parameters({"partition": "gpu"}), "/tmp/x", "python -c 1")
    True
    """
    from submitit.slurm import slurm as submitit_slurm

    return submitit_slurm._make_sbatch_string(command=command, folder=folder, **params)
