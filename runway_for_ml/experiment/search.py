"""Hyperparameter search on Optuna: studies whose trials are normal experiment versions.

A study lives in ``experiments/<exp>_search_S<k>/``::

    study.json     what the study is: experiment, search section, trials to finish, command line
    config.json    the resolved base config every trial starts from (--opts applied)
    journal.log    Optuna's journal (JournalFileBackend: append-only, safe on a shared file system)
    heartbeats/    one file per running trial, rewritten every few seconds by its worker
    trials.csv     one row per trial: state, value, version, params
    best.json      the best trial (value, params, version)
    search.html    Optuna's plotly figures and a table of trials, self-contained (search_page.py)

A worker (:func:`run_worker`; ``runway search`` runs one here, ``--slurm --workers K`` runs K as a
job array) asks the study for a trial, makes it a version ``<exp>_V<n>`` (the base config with the
trial's params as overrides; the manifest records ``search: {study, trial, params}``), trains it with
a pruning callback that reports ``search.metric`` each validation epoch, infers and evaluates it as
``runway-run`` does, and tells the study the result. Until ``trials`` trials are finished (complete
or pruned) it goes on; asking happens under a lock so that K workers never overshoot.

A trial whose worker died (kill -9, a preempted SLURM task) is found by Optuna's heartbeat check
(:func:`optuna.storages.fail_stale_trials` over this module's journal storage with heartbeats),
failed, and enqueued again by ``RetryHeartbeatStaleTrialCallback`` (Optuna's
``RetryFailedTrialCallback``); the retry continues in the same version folder, from its
``last.ckpt``. ``--resume`` continues a study until its trials are finished, never re-running a
finished trial.

>>> study_dir = create_study(exp, config, section, command_line=["runway", "search", "digits"])  # doctest: +SKIP
>>> run_worker(study_dir, command_line=["runway", "search", "digits"])["finished"]  # doctest: +SKIP
20
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_json_atomic, write_text_atomic
from runway_for_ml.config.loader import ResolvedConfig
from runway_for_ml.config.search_section import SearchSection
from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean
from runway_for_ml.experiment.layout import LOCKS_DIR, experiments_dir, lock_file
from runway_for_ml.experiment.manifest import now_iso, read_manifest, update_manifest
from runway_for_ml.experiment.names import NamedExperiment
from runway_for_ml.experiment.run import infer_and_report
from runway_for_ml.experiment.search_page import write_search_page
from runway_for_ml.experiment.search_space import (
    build_pruner,
    build_sampler,
    check_search_config,
    decode_params,
    distributions,
    format_value,
    grid_size,
    resolve_metric,
    sampler_seed,
    short_params,
)
from runway_for_ml.experiment.search_storage import JOURNAL, open_storage, retry_callback
from runway_for_ml.experiment.sections import data_source
from runway_for_ml.experiment.trainer import extra_callbacks
from runway_for_ml.experiment.versions import create_version
from runway_for_ml.project import find_project_root

__all__ = [
    "BEST_JSON",
    "JOURNAL",
    "STUDY_JSON",
    "TRIALS_CSV",
    "StudyDir",
    "check_search_config",
    "create_study",
    "find_study",
    "resolve_metric",
    "run_worker",
    "study_listing",
    "write_study_outputs",
]

STUDY_JSON = "study.json"
CONFIG_JSON = "config.json"
TRIALS_CSV = "trials.csv"
BEST_JSON = "best.json"
STUDY_INFIX = "_search_S"
#: How long an idle worker waits between looks at the study (the last trials run elsewhere).
POLL_S = 2.0
FINISHED = ("COMPLETE", "PRUNED")


class MetricNotLogged(Exception):
    """The trial's executor never logs ``search.metric`` (raised inside fit, turned into a ConfigError)."""

    def __init__(self, metric: str, logged: list[str]) -> None:
        super().__init__(metric)
        self.metric, self.logged = metric, logged


# ----------------------------------------------------------------------------- the study folder


@dataclass
class StudyDir:
    """``experiments/<exp>_search_S<k>/`` and what it holds."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def info(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / STUDY_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunwayError(
                f"{self.path} is not a search study (no readable {STUDY_JSON})",
                hint="start one with `runway search EXPERIMENT`",
            ) from exc

    def base_config(self) -> dict[str, Any]:
        return json.loads((self.path / CONFIG_JSON).read_text(encoding="utf-8"))

    def section(self) -> Any:
        return SearchSection.model_validate(self.info()["search"])

    def set_trials(self, trials: int) -> None:
        info = self.info()
        info["trials"] = int(trials)
        write_json_atomic(self.path / STUDY_JSON, info)


def study_dirs(project_root: Path, experiment: str | None = None) -> list[Path]:
    """The study folders of the project (of ``experiment``), oldest first."""
    base = experiments_dir(project_root)
    if not base.is_dir():
        return []
    found = []
    for entry in base.iterdir():
        stem, sep, number = entry.name.rpartition(STUDY_INFIX)
        if sep and number.isdigit() and entry.is_dir() and (experiment is None or stem == experiment):
            found.append((stem, int(number), entry))
    return [path for _, _, path in sorted(found)]


def find_study(project_root: Path, name: str | None = None, *, experiment: str | None = None) -> Path:
    """A study by name (``digits_search_S0``), else the latest of ``experiment``; RunwayError when none."""
    studies = study_dirs(project_root, None if name else experiment)
    if name:
        for path in studies:
            if path.name == name:
                return path
        names = [p.name for p in studies]
        raise RunwayError(
            f"no search study '{name}'{did_you_mean(name, names)}",
            hint=f"studies: {', '.join(names)}" if names else "start one with `runway search EXPERIMENT`",
        )
    if not studies:
        raise RunwayError(
            f"experiment '{experiment}' has no search study to resume",
            hint=f"start one with `runway search {experiment}`",
        )
    return studies[-1]


def create_study(exp: Any, config: Any, section: Any, *, command_line: list[str], trials: int | None = None) -> Path:
    """Make ``experiments/<exp>_search_S<k>/`` (the next k) with its study.json, base config and journal."""
    import optuna

    base = exp.experiments_dir
    base.mkdir(parents=True, exist_ok=True)
    target = int(trials or section.trials)
    size = grid_size(section)
    if size is not None and target > size:
        print(f"[search] the grid has {size} points: the study runs {size} trials, not {target}", file=sys.stderr)
        target = size
    from filelock import FileLock

    with FileLock(str(lock_file(base, "search")), timeout=60):
        taken = [int(p.name.rpartition(STUDY_INFIX)[2]) for p in study_dirs(exp.project_root, exp.name)]
        number = max(taken) + 1 if taken else 0
        study_dir = base / f"{exp.name}{STUDY_INFIX}{number}"
        study_dir.mkdir()
    try:
        data = getattr(config, "data", config)
        write_json_atomic(study_dir / CONFIG_JSON, data)
        info = {
            "study": study_dir.name,
            "experiment": exp.name,
            "project_root": str(exp.project_root),
            "created_at": now_iso(),
            "command_line": list(command_line),
            "config_file": str(getattr(config, "path", None) or exp.config_path),
            "overrides": [f"{o.path}={json.dumps(o.value)}" for o in getattr(config, "overrides", None) or []],
            "trials": target,
            "search": section.model_dump(mode="json"),
        }
        write_json_atomic(study_dir / STUDY_JSON, info)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.create_study(study_name=study_dir.name, storage=open_storage(study_dir), direction=section.direction)
    except BaseException:
        shutil.rmtree(study_dir, ignore_errors=True)
        raise
    return study_dir


def finished_count(study_dir: Path) -> int:
    """Trials of the study that are complete or pruned."""
    return sum(1 for t in load_study(study_dir).get_trials(deepcopy=False) if t.state.name in FINISHED)


def load_study(study_dir: Path, sampler: Any = None, pruner: Any = None) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return optuna.load_study(
            study_name=Path(study_dir).name, storage=open_storage(study_dir), sampler=sampler, pruner=pruner
        )


# ----------------------------------------------------------------------------- the worker


@dataclass
class _Worker:
    study_dir: StudyDir
    study: Any
    section: Any
    base: dict[str, Any]
    exp: Any
    project_root: Path
    command_line: list[str]
    index: int
    report: Callable[[str], None]
    ran: list[int] = field(default_factory=list)


def run_worker(
    study_dir: Path,
    *,
    command_line: list[str],
    worker: int = 0,
    report: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run trials of the study until ``trials`` of them are finished (complete or pruned).

    Returns ``{"study", "finished", "ran": [trial numbers run here], "best": best.json's content}``.
    Raises ConfigError when the executor never logs ``search.metric`` (the trial's version is removed).
    """
    folder = StudyDir(Path(study_dir).resolve())
    info = folder.info()
    section = folder.section()
    base = folder.base_config()
    root = Path(info.get("project_root") or "")
    if not root.is_dir():
        root = find_project_root(folder.path) or Path.cwd()
    study = load_study(folder.path, pruner=build_pruner(section, base))
    # Seeded per worker and per start: a resumed study must not draw its first trials' params again.
    study.sampler = build_sampler(section, _worker_seed(section, base, worker, len(study.get_trials(deepcopy=False))))
    state = _Worker(
        folder,
        study,
        section,
        base,
        NamedExperiment(info["experiment"], root),
        root,
        list(command_line),
        worker,
        report or _stderr_line,
    )
    prepare_study_data(base, root, state.report)
    try:
        while True:
            trial = _next_trial(state)
            if trial is None:
                break
            if trial is _WAIT:
                time.sleep(POLL_S)
                continue
            _run_trial(state, trial)
            write_study_outputs(folder.path, page=False)
    finally:
        with contextlib.suppress(Exception):
            write_study_outputs(folder.path)
    best = _read_json(folder.path / BEST_JSON)
    return {"study": folder.name, "finished": finished_count(folder.path), "ran": state.ran, "best": best}


_WAIT = object()


def _worker_seed(section: Any, data: Mapping[str, Any], worker: int, trials_before: int) -> int | None:
    """The sampler's seed: ``search.seed`` (or ``meta.seed``) for worker 0 of a new study; other workers and
    later starts of the study (``--resume``, a requeued job) get their own, so they draw new params."""
    seed = sampler_seed(section, data)
    return None if seed is None else seed + worker + 100_003 * trials_before


def _stderr_line(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def prepare_study_data(data: Mapping[str, Any], project_root: Path, report: Callable[[str], None]) -> list[Any]:
    """Run the data pipeline of the base config once, before the first trial (the cache's per-node locks make
    concurrent workers compute each node once); returns the run's node records."""
    from runway_for_ml.experiment.checks import import_project_code
    from runway_for_ml.experiment.data import pipeline_for

    if not data.get("data_pipeline"):
        return []
    import_project_code(data, project_root)
    nodes = sorted({ref["node"] for stage in ("train", "test") for ref in data_source(data, stage).values()})
    started = time.perf_counter()
    records = pipeline_for(data, project_root).run(nodes).nodes
    ran = [r.node for r in records if r.status == "ran"]
    report(
        f"[search] data prepared in {time.perf_counter() - started:.1f}s: "
        + (f"ran {', '.join(ran)}" if ran else "all cached")
    )
    return records


def _study_lock(folder: StudyDir) -> Any:
    from filelock import FileLock

    return FileLock(str(lock_file(folder.path.parent, f"{folder.name}.ask")), timeout=120)


def _next_trial(w: _Worker) -> Any:
    """Under the study's lock: fail dead trials (enqueueing their retry), then ask for a trial when one is due.

    Returns a trial, ``_WAIT`` (the remaining trials run in other workers), or None (the study is done).
    """
    import optuna

    target = int(w.study_dir.info()["trials"])
    with _study_lock(w.study_dir):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(w.study)
        states = [t.state.name for t in w.study.get_trials(deepcopy=False)]
        done = sum(s in FINISHED for s in states)
        running, waiting = states.count("RUNNING"), states.count("WAITING")
        if done >= target:
            return None
        if not waiting and done + running >= target:
            return _WAIT
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "heartbeat is supposed to be used with Study.optimize"
            trial = w.study.ask(distributions(w.section))
        # The first heartbeat inside the lock: no other worker can take this trial for a dead one.
        w.study._storage.record_heartbeat(trial._trial_id)
        return trial


def _run_trial(w: _Worker, trial: Any) -> None:
    from optuna.storages._heartbeat import get_heartbeat_thread
    from optuna.trial import TrialState

    from runway_for_ml.experiment.training import train_in_version

    params = decode_params(w.section, trial.params)
    frozen = w.study._storage.get_trial(trial._trial_id)
    retried = list(frozen.system_attrs.get("retry_history") or [])
    version_dir = _trial_version(w, trial, params, retried)
    metric = w.section.metric
    callback = pruning_callback(trial, metric)
    started = time.perf_counter()
    w.ran.append(trial.number)
    w.report(
        f"[search] {w.study_dir.name} trial {trial.number}: {version_dir.name} started "
        + (f"(retry of trial {retried[-1]}) " if retried else "")
        + short_params(params)
    )
    try:
        with get_heartbeat_thread(trial._trial_id, w.study._storage), extra_callbacks([callback]):
            train_metrics = train_in_version(version_dir)
            if not callback.pruned:
                infer_and_report(version_dir, w.command_line)
    except MetricNotLogged as exc:
        _tell(w, trial, TrialState.FAIL)
        _remove_version(version_dir)
        shown = [k for k in exc.logged if not k.endswith("_step")] or exc.logged
        raise ConfigError(
            f"search.metric: the executor never logs '{exc.metric}' (it logs: {', '.join(shown) or 'nothing'}); "
            f"the study {w.study_dir.name} stopped at its first trial",
            hint=f"set search.metric to one of the logged keys{did_you_mean(exc.metric, shown)}",
        ) from None
    except (KeyboardInterrupt, SystemExit):
        # Stopped (Ctrl-C, SIGTERM, a preempted job): the trial is retried in the same version later.
        _tell(w, trial, TrialState.FAIL)
        with contextlib.suppress(Exception):
            retry_callback()(w.study, w.study._storage.get_trial(trial._trial_id))
        update_manifest(version_dir, search={"state": "interrupted"})
        raise
    except BaseException as exc:
        _tell(w, trial, TrialState.FAIL)
        update_manifest(version_dir, search={"state": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]})
        raise
    seconds = time.perf_counter() - started
    if callback.pruned:
        _tell(w, trial, TrialState.PRUNED)
        value = callback.last_value
        update_manifest(
            version_dir,
            status="pruned",
            search={"state": "pruned", "value": value, "pruned_at_epoch": callback.pruned_at, "metric": callback.key},
        )
        state = "pruned"
    else:
        final = train_metrics or (read_manifest(version_dir).get("final_metrics") or {})
        key = resolve_metric(final, metric)
        value = float(final[key]) if key is not None else callback.last_value
        if value is None:
            _tell(w, trial, TrialState.FAIL)
            raise ConfigError(f"search.metric: '{metric}' has no value after training {version_dir.name}")
        _tell(w, trial, TrialState.COMPLETE, value)
        update_manifest(version_dir, search={"state": "complete", "value": value, "metric": key})
        state = "complete"
    target = int(w.study_dir.info()["trials"])
    done = sum(t.state.name in FINISHED for t in w.study.get_trials(deepcopy=False))
    w.report(
        f"[search] {w.study_dir.name} trial {trial.number}: {version_dir.name} {state} "
        f"{callback.key or metric}={format_value(value) if value is not None else '-'} in {seconds:.1f}s "
        f"({done}/{target} finished)"
    )


def _tell(w: _Worker, trial: Any, state: Any, value: float | None = None) -> None:
    import optuna

    try:
        if value is None:
            w.study.tell(trial, state=state)
        else:
            w.study.tell(trial, value, state=state)
    except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, ValueError) as exc:
        # Another worker took this trial for dead meanwhile (its heartbeat was late): say so, keep going.
        w.report(f"[search] trial {trial.number}: could not record {state.name.lower()}: {exc}")


def _trial_version(w: _Worker, trial: Any, params: dict[str, Any], retried: list[int]) -> Path:
    """The trial's version folder: the one of the trial it retries (resumed from last.ckpt), else a new one."""
    record = {
        "study": w.study_dir.name,
        "trial": trial.number,
        "params": params,
        "state": "running",
        "worker": w.index,
    }
    if retried:
        record["retried_from"] = retried
    previous = trial.user_attrs.get("version")
    if previous:
        version_dir = w.exp.experiments_dir / str(previous)
        if version_dir.is_dir():
            update_manifest(version_dir, search=record)
            return version_dir
    opts = [f"{key}={json.dumps(value)}" for key, value in params.items()]
    config = ResolvedConfig.from_dict(
        w.base, opts, path=Path(w.study_dir.info().get("config_file") or w.exp.config_path)
    )
    version_dir = create_version(w.exp, config, command_line=w.command_line, extra_manifest={"search": record})
    trial.set_user_attr("version", version_dir.name)
    return version_dir


def _remove_version(version_dir: Path) -> None:
    shutil.rmtree(version_dir, ignore_errors=True)
    locks = version_dir.parent / LOCKS_DIR
    if locks.is_dir():
        for path in locks.glob(f"{version_dir.name}.*.lock"):
            with contextlib.suppress(OSError):
                path.unlink()


def pruning_callback(trial: Any, metric: str) -> Any:
    """A Lightning callback that reports ``metric`` to ``trial`` after each validation epoch and stops the
    fit when Optuna's pruner says so (``.pruned``); raises :class:`MetricNotLogged` when the metric is missing."""
    from pytorch_lightning.callbacks import Callback

    class SearchPruning(Callback):
        def __init__(self) -> None:
            self.pruned = False
            self.pruned_at: int | None = None
            self.last_value: float | None = None
            self.key: str | None = None

        def _value(self, trainer: Any) -> float:
            logged = trainer.callback_metrics
            key = resolve_metric(logged, metric)
            if key is None:
                raise MetricNotLogged(metric, sorted(str(k) for k in logged))
            self.key = key
            return float(logged[key])

        def on_sanity_check_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.callback_metrics:  # the metric check, before the first training step
                self._value(trainer)

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking:
                return
            value = self._value(trainer)
            self.last_value = value
            epoch = int(trainer.current_epoch)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a resumed trial may report an epoch again
                trial.report(value, step=epoch)
            max_epochs = trainer.max_epochs
            last_epoch = max_epochs is not None and max_epochs > 0 and epoch + 1 >= max_epochs
            if not last_epoch and trial.should_prune():
                self.pruned, self.pruned_at = True, epoch
                trainer.should_stop = True

    return SearchPruning()


# ----------------------------------------------------------------------------- results


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def trial_rows(study: Any, section: Any) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, version, params (decoded), seconds, retry_of."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        seconds = None
        if t.datetime_start and t.datetime_complete:
            seconds = round((t.datetime_complete - t.datetime_start).total_seconds(), 2)
        history = t.system_attrs.get("retry_history") or []
        value = (
            t.value
            if t.state.name == "COMPLETE"
            else (
                t.intermediate_values[max(t.intermediate_values)]
                if t.state.name == "PRUNED" and t.intermediate_values
                else None
            )
        )
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                "value": value,
                "version": t.user_attrs.get("version"),
                "params": decode_params(section, t.params),
                "epochs_reported": len(t.intermediate_values),
                "seconds": seconds,
                "retry_of": history[-1] if history else None,
            }
        )
    return rows


def write_study_outputs(study_dir: Path, *, page: bool = True) -> dict[str, Any]:
    """Write ``trials.csv`` and ``best.json`` (and ``search.html`` with ``page``) from the journal; returns best.json."""
    folder = StudyDir(Path(study_dir))
    info = folder.info()
    section = folder.section()
    study = load_study(folder.path)
    rows = trial_rows(study, section)
    keys = list(section.space)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["trial", "state", section.metric, "version", *keys, "epochs_reported", "seconds", "retry_of"])
    for row in rows:
        writer.writerow(
            [
                row["trial"],
                row["state"],
                "" if row["value"] is None else row["value"],
                row["version"] or "",
                *[_csv_value(row["params"].get(k)) for k in keys],
                row["epochs_reported"],
                "" if row["seconds"] is None else row["seconds"],
                "" if row["retry_of"] is None else row["retry_of"],
            ]
        )
    write_text_atomic(folder.path / TRIALS_CSV, out.getvalue())
    complete = [r for r in rows if r["state"] == "complete"]
    best_row = None
    if complete:
        pick = max if section.direction == "maximize" else min
        best_row = pick(complete, key=lambda r: r["value"])
    best = {
        "study": folder.name,
        "experiment": info["experiment"],
        "metric": section.metric,
        "direction": section.direction,
        "trials": info["trials"],
        "finished": sum(r["state"] in ("complete", "pruned") for r in rows),
        "complete": len(complete),
        "pruned": sum(r["state"] == "pruned" for r in rows),
        "best": None if best_row is None else {k: best_row[k] for k in ("trial", "value", "version", "params")},
        "updated_at": now_iso(),
    }
    write_json_atomic(folder.path / BEST_JSON, best)
    if page:
        write_search_page(study, folder.path, rows=rows, best=best, info=info)
    return best


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, (list, dict, bool)) else value


def study_listing(project_root: Path, study: str) -> dict[str, Any]:
    """The versions of one study (``runway ls --search``), best first: completed by the metric, then pruned, then others.

    Reads only JSON files (manifests and study.json).
    """
    path = find_study(project_root, study)
    info = StudyDir(path).info()
    direction = (info.get("search") or {}).get("direction", "maximize")
    rows = []
    base = path.parent
    for entry in sorted(base.glob(f"{info['experiment']}_V*")):
        try:
            manifest = read_manifest(entry)
        except Exception:
            continue
        record = manifest.get("search")
        if not isinstance(record, dict) or record.get("study") != path.name:
            continue
        rows.append(
            {
                "version": entry.name,
                "trial": record.get("trial"),
                "state": record.get("state"),
                "status": manifest.get("status"),
                "value": record.get("value"),
                "params": record.get("params") or {},
                "path": str(entry),
            }
        )
    rank = {"complete": 0, "pruned": 1}
    sign = -1 if direction == "maximize" else 1

    def order(row: dict[str, Any]) -> tuple[Any, ...]:
        value = row["value"]
        return (rank.get(row["state"], 2), 0 if value is not None else 1, sign * (value or 0.0), row["trial"] or 0)

    rows.sort(key=order)
    return {
        "study": path.name,
        "experiment": info["experiment"],
        "metric": (info.get("search") or {}).get("metric"),
        "direction": direction,
        "trials": info.get("trials"),
        "rows": rows,
    }


@contextlib.contextmanager
def removed_when_empty(study_dir: Path, fresh: bool) -> Iterator[None]:
    """Remove a study folder this command created when a user error stops it before any trial finished."""
    try:
        yield
    except RunwayError:
        if fresh and Path(study_dir).is_dir():
            with contextlib.suppress(Exception):
                if finished_count(study_dir) == 0:
                    shutil.rmtree(study_dir, ignore_errors=True)
                    for path in (Path(study_dir).parent / LOCKS_DIR).glob(f"{Path(study_dir).name}.*.lock"):
                        path.unlink(missing_ok=True)
        raise
