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

import argparse
import copy
import itertools
import json
import os
from pathlib import Path
from typing import Any

from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean

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
    from runway_for_ml.config import parse_value

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
    from runway_for_ml.experiment.manifest import write_json_atomic

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


def submit_sweep(
    command: str,
    args: argparse.Namespace,
    config: Any,
    items: list[str],
    *,
    base_version_dir: Path | None = None,
) -> int:
    """Create one version per point and submit them as one job array; return 0 (or the --wait status).

    Every point's config is validated before anything is created; the versions are created in one step
    with the environment captured once (reused from the fresh base version when there is one); if the
    submission fails, the new version folders and the sweep state are removed again.
    """
    from runway_for_ml.config import ResolvedConfig, apply_overrides, validate_config
    from runway_for_ml.experiment.experiment import create_versions, resolve_experiment
    from runway_for_ml.launcher import (
        _discard_fresh_version,
        _experiment_name,
        _project_root,
        submit_jobs,
        wait_for_jobs,
    )
    from runway_for_ml.launcher.job import RunwayJob
    from runway_for_ml.launcher.slurm import check_slurm_available, max_requeues, sbatch_parameters

    if command not in ("train", "run"):
        raise RunwayError(f"--sweep works with runway-train and runway-run, not `runway {command}`")
    axes = parse_sweep(items)
    points = sweep_points(axes)
    base = getattr(config, "data", config)
    # The base version made by the command is replaced by one version per point. Its manifest was
    # written by this process a moment ago: its git state and library versions hold for every point.
    base_manifest = _discard_fresh_version(base_version_dir) or {}
    environment = base_manifest.get("environment")
    stored_root = base_manifest.get("project_root")
    project_root = Path(stored_root) if stored_root and Path(stored_root).is_dir() else _project_root(base_version_dir)
    exp_name = base_manifest.get("experiment") or _experiment_name(args, base_version_dir)
    if not exp_name:
        raise RunwayError("--sweep needs an experiment name")
    exp = resolve_experiment(str(exp_name), project_root)

    # Validate every point before creating anything: the base config passed validation already, so
    # each point re-checks the copy its overrides changed (cheap: no file is read, nothing is imported).
    point_configs = []
    copy_point = _copier(base)
    for point in points:
        data = copy_point()
        try:
            overrides = apply_overrides(data, [f"{k}={json.dumps(v)}" for k, v in point.items()], source="sweep")
            validate_config(data, getattr(config, "path", None))
            sbatch_parameters(data.get("slurm"), trainer_paras=(data.get("train") or {}).get("trainer_paras"))
        except ConfigError as exc:
            raise ConfigError(f"--sweep point {point}: {exc.message}", hint=exc.hint) from exc
        point_configs.append(
            ResolvedConfig(data, getattr(config, "path", None), [*getattr(config, "overrides", []), *overrides])
        )
    _check_points(point_configs, project_root)
    check_slurm_available()

    root = exp.experiments_dir.resolve()
    sweep_path = _new_sweep_path(root, exp.name)
    sweep_name = sweep_path.stem
    version_dirs: list[Path] = []
    try:
        version_dirs = create_versions(
            exp,
            point_configs,
            command_line=list(getattr(args, "_runway_argv", None) or [command]),
            status="created",
            extra_manifests=[
                {"sweep": {"name": sweep_name, "point": i, "overrides": point}} for i, point in enumerate(points)
            ],
            environment=environment,
        )
        jobs = [
            RunwayJob(
                _point_argv(command, exp.name, d, args),
                cwd=Path.cwd(),
                version_dir=d,
                max_requeues=max_requeues(c.data.get("slurm")),
            )
            for d, c in zip(version_dirs, point_configs, strict=True)
        ]
        records = submit_jobs(
            jobs,
            config=point_configs[0].data,
            folder=sweeps_dir(root) / sweep_name / "%j",
            job_name=f"runway-{command}-{sweep_name}",
            command=command,
            experiments_root=root,
            version_dirs=list(version_dirs),
            experiment=exp.name,
            sweep=sweep_name,
            points=list(range(len(points))),
        )
    except BaseException:
        import shutil

        for d in version_dirs:
            shutil.rmtree(d, ignore_errors=True)
        sweep_path.unlink(missing_ok=True)
        raise
    from runway_for_ml.experiment.manifest import now_iso

    state = {
        "name": sweep_name,
        "experiment": exp.name,
        "command": command,
        "created_at": now_iso(),
        "axes": [[k, v] for k, v in axes],
        "array_job_id": records[0].job_id.split("_")[0],
        "points": [
            {
                "index": i,
                "overrides": point,
                "version_dir": str(d.resolve()),
                "argv": list(job.argv),
                "jobs": [record.job_id],
            }
            for i, (point, d, job, record) in enumerate(zip(points, version_dirs, jobs, records, strict=True))
        ],
    }
    save_sweep(sweep_path, state)
    print(f"sweep {sweep_name}: {len(points)} points as SLURM job array {state['array_job_id']}")
    for entry in state["points"]:
        print(f"  [{entry['index']}] {Path(entry['version_dir']).name}  job {entry['jobs'][-1]}  {entry['overrides']}")
    print(f"  status: runway sweep status {exp.name}")
    if getattr(args, "wait", False):
        return wait_for_jobs(records, stream=False)
    return 0


def _copier(data: dict[str, Any]) -> Any:
    """A function returning fresh deep copies of ``data``: through JSON (C speed) when it is plain JSON."""
    try:
        text = json.dumps(data)
    except (TypeError, ValueError):
        return lambda: copy.deepcopy(data)
    if json.loads(text) != data:  # e.g. tuples or non-string keys: JSON would change them
        return lambda: copy.deepcopy(data)
    return lambda: json.loads(text)


def _point_argv(command: str, experiment: str, version_dir: Path, args: argparse.Namespace) -> list[str]:
    # Same replay as a single job: the user's flags (e.g. --debug, --checkpoint) reach every point.
    from runway_for_ml.launcher import job_argv

    return job_argv(command, args, version_dir=version_dir, experiment=experiment)


def _check_points(point_configs: list[Any], project_root: Path) -> None:
    """Resolve registered names of every point (executor, metrics, loggers) when the experiment layer can."""
    try:
        from runway_for_ml.experiment.runtime import check_config
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
    from runway_for_ml.launcher.jobs import find_jobs, job_states

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
    try:
        from runway_for_ml.experiment.compare import list_runs
    except ImportError:  # pragma: no cover
        return {}
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


def retry_failed(experiments_root: Path, name: str) -> list[Any]:
    """Resubmit the points whose latest job FAILED (or was cancelled / timed out); return their records."""
    from runway_for_ml.launcher import submit_jobs
    from runway_for_ml.launcher.job import RunwayJob
    from runway_for_ml.launcher.jobs import FAILED_STATES
    from runway_for_ml.launcher.slurm import max_requeues

    path, state = load_sweep(experiments_root, name)
    rows = sweep_rows(experiments_root, state)
    failed = [row["point"] for row in rows if row["state"] in FAILED_STATES]
    if not failed:
        return []
    by_index = {p["index"]: p for p in state["points"]}
    version_dirs = [Path(by_index[i]["version_dir"]) for i in failed]
    config = json.loads((version_dirs[0] / "train" / "config.json").read_text(encoding="utf-8"))
    jobs = [
        RunwayJob(
            by_index[i]["argv"],
            cwd=Path.cwd(),
            version_dir=d,
            max_requeues=max_requeues(config.get("slurm")),
        )
        for i, d in zip(failed, version_dirs, strict=True)
    ]
    records = submit_jobs(
        jobs,
        config=config,
        folder=sweeps_dir(experiments_root) / state["name"] / "%j",
        job_name=f"runway-{state['command']}-{state['name']}",
        command=state["command"],
        experiments_root=experiments_root,
        version_dirs=list(version_dirs),
        experiment=state["experiment"],
        sweep=state["name"],
        points=failed,
    )
    for i, record in zip(failed, records, strict=True):
        by_index[i]["jobs"].append(record.job_id)
    save_sweep(path, state)
    return records
