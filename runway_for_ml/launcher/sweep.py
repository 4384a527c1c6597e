"""Sweeps: ``--sweep key=v1,v2,…`` (repeatable) -> the cartesian product as ONE SLURM job array.

Each point gets its own experiment version, created and validated at submit time, so a bad value
fails before anything is queued. The sweep's state is saved in ``<experiments>/.sweeps/<exp>_<n>.json``
(points, their overrides, version folders and job ids), so ``runway sweep status <exp>`` and
``--retry-failed`` work later from any shell.

>>> parse_sweep(["train.lr=1e-4,3e-4", "train.batch_size=16,32"])
[('train.lr', [0.0001, 0.0003]), ('train.batch_size', [16, 32])]
>>> len(sweep_points(parse_sweep(["a=1,2", "b=x,y,z"])))
6
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import os
from pathlib import Path
from typing import Any

from runway_for_ml.config import ResolvedConfig, apply_overrides, parse_value, validate_config
from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean
from runway_for_ml.experiment.layout import VersionDir, project_root_of
from runway_for_ml.experiment.listing import list_runs
from runway_for_ml.experiment.manifest import now_iso, write_json_atomic
from runway_for_ml.experiment.names import resolve_experiment
from runway_for_ml.experiment.versions import create_versions
from runway_for_ml.launcher.jobs import FAILED_STATES, find_jobs, job_states
from runway_for_ml.launcher.slurm import check_slurm_available, sbatch_parameters
from runway_for_ml.launcher.spec import JobSpec
from runway_for_ml.launcher.submission import discard_fresh_version, project_root, submit, wait_for_jobs

__all__ = [
    "load_sweep",
    "parse_sweep",
    "retry_failed",
    "save_sweep",
    "submit_sweep",
    "sweep_points",
    "sweep_rows",
    "sweeps_dir",
]

_SWEEPS_FOLDER = ".sweeps"


def parse_sweep(items: list[str]) -> list[tuple[str, list[Any]]]:
    """``["k=1,2"]`` -> ``[("k", [1, 2])]``; values parse like ``--opts`` values (JSON, else text).

    Commas inside brackets, braces or quotes do not split: ``k=[1,2],[3]`` has two values.
    """

    axes: list[tuple[str, list[Any]]] = []
    seen: set[str] = set()
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise ConfigError(
                f"malformed --sweep {item!r}: expected KEY.PATH=V1,V2,...",
                hint="for example --sweep train.optimizer_config.optimizer_params.lr=1e-4,3e-4",
            )
        if key in seen:
            raise ConfigError(f"--sweep {key} is given twice", hint="list all its values in one --sweep")
        seen.add(key)
        values = [parse_value(v.strip()) for v in _split_top_level(raw)]
        axes.append((key, values))
    return axes


def _split_top_level(text: str) -> list[str]:
    parts, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def sweep_points(axes: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """The cartesian product of the axes, as ``{key: value}`` dicts (first axis varies slowest)."""
    keys = [k for k, _ in axes]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*[v for _, v in axes])]


def sweeps_dir(experiments_root: Path) -> Path:
    """``<experiments>/.sweeps``."""
    return Path(experiments_root) / _SWEEPS_FOLDER


def _new_sweep_path(experiments_root: Path, experiment: str) -> Path:
    folder = sweeps_dir(experiments_root)
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    while True:
        path = folder / f"{experiment}_{n}.json"
        try:
            # O_EXCL: two shells sweeping the same experiment never share a number.
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return path
        except FileExistsError:
            n += 1


def save_sweep(path: Path, state: dict[str, Any]) -> None:
    """Write the sweep state atomically."""

    write_json_atomic(path, state)


def load_sweep(experiments_root: Path, name: str) -> tuple[Path, dict[str, Any]]:
    """The sweep named ``<exp>_<n>``, or the latest sweep of experiment ``<exp>``."""
    folder = sweeps_dir(experiments_root)
    direct = folder / f"{name}.json"
    candidates = (
        [direct]
        if direct.is_file()
        else sorted(
            (p for p in folder.glob(f"{name}_*.json") if p.stem[len(name) + 1 :].isdigit()),
            key=lambda p: int(p.stem[len(name) + 1 :]),
        )
    )
    if not candidates:
        known = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        experiments = sorted({k.rsplit("_", 1)[0] for k in known})
        raise RunwayError(
            f"no sweep of {name!r} in {folder}{did_you_mean(name, [*known, *experiments])}",
            hint=(
                f"sweeps: {', '.join(known)}" if known else "start one with: runway-train EXP --slurm --sweep KEY=V1,V2"
            ),
        )
    path = candidates[-1]
    try:
        return path, json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RunwayError(f"sweep state {path} is not valid JSON ({exc})", hint="delete it and sweep again") from exc


def submit_sweep(spec: JobSpec, items: list[str], *, wait: bool = False) -> int:
    """Create one version per point of ``spec`` and submit them as one job array; return 0 (or the --wait status).

    Every point's config is validated before anything is created; the versions are created in one step
    with the environment captured once (reused from the fresh base version when there is one); if the
    submission fails, the new version folders and the sweep state are removed again.
    """

    if spec.command not in ("train", "run"):
        raise RunwayError(f"--sweep works with runway-train and runway-run, not `runway {spec.command}`")
    axes = parse_sweep(items)
    points = sweep_points(axes)
    # The base version made by the command is replaced by one version per point. Its manifest was
    # written by this process a moment ago: its git state and library versions hold for every point.
    base_manifest = discard_fresh_version(spec.version_dir) or {}
    root_dir = project_root_of(spec.version_dir, base_manifest) or project_root(spec.version_dir)
    exp_name = base_manifest.get("experiment") or spec.experiment
    if not exp_name:
        raise RunwayError("--sweep needs an experiment name")
    exp = resolve_experiment(str(exp_name), root_dir)
    point_configs = _point_configs(spec.config, points)
    _check_points(point_configs, root_dir)
    check_slurm_available()

    root = exp.experiments_dir.resolve()
    sweep_path = _new_sweep_path(root, exp.name)
    specs, jobs = _create_and_submit(spec, exp, point_configs, points, sweep_path, base_manifest)
    state = _sweep_state(sweep_path.stem, spec.command, exp.name, axes, points, specs, jobs)
    save_sweep(sweep_path, state)
    print(f"sweep {state['name']}: {len(points)} points as SLURM job array {state['array_job_id']}")
    for entry in state["points"]:
        print(f"  [{entry['index']}] {Path(entry['version_dir']).name}  job {entry['jobs'][-1]}  {entry['overrides']}")
    print(f"  status: runway sweep status {exp.name}")
    return wait_for_jobs(jobs, stream=False) if wait else 0


def _create_and_submit(
    spec: JobSpec,
    exp: Any,
    point_configs: list[Any],
    points: list[dict[str, Any]],
    sweep_path: Path,
    base_manifest: dict[str, Any],
) -> tuple[list[JobSpec], list[Any]]:
    """One version per point, submitted as one job array; on any failure nothing is left behind."""

    root = exp.experiments_dir.resolve()
    version_dirs: list[Path] = []
    try:
        version_dirs = create_versions(
            exp,
            point_configs,
            command_line=list(spec.command_line or [spec.command]),
            status="created",
            extra_manifests=[
                {"sweep": {"name": sweep_path.stem, "point": i, "overrides": point}} for i, point in enumerate(points)
            ],
            environment=base_manifest.get("environment"),
        )
        specs = [
            dataclasses.replace(spec.for_version(d, c), experiment=exp.name)
            for d, c in zip(version_dirs, point_configs, strict=True)
        ]
        jobs = submit(
            specs,
            folder=sweeps_dir(root) / sweep_path.stem / "%j",
            experiments_root=root,
            sweep=sweep_path.stem,
            points=list(range(len(points))),
        )
    except BaseException:
        import shutil

        for d in version_dirs:
            shutil.rmtree(d, ignore_errors=True)
        sweep_path.unlink(missing_ok=True)
        raise
    return specs, jobs


def _sweep_state(
    name: str,
    command: str,
    experiment: str,
    axes: list[tuple[str, list[Any]]],
    points: list[dict[str, Any]],
    specs: list[JobSpec],
    jobs: list[Any],
) -> dict[str, Any]:
    """What ``runway sweep status`` and ``--retry-failed`` read later: points, folders, job ids."""

    return {
        "name": name,
        "experiment": experiment,
        "command": command,
        "created_at": now_iso(),
        "axes": [[k, v] for k, v in axes],
        "array_job_id": str(jobs[0].job_id).split("_")[0],
        "points": [
            {
                "index": i,
                "overrides": point,
                "version_dir": str(Path(point_spec.version_dir).resolve()),
                "argv": point_spec.job_argv(),
                "jobs": [str(job.job_id)],
            }
            for i, (point, point_spec, job) in enumerate(zip(points, specs, jobs, strict=True))
        ],
    }


def _point_configs(config: Any, points: list[dict[str, Any]]) -> list[Any]:
    """The resolved config of each point, validated before anything is created.

    The base config passed validation already, so each point re-checks the copy its overrides changed
    (cheap: no file is read, nothing is imported).
    """

    base = getattr(config, "data", config)
    copy_point = _copier(base)
    out = []
    for point in points:
        data = copy_point()
        try:
            overrides = apply_overrides(data, [f"{k}={json.dumps(v)}" for k, v in point.items()], source="sweep")
            validate_config(data, getattr(config, "path", None))
            sbatch_parameters(data.get("slurm"), trainer_paras=(data.get("train") or {}).get("trainer_paras"))
        except ConfigError as exc:
            raise ConfigError(f"--sweep point {point}: {exc.message}", hint=exc.hint) from exc
        out.append(ResolvedConfig(data, getattr(config, "path", None), [*getattr(config, "overrides", []), *overrides]))
    return out


def _copier(data: dict[str, Any]) -> Any:
    """A function returning fresh deep copies of ``data``: through JSON (C speed) when it is plain JSON."""
    try:
        text = json.dumps(data)
    except (TypeError, ValueError):
        return lambda: copy.deepcopy(data)
    if json.loads(text) != data:  # e.g. tuples or non-string keys: JSON would change them
        return lambda: copy.deepcopy(data)
    return lambda: json.loads(text)


def _check_points(point_configs: list[Any], project_root: Path) -> None:
    """Resolve registered names of every point (executor, metrics, loggers) when the experiment layer can."""
    try:
        from runway_for_ml.experiment.checks import check_config
    except ImportError:  # pragma: no cover - experiment layer not installed
        return
    imported: set[str] = set()
    for point_config in point_configs:
        # The project's code is the same for every point: import it once per distinct meta.user_modules
        # (scanning the project's packages again per point was the costliest part of the check).
        modules = json.dumps((point_config.data.get("meta") or {}).get("user_modules") or [])
        check_config(point_config.data, project_root, import_code=modules not in imported)
        imported.add(modules)


def sweep_rows(experiments_root: Path, state: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per point: index, overrides, version, latest job id, state, key metric."""

    latest = [p["jobs"][-1] for p in state["points"]]
    records = find_jobs(experiments_root, latest)
    states = job_states(latest, records)
    metrics = _key_metrics(state)
    rows = []
    for point in state["points"]:
        job_id = point["jobs"][-1]
        js = states.get(job_id)
        rows.append(
            {
                "point": point["index"],
                "overrides": point["overrides"],
                "version": Path(point["version_dir"]).name,
                "version_dir": point["version_dir"],
                "job_id": job_id,
                "attempts": len(point["jobs"]),
                "state": js.state if js else "UNKNOWN",
                "elapsed": js.elapsed if js else "",
                "key_metric": metrics.get(point["version_dir"]),
            }
        )
    return rows


def _key_metrics(state: dict[str, Any]) -> dict[str, Any]:
    roots = {
        str(Path(p["version_dir"]).parent.parent)
        for p in state["points"]
        if Path(p["version_dir"]).parent.name == "experiments"
    }
    out: dict[str, Any] = {}
    for root in roots:
        try:
            for row in list_runs(Path(root)):
                if row.get("path"):
                    out[str(Path(row["path"]).resolve())] = row.get("key_metric")
        except RunwayError:
            continue
    return out


def retry_failed(experiments_root: Path, name: str) -> list[tuple[str, Any]]:
    """Resubmit the points whose latest job FAILED (or was cancelled / timed out).

    Returns ``(version name, submitit job)`` per resubmitted point.
    """

    path, state = load_sweep(experiments_root, name)
    rows = sweep_rows(experiments_root, state)
    failed = [row["point"] for row in rows if row["state"] in FAILED_STATES]
    if not failed:
        return []
    by_index = {p["index"]: p for p in state["points"]}
    version_dirs = [Path(by_index[i]["version_dir"]) for i in failed]
    config = VersionDir(version_dirs[0]).config_dict()
    # A point replays the command line recorded when the sweep was submitted (it names its folder).
    specs = [
        JobSpec(
            state["command"],
            _without_launcher(by_index[i]["argv"]),
            config,
            version_dir=d,
            experiment=state["experiment"],
        )
        for i, d in zip(failed, version_dirs, strict=True)
    ]
    jobs = submit(
        specs,
        folder=sweeps_dir(experiments_root) / state["name"] / "%j",
        experiments_root=experiments_root,
        sweep=state["name"],
        points=failed,
    )
    for i, job in zip(failed, jobs, strict=True):
        by_index[i]["jobs"].append(str(job.job_id))
    save_sweep(path, state)
    return [(d.name, job) for d, job in zip(version_dirs, jobs, strict=True)]


def _without_launcher(argv: list[str]) -> list[str]:
    """A recorded job command line without the ``--launcher local`` that :meth:`JobSpec.job_argv` adds."""
    return argv[:-2] if argv[-2:] == ["--launcher", "local"] else list(argv)
