"""One trial of a search study: its version (new, or the one of the trial it retries), its training with a
pruning callback that reports ``search.metric`` each validation epoch, and the result told to the study."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runway_for_ml.config.loader import ResolvedConfig
from runway_for_ml.errors import ConfigError, did_you_mean
from runway_for_ml.experiment.layout import LOCKS_DIR
from runway_for_ml.experiment.manifest import read_manifest, update_manifest
from runway_for_ml.experiment.run import infer_and_report
from runway_for_ml.experiment.search_space import decode_params, format_value, resolve_metric, short_params
from runway_for_ml.experiment.search_storage import retry_callback
from runway_for_ml.experiment.search_study import FINISHED, StudyDir
from runway_for_ml.experiment.trainer import extra_callbacks
from runway_for_ml.experiment.versions import create_version


class MetricNotLogged(Exception):
    """The trial's executor never logs ``search.metric`` (raised inside fit, turned into a ConfigError)."""

    def __init__(self, metric: str, logged: list[str]) -> None:
        super().__init__(metric)
        self.metric, self.logged = metric, logged


@dataclass
class TrialWorker:
    """What a worker knows while it runs trials of one study."""

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


def run_trial(w: TrialWorker, trial: Any) -> None:
    """Run one trial in its version: train with the pruning callback, infer and evaluate, tell the study."""
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
    _record_result(w, trial, version_dir, callback, train_metrics, time.perf_counter() - started)


def _record_result(
    w: TrialWorker, trial: Any, version_dir: Path, callback: Any, train_metrics: Any, seconds: float
) -> None:
    """Tell the study a trial that ran to its end (pruned or complete), record it in the manifest, report it."""
    from optuna.trial import TrialState

    metric = w.section.metric
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


def _tell(w: TrialWorker, trial: Any, state: Any, value: float | None = None) -> None:
    import optuna

    try:
        if value is None:
            w.study.tell(trial, state=state)
        else:
            w.study.tell(trial, value, state=state)
    except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, ValueError) as exc:
        # Another worker took this trial for dead meanwhile (its heartbeat was late): say so, keep going.
        w.report(f"[search] trial {trial.number}: could not record {state.name.lower()}: {exc}")


def _trial_version(w: TrialWorker, trial: Any, params: dict[str, Any], retried: list[int]) -> Path:
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
