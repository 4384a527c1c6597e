"""Hyperparameter search on Optuna: studies whose trials are normal experiment versions.

A study lives in ``experiments/<exp>_search_S<k>/``::

    study.json     what the study is: experiment, search section, trials to finish, command line
    config.json    the resolved base config every trial starts from (--opts applied)
    journal.log    Optuna's journal (JournalFileBackend: append-only, safe on a shared file system)
    heartbeats/    one file per running trial, rewritten every few seconds by its worker
    trials.csv     one row per trial: state, value, version, params
    best.json      the best trial (value, params, version)
    search.html    Optuna's plotly figures and a table of trials, self-contained (search_page.py)

This module is the driver (the ask/tell loop of one worker); the study folder is ``search_study.py``, one
trial ``search_trial.py``, trials.csv/best.json ``search_outputs.py``, the space, sampler and pruner
``search_space.py``, the journal ``search_storage.py``.

A worker (:func:`run_worker`; ``runway search`` runs one here, ``--slurm --workers K`` runs K as a
job array) asks the study for a trial, makes it a version ``<exp>_V<n>`` (the base config with the
trial's params as overrides; the manifest records ``search: {study, trial, params}``), trains it with
a pruning callback that reports ``search.metric`` each validation epoch, infers and evaluates it as
``runway-run`` does, and tells the study the result. Until ``trials`` trials are finished (complete
or pruned) it goes on; asking happens under a lock so that K workers never overshoot.

A trial whose worker died (kill -9, a preempted SLURM task) is found by Optuna's heartbeat check
(:func:`optuna.storages.fail_stale_trials` over the study's journal storage with heartbeats,
search_storage.py), failed, and enqueued again by ``RetryHeartbeatStaleTrialCallback`` (Optuna's
``RetryFailedTrialCallback``); the retry continues in the same version folder, from its
``last.ckpt``. ``--resume`` continues a study until its trials are finished, never re-running a
finished trial.

>>> study_dir = create_study(exp, config, section, command_line=["runway", "search", "digits"])  # doctest: +SKIP
>>> run_worker(study_dir, command_line=["runway", "search", "digits"])["finished"]  # doctest: +SKIP
20
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runway_for_ml.experiment.layout import lock_file
from runway_for_ml.experiment.names import NamedExperiment
from runway_for_ml.experiment.search_outputs import read_json, write_study_outputs
from runway_for_ml.experiment.search_space import build_pruner, build_sampler, distributions, sampler_seed
from runway_for_ml.experiment.search_study import BEST_JSON, FINISHED, StudyDir, finished_count, load_study
from runway_for_ml.experiment.search_trial import TrialWorker, run_trial
from runway_for_ml.experiment.sections import data_source
from runway_for_ml.project import find_project_root

#: How long an idle worker waits between looks at the study (the last trials run elsewhere).
POLL_S = 2.0


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
    state = TrialWorker(
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
            run_trial(state, trial)
            write_study_outputs(folder.path, page=False)
    finally:
        with contextlib.suppress(Exception):
            write_study_outputs(folder.path)
    best = read_json(folder.path / BEST_JSON)
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


def _next_trial(w: TrialWorker) -> Any:
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
