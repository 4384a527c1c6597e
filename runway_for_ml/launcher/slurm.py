"""The ``slurm`` config section and its translation to submitit's SLURM executor.

The section's documented keys (their types, defaults and docs) are :class:`~runway_for_ml.config.models.SlurmSection`'s;
they reach submitit through its public ``AutoExecutor.update_parameters``: ``mem_gb``, ``tasks_per_node``,
``nodes``, ``cpus_per_task`` and ``gpus_per_node`` are its shared parameters (submitit converts them,
``1.5`` GB becoming ``1536MB``), ``time_min`` is its ``timeout_min``, and every other key is passed as
``slurm_<key>``, so any SLURM parameter submitit knows is accepted without a change here. Two keys are
runway's own: ``max_requeues`` (how often a preempted / timed-out job is requeued, default 3) and
``python`` (the interpreter the job runs, default: the one submitting). A key submitit refuses is a
:class:`~runway_for_ml.errors.ConfigError` with did-you-mean and the documented keys, raised before
anything is submitted.

With ``train.trainer_paras`` the task geometry is checked before anything is queued as well: SLURM must
start one task per process Lightning expects (``nodes x tasks_per_node == num_nodes x devices``), the job
must ask for the GPUs (or CPUs) those processes use, and several tasks need ``srun`` (no
``use_srun=false``, no strategy that spawns its own ranks). Several tasks also get srun's
``--kill-on-bad-exit=1``: one rank that dies ends the step instead of leaving the others in a collective.

>>> params = sbatch_parameters({"partition": "gpu", "time_min": 60, "mem_gb": 8})
>>> params["time"], params["mem"], params["partition"]
(60, '8GB', 'gpu')
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runway_for_ml.config.models import SlurmSection
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

# The section's defaults are those of its typed model (config/models.py, docs/config-reference.md).
_SLURM_DEFAULTS = {name: field.default for name, field in SlurmSection.model_fields.items()}
DEFAULT_MAX_REQUEUES: int = _SLURM_DEFAULTS["max_requeues"]
# Keys handled by runway itself, not passed to sbatch.
RUNWAY_KEYS = ("max_requeues", "python")
# The section's keys that are submitit's shared (AutoExecutor) parameters, by the same name.
_SHARED = ("mem_gb", "tasks_per_node", "nodes", "cpus_per_task", "gpus_per_node")
# Spellings the section refuses: it has its own key for them (or submitit sets them itself).
_REFUSED = {"time": "time_min", "mem": "mem_gb", "num_gpus": "gpus_per_node", "timeout_min": "time_min"}
_INTERNAL = ("map_count", "command", "folder")
# What every runway job asks for unless the section says otherwise.
_DEFAULTS: dict[str, Any] = {"timeout_min": _SLURM_DEFAULTS["time_min"], "nodes": 1}
# Preempted or timed-out jobs are requeued by submitit with `scontrol requeue`, which needs --requeue
# on clusters whose slurm.conf has JobRequeue=0.
_DEFAULT_ADDITIONAL = {"requeue": True}
_KEYS_HINT = "the slurm section takes submitit's SLURM parameters (docs/hpc.md)"


def valid_slurm_keys() -> list[str]:
    """The documented keys of the ``slurm`` section, sorted (any other SLURM parameter submitit knows is accepted too).

    >>> "partition" in valid_slurm_keys() and "time_min" in valid_slurm_keys()
    True
    """
    return sorted(SlurmSection.model_fields)


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
    max_requeues(section)
    for key in section:
        if key in _REFUSED or key in _INTERNAL:
            check_keys({key: None}, [k for k in valid_slurm_keys() if k != key], "slurm", hint=_KEYS_HINT)
    kwargs: dict[str, Any] = dict(_DEFAULTS)
    if job_name:
        kwargs["name"] = job_name
    for key, value in section.items():
        if key in RUNWAY_KEYS or value is None:
            continue
        if key == "time_min":
            kwargs["timeout_min"] = value
        elif key in _SHARED and not (key == "mem_gb" and isinstance(value, str)):
            kwargs[key] = value
        else:  # a SLURM parameter by submitit's own name ("500MB" is its mem)
            kwargs["slurm_mem" if key == "mem_gb" else f"slurm_{key}"] = value
    params = converted_parameters(kwargs, section)
    _agree_with_lightning(section, params, trainer_paras or {})
    additional = dict(_DEFAULT_ADDITIONAL)
    additional.update(params.get("additional_parameters") or {})
    params["additional_parameters"] = additional
    for key in ("setup", "teardown", "srun_args"):
        if key in params and isinstance(params[key], str):
            params[key] = [params[key]]
    return params


def converted_parameters(kwargs: dict[str, Any], section: dict[str, Any]) -> dict[str, Any]:
    """submitit's SLURM parameters for ``AutoExecutor.update_parameters(**kwargs)``: submitit converts them.

    A key submitit does not know is a ConfigError naming ``slurm.<key>`` with did-you-mean; a value it
    refuses is a ConfigError with submitit's reason.
    """
    import submitit

    with stand_in_slurm() as tmp:
        executor = submitit.AutoExecutor(folder=tmp, cluster="slurm")
        for key, value in kwargs.items():  # one at a time: an unknown key is named exactly
            try:
                executor.update_parameters(**{key: value})
            except NameError:
                name = key.removeprefix("slurm_")
                check_keys({name: None}, valid_slurm_keys(), "slurm", hint=_KEYS_HINT)
                raise
            except (AssertionError, TypeError, ValueError) as exc:  # submitit's own checks of values
                name = {"timeout_min": "time_min", "slurm_mem": "mem_gb"}.get(key, key.removeprefix("slurm_"))
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ConfigError(
                    f"slurm.{name}: submitit refused {section.get(name, value)!r}: {reason}",
                    hint="see the slurm keys in docs/hpc.md",
                ) from None
        return dict(executor.parameters)


@contextlib.contextmanager
def stand_in_slurm() -> Iterator[Path]:
    """A temporary folder, with a stand-in ``sbatch`` and ``srun`` first on PATH until the block ends.

    submitit's ``SlurmExecutor`` looks for ``srun`` when it is built; the stand-ins queue nothing and
    answer a job id, so parameters can be converted and a script rendered where SLURM is not installed.
    """
    with tempfile.TemporaryDirectory(prefix="runway-sbatch-") as tmp:
        stand_ins = Path(tmp) / "bin"
        stand_ins.mkdir()
        for tool in ("sbatch", "srun"):
            (stand_ins / tool).write_text(_STAND_IN, encoding="utf-8")
            (stand_ins / tool).chmod(0o755)
        saved_path = os.environ.get("PATH", "")
        os.environ["PATH"] = f"{stand_ins}{os.pathsep}{saved_path}"
        try:
            yield Path(tmp)
        finally:
            os.environ["PATH"] = saved_path


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


# Strategies that start their own processes: under SLURM, srun starts one task per process instead.
_SPAWNING_STRATEGIES = ("ddp_spawn", "ddp_fork", "ddp_notebook")


def _agree_with_lightning(section: dict[str, Any], params: dict[str, Any], trainer_paras: dict[str, Any]) -> None:
    """Fill ``nodes`` / ``ntasks_per_node`` from the Trainer and refuse a geometry that cannot work.

    Lightning's ``SLURMEnvironment`` takes the world size from ``SLURM_NTASKS`` and each rank from
    ``SLURM_PROCID``, so SLURM must start exactly one task per process Lightning expects:
    ``slurm.nodes x slurm.tasks_per_node == train.trainer_paras.num_nodes x train.trainer_paras.devices``.
    Anything else hangs at "Initializing distributed" or fails on the node, after the queue wait.
    """
    devices = _device_count(trainer_paras.get("devices"))
    num_nodes = trainer_paras.get("num_nodes")
    num_nodes = num_nodes if isinstance(num_nodes, int) and not isinstance(num_nodes, bool) and num_nodes > 0 else None
    if devices is not None and section.get("tasks_per_node", section.get("ntasks_per_node")) is None:
        params["ntasks_per_node"] = devices
    if num_nodes is not None and section.get("nodes") is None:
        params["nodes"] = num_nodes
    nodes = int(params.get("nodes") or 1)
    tasks = int(params.get("ntasks_per_node") or 1)
    lightning_nodes = num_nodes or 1
    accelerator = str(trainer_paras.get("accelerator") or "auto").lower()
    if devices is None and accelerator == "cpu" and tasks > 1:
        devices = 1  # Lightning's "auto" on CPU: one process per node
    if devices is not None and nodes * tasks != lightning_nodes * devices:
        _geometry_error(section, nodes, tasks, lightning_nodes, devices, trainer_paras)
    if devices is None and nodes != lightning_nodes:  # devices decided at run time: the nodes must still agree
        _geometry_error(section, nodes, tasks, lightning_nodes, tasks, trainer_paras)
    world = nodes * tasks
    _check_devices_requested(section, params, trainer_paras, accelerator, devices)
    if world > 1:
        _check_launch(section, params, trainer_paras, world)


def _geometry_error(
    section: dict[str, Any], nodes: int, tasks: int, lightning_nodes: int, devices: int, trainer_paras: dict[str, Any]
) -> None:
    pairs = []
    if tasks != devices:
        pairs.append(("slurm.tasks_per_node", tasks, "train.trainer_paras.devices", devices))
    if nodes != lightning_nodes:
        pairs.append(("slurm.nodes", nodes, "train.trainer_paras.num_nodes", lightning_nodes))
    devices_given = trainer_paras.get("devices", "not set (auto)")
    disagreement = "; ".join(f"{a}={va} disagrees with {b}={vb}" for a, va, b, vb in pairs)
    fix_train = " and ".join(f"{b}={va}" for a, va, b, vb in pairs)
    fix_slurm = " and ".join(f"{a}={vb}" for a, va, b, vb in pairs)
    raise ConfigError(
        f"{disagreement}: SLURM would start slurm.nodes x slurm.tasks_per_node = {nodes} x {tasks} = {nodes * tasks} "
        f"tasks but Lightning expects train.trainer_paras.num_nodes x train.trainer_paras.devices = "
        f"{lightning_nodes} x {devices} = {lightning_nodes * devices} processes (devices: {devices_given}); "
        "Lightning expects one SLURM task per device, on every node",
        hint=f"set {fix_train}, or {fix_slurm}; nothing was queued (slurm.nodes defaults to "
        "train.trainer_paras.num_nodes and slurm.tasks_per_node to devices: setting the train keys alone is enough)",
    )


def _gpus_per_node(section: dict[str, Any], params: dict[str, Any]) -> int | None:
    """GPUs the job asks for on each node: gpus_per_node, gpus_per_task x tasks, or gres gpu[:type]:N."""
    if isinstance(params.get("gpus_per_node"), int):
        return int(params["gpus_per_node"])
    if isinstance(params.get("gpus_per_task"), int):
        return int(params["gpus_per_task"]) * int(params.get("ntasks_per_node") or 1)
    gres = str(params.get("gres") or "")
    for item in gres.split(","):
        parts = item.strip().split(":")
        if parts[0] == "gpu":
            return int(parts[-1]) if parts[-1].isdigit() and len(parts) > 1 else 1
    return None


def _check_devices_requested(
    section: dict[str, Any],
    params: dict[str, Any],
    trainer_paras: dict[str, Any],
    accelerator: str,
    devices: int | None,
) -> None:
    """More devices per node than the job asks SLURM for: GPUs (gpus_per_node) or CPUs (cpus_per_task)."""
    if accelerator in ("gpu", "cuda"):
        gpus = _gpus_per_node(section, params)
        wanted = devices or 1
        if gpus is None or gpus < wanted:
            asked = "no GPU" if not gpus else f"slurm.gpus_per_node={gpus}"
            raise ConfigError(
                f"train.trainer_paras.devices={trainer_paras.get('devices', 'auto')!r} with accelerator={accelerator!r} "
                f"needs {wanted} GPU(s) on each node, but the job asks SLURM for {asked}: "
                "the tasks would find fewer GPUs than Lightning expects",
                hint=f"set slurm.gpus_per_node={wanted} (or lower train.trainer_paras.devices); nothing was queued",
            )
    elif accelerator == "cpu" and devices is not None:
        cpus_per_task = params.get("cpus_per_task")
        tasks = int(params.get("ntasks_per_node") or 1)
        if isinstance(cpus_per_task, int) and cpus_per_task < 1:
            raise ConfigError(f"slurm.cpus_per_task: expected an integer >= 1, found {cpus_per_task}")
        cpus = tasks * (cpus_per_task if isinstance(cpus_per_task, int) else 1)
        if devices > cpus:
            raise ConfigError(
                f"train.trainer_paras.devices={devices} CPU processes per node, but the job asks SLURM for "
                f"slurm.tasks_per_node x slurm.cpus_per_task = {cpus} CPU(s) per node",
                hint=f"set slurm.tasks_per_node={devices} (one CPU process per task); nothing was queued",
            )


def _check_launch(section: dict[str, Any], params: dict[str, Any], trainer_paras: dict[str, Any], world: int) -> None:
    """Several tasks: each must be started by srun (one per rank), never spawn its own ranks."""
    strategy = trainer_paras.get("strategy")
    if section.get("use_srun") is False:
        raise ConfigError(
            f"slurm.use_srun=false with {world} tasks (train.trainer_paras.strategy={strategy!r}): without srun the "
            "job runs one process on the first node, and the DDP rendezvous waits for ranks that never start",
            hint="set slurm.use_srun=true or remove it (srun starts one task per rank and Lightning's SLURMEnvironment "
            "reads SLURM_PROCID), or train on one device; nothing was queued",
        )
    if isinstance(strategy, str) and strategy in _SPAWNING_STRATEGIES:
        raise ConfigError(
            f"train.trainer_paras.strategy={strategy!r} starts its own processes, but under SLURM srun starts the "
            f"{world} tasks of slurm.nodes x slurm.tasks_per_node: every task would spawn more ranks",
            hint="set train.trainer_paras.strategy=ddp; nothing was queued",
        )
    # One rank that dies must end the step instead of leaving the others in a collective until the time limit.
    raw = params.get("srun_args") or []
    srun_args = [raw] if isinstance(raw, str) else [str(a) for a in raw]
    if not any(a.startswith(("--kill-on-bad-exit", "-K")) for a in srun_args):
        params["srun_args"] = [*srun_args, "--kill-on-bad-exit=1"]


def check_slurm_available() -> None:
    """Raise a RunwayError suggesting ``--launcher local`` when ``sbatch`` is not on PATH."""
    if shutil.which("sbatch") is None:
        raise RunwayError(
            "cannot submit to SLURM: the `sbatch` command was not found on PATH",
            hint="run on a SLURM login node, or run here with `--launcher local` "
            "(a one-machine test cluster: scripts/local-slurm.sh in the runway_for_ml repository, see its docs/hpc.md)",
        )


def make_executor(
    folder: Path, params: dict[str, Any], *, section: dict[str, Any] | None = None, check_sbatch: bool = True
):
    """A submitit ``SlurmExecutor`` writing into ``folder`` with ``params`` (from :func:`sbatch_parameters`).

    ``check_sbatch=False`` (``--dry-run``) builds it where ``sbatch`` is not installed.
    """
    if check_sbatch:
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


def render_sbatch(params: dict[str, Any], folder: Path | str, *, section: dict[str, Any] | None = None) -> str:
    """The sbatch script submitit writes for ``params`` in job folder ``folder`` (``--dry-run``, golden-file test).

    submitit has no public call that only renders the script, so this submits through its public API
    (``SlurmExecutor.submit``, then the job's ``paths.submission_file``) with a stand-in ``sbatch`` and
    ``srun`` first on PATH for the duration of the call: they queue nothing and answer a job id, and
    the script is written into a temporary folder, then shown with ``folder`` in its paths. It works
    where SLURM is not installed, and the text is exactly what a real submission writes.

    >>> "#SBATCH --partition=gpu" in render_sbatch(sbatch_parameters({"partition": "gpu"}), "/tmp/x/%j")
    True
    """
    with stand_in_slurm() as tmp:
        executor = make_executor(tmp / "jobs" / "%j", params, section=section, check_sbatch=False)
        job = executor.submit(_not_run)
        text = job.paths.submission_file.read_text(encoding="utf-8")
        return text.replace(str(executor.folder), str(folder))


# What the stand-in sbatch / srun of render_sbatch answer (submitit reads the job id from "job <N>").
_STAND_IN = '#!/bin/sh\n# runway: a stand-in that queues nothing (launcher/slurm.py render_sbatch)\necho "Submitted batch job 0"\n'


def _not_run() -> None:
    """The function a rendered (never queued) job would run."""
